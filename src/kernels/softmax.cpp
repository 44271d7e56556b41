// Host side of shaders/softmax.comp: softmax and log-softmax over the last axis, and their
// gradients from the forward's output.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

struct SoftmaxPush {
    uint32_t rows, cols, rows_per;
};

} // namespace

void record_softmax(CommandList& cl, ContextImpl& ctx, SoftmaxKind kind, bool backward, const Tensor& x_or_y,
                    const Tensor* dy, Tensor& out, const OpOptions& opt) {
    const char* op = backward ? "softmax_backward" : "softmax";
    check_defined(op, x_or_y, "x");
    check_defined(op, out, "out");
    check_same_dtype(op, x_or_y, out);
    check_same_shape(op, x_or_y, out);
    if (backward) {
        if (!dy) throw Error("internal: softmax_backward without dy");
        check_same_dtype(op, x_or_y, *dy);
        check_same_shape(op, x_or_y, *dy);
    }
    const Shape& s = x_or_y.shape();
    if (s.empty() || x_or_y.dtype() == DType::u32)
        throw ShapeError(std::string(op) + ": a float tensor of at least one dimension, got " + to_string(s));
    if (x_or_y.numel() > std::numeric_limits<int32_t>::max()) throw LimitError(std::string(op) + ": more than 2^31 elements");
    const bool causal = kind == SoftmaxKind::causal_softmax;
    if (causal && (s.size() < 2 || s[s.size() - 2] != s.back()))
        throw ShapeError(std::string(op) + ": a causal mask needs square trailing dimensions [.., T, T], got " +
                         to_string(s));
    const int64_t cols = s.back(), rows = x_or_y.numel() / std::max<int64_t>(cols, 1);
    const uint32_t mode = (kind == SoftmaxKind::log_softmax ? 1u : 0u) + (backward ? 2u : 0u);
    const Variant v = resolve_variant(op, ctx.caps, out.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const Pipeline& p =
        ctx.pipelines->get({module_name("softmax", v), 3, sizeof(SoftmaxPush), wg, {{1, mode}, {2, causal}}});
    const SoftmaxPush push{uint32_t(rows), uint32_t(cols), uint32_t(causal ? s[s.size() - 2] : 1)};
    const BufferAccess buffers[] = {read(x_or_y), read(dy ? *dy : x_or_y), write(out)};
    cl.dispatch(p, buffers, &push, sizeof(push), ceil_div(uint64_t(rows), wg), op);
}

} // namespace vkhalf::detail
