// Host side of shaders/batch_norm.comp.
#include <algorithm>
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/norm.hpp"

namespace vkhalf {

BatchNormStats BatchNormStats::create(Context& ctx, int64_t channels) {
    if (channels <= 0) throw ShapeError("BatchNormStats: channels must be positive");
    const int64_t align = std::max<int64_t>(16, int64_t(ctx.caps().min_storage_offset_alignment)) / 4;
    BatchNormStats s;
    s.channels = channels;
    s.stride = (channels + align - 1) / align * align;
    std::vector<float> init(static_cast<std::size_t>(4 * s.stride), 0.0f);
    std::fill(init.begin() + 3 * s.stride, init.end(), 1.0f);  // running variance 1
    s.data = Tensor::from_floats(ctx, {4 * s.stride}, DType::f32, init);
    return s;
}

namespace detail {

namespace {

struct BnPush {
    uint32_t batch, channels, spatial, stride;
    float eps, momentum;
};

BnPush check_bn(const char* op, const Tensor& x, const Tensor& gamma, const BatchNormStats& stats) {
    check_defined(op, x, "x");
    if (x.shape().size() != 4) throw ShapeError(std::string(op) + ": x must be NCHW, got " + to_string(x.shape()));
    const int64_t c = x.shape()[1];
    if (gamma.shape() != Shape{c} || stats.channels != c)
        throw ShapeError(std::string(op) + ": gamma/beta/statistics must have " + std::to_string(c) + " channels, got " +
                         to_string(gamma.shape()) + " and " + std::to_string(stats.channels));
    check_same_dtype(op, x, gamma);
    if (x.numel() > std::numeric_limits<int32_t>::max()) throw LimitError(std::string(op) + ": x exceeds 2^31 elements");
    return {uint32_t(x.shape()[0]), uint32_t(c), uint32_t(x.shape()[2] * x.shape()[3]), uint32_t(stats.stride), 0, 0};
}

void dispatch_bn(CommandList& cl, ContextImpl& ctx, uint32_t mode, const BnPush& push, Variant v,
                 std::span<const BufferAccess> b, ParamGradAccumulate acc = {}) {
    const uint32_t wg = workgroup_size(ctx.caps);
    const auto& pipe = ctx.pipelines->get(
        {module_name("batch_norm", v), 8, sizeof(BnPush), wg, {{1, mode}, {3, acc.dgamma}, {4, acc.dbeta}}});
    static const char* names[] = {"batch_norm.train", "batch_norm.eval", "batch_norm.backward"};
    const uint64_t grid[3] = {push.channels, 1, 1};
    cl.dispatch_grid(pipe, b, &push, sizeof(push), grid, names[mode]);
}

} // namespace

void record_batch_norm2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         BatchNormStats& stats, Tensor& y, bool training, const BatchNormParams& p,
                         const OpOptions& opt) {
    BnPush push = check_bn("batch_norm2d", x, gamma, stats);
    check_same_shape("batch_norm2d", gamma, beta);
    check_same_shape("batch_norm2d", x, y);
    check_same_dtype("batch_norm2d", x, y);
    push.eps = p.eps;
    push.momentum = p.momentum;
    const Variant v = resolve_variant("batch_norm2d", ctx.caps, x.dtype(), opt);
    // Bindings 2, 6, 7 (dy, dgamma, dbeta) are the backward's: x and the parameters stand in,
    // unused. 5, 6 and 7 are writable in the shader, so stand-ins there count as writes: the
    // barrier tracking then orders them as the validation layer does.
    const BufferAccess b[] = {read(x),    write(y),          read(x),           read(gamma),
                              read(beta), read_write(stats.data), read_write(gamma), read_write(beta)};
    dispatch_bn(cl, ctx, training ? 0u : 1u, push, v, b);
}

void record_batch_norm2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& x,
                                  const Tensor& gamma, const BatchNormStats& stats, Tensor& dx, Tensor& dgamma,
                                  Tensor& dbeta, const BatchNormParams& p, const OpOptions& opt,
                                  ParamGradAccumulate acc) {
    BnPush push = check_bn("batch_norm2d_backward", x, gamma, stats);
    check_same_shape("batch_norm2d_backward", x, dy);
    check_same_shape("batch_norm2d_backward", x, dx);
    check_same_shape("batch_norm2d_backward", gamma, dgamma);
    check_same_shape("batch_norm2d_backward", gamma, dbeta);
    check_same_dtype("batch_norm2d_backward", x, dy);
    check_same_dtype("batch_norm2d_backward", x, dx);
    push.eps = p.eps;
    push.momentum = p.momentum;
    const Variant v = resolve_variant("batch_norm2d_backward", ctx.caps, x.dtype(), opt);
    const BufferAccess b[] = {read(x),
                              write(dx),
                              read(dy),
                              read(gamma),
                              read(gamma),
                              read_write(stats.data),  // writable in the shader
                              acc.dgamma ? read_write(dgamma) : write(dgamma),
                              acc.dbeta ? read_write(dbeta) : write(dbeta)};
    dispatch_bn(cl, ctx, 2u, push, v, b, acc);
}

} // namespace detail

void batch_norm2d(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormStats& stats,
                  Tensor& y, bool training, BatchNormParams p, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_batch_norm2d(cl, ctx.impl(), x, gamma, beta, stats, y, training, p, opt);
    cl.submit_and_wait();
}

void batch_norm2d_backward(Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                           const BatchNormStats& stats, Tensor& dx, Tensor& dgamma, Tensor& dbeta, BatchNormParams p,
                           OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_batch_norm2d_backward(cl, ctx.impl(), dy, x, gamma, stats, dx, dgamma, dbeta, p, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
