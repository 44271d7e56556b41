// Host side of shaders/layer_norm.comp.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/norm.hpp"

namespace vkhalf {

namespace detail {

namespace {

struct LnPush {
    uint32_t rows, d;
    float eps;
};

LnPush check_ln(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& stats) {
    check_defined(op, x, "x");
    check_defined(op, gamma, "gamma");
    check_defined(op, stats, "stats");
    if (x.shape().empty()) throw ShapeError(std::string(op) + ": x needs at least one dimension");
    const int64_t d = x.shape().back(), rows = x.numel() / d;
    if (gamma.shape() != Shape{d})
        throw ShapeError(std::string(op) + ": gamma must be [" + std::to_string(d) + "] for x " + to_string(x.shape()) +
                         ", got " + to_string(gamma.shape()));
    if (stats.dtype() != DType::f32 || stats.numel() != 2 * rows)
        throw ShapeError(std::string(op) + ": stats must be f32 with " + std::to_string(2 * rows) + " elements");
    check_same_dtype(op, x, gamma);
    if (x.numel() > std::numeric_limits<int32_t>::max()) throw LimitError(std::string(op) + ": x exceeds 2^31 elements");
    return {uint32_t(rows), uint32_t(d), 0.0f};
}

const Pipeline& ln_pipeline(ContextImpl& ctx, Variant v, uint32_t mode, uint32_t wg, ParamGradAccumulate acc = {}) {
    const bool per_invocation = mode != 2 && ctx.caps.barrier_free_kernels;
    return ctx.pipelines->get({module_name("layer_norm", v), 8, sizeof(LnPush), wg,
                               {{1, mode}, {2, per_invocation}, {3, acc.dgamma}, {4, acc.dbeta}}});
}

// Workgroups for the row passes: one per row, or one invocation per row.
uint64_t row_groups(const ContextImpl& ctx, uint32_t rows, uint32_t wg) {
    return ctx.caps.barrier_free_kernels ? ceil_div(uint64_t(rows), wg) : rows;
}

} // namespace

void record_layer_norm(CommandList& cl, ContextImpl& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       Tensor& y, Tensor& stats, float eps, const OpOptions& opt) {
    LnPush push = check_ln("layer_norm", x, gamma, stats);
    check_same_shape("layer_norm", gamma, beta);
    check_same_shape("layer_norm", x, y);
    check_same_dtype("layer_norm", x, y);
    push.eps = eps;
    const Variant v = resolve_variant("layer_norm", ctx.caps, x.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    // Bindings 2, 6, 7 belong to the backward: stand-ins, unused. 6 and 7 are writable in the
    // shader, so they count as writes (the barrier tracking then agrees with the validation layer).
    const BufferAccess b[] = {read(x),    write(y),     read(x),           read(gamma),
                              read(beta), write(stats), read_write(gamma), read_write(beta)};
    cl.dispatch(ln_pipeline(ctx, v, 0, wg), b, &push, sizeof(push), row_groups(ctx, push.rows, wg), "layer_norm");
}

void record_layer_norm_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& x,
                                const Tensor& gamma, const Tensor& stats, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                                const OpOptions& opt, ParamGradAccumulate acc) {
    const LnPush push = check_ln("layer_norm_backward", x, gamma, stats);
    check_same_shape("layer_norm_backward", x, dy);
    check_same_shape("layer_norm_backward", x, dx);
    check_same_shape("layer_norm_backward", gamma, dgamma);
    check_same_shape("layer_norm_backward", gamma, dbeta);
    check_same_dtype("layer_norm_backward", x, dy);
    check_same_dtype("layer_norm_backward", x, dx);
    const Variant v = resolve_variant("layer_norm_backward", ctx.caps, x.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const BufferAccess rows[] = {read(x),     write(dx),          read(dy),          read(gamma),
                                 read(gamma), read_write(stats),  read_write(dgamma), read_write(dbeta)};
    cl.dispatch(ln_pipeline(ctx, v, 1, wg), rows, &push, sizeof(push), row_groups(ctx, push.rows, wg), "layer_norm.dx");
    const BufferAccess cols[] = {read(x),     read_write(dx), read(dy), read(gamma),
                                 read(gamma), read_write(stats), acc.dgamma ? read_write(dgamma) : write(dgamma),
                                 acc.dbeta ? read_write(dbeta) : write(dbeta)};
    cl.dispatch(ln_pipeline(ctx, v, 2, wg, acc), cols, &push, sizeof(push), ceil_div(push.d, wg),
                "layer_norm.dparams");
}

} // namespace detail

void layer_norm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& stats,
                float eps, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_layer_norm(cl, ctx.impl(), x, gamma, beta, y, stats, eps, opt);
    cl.submit_and_wait();
}

void layer_norm_backward(Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stats,
                         Tensor& dx, Tensor& dgamma, Tensor& dbeta, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_layer_norm_backward(cl, ctx.impl(), dy, x, gamma, stats, dx, dgamma, dbeta, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
