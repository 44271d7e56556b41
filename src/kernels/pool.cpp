// Host side of shaders/pool2d.comp: max and average pooling, forward and backward.
#include <limits>

#include "kernels/record.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace detail {

namespace {

enum class PoolMode : uint32_t { max_forward = 0, max_backward = 1, avg_forward = 2, avg_backward = 3 };

struct PoolPush {
    uint32_t planes, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w;
};

PoolPush make_push(const Shape& x, const Shape& y, const Pool2dParams& p) {
    return {uint32_t(x[0] * x[1]), uint32_t(x[2]), uint32_t(x[3]), uint32_t(y[2]),       uint32_t(y[3]),
            uint32_t(p.kh),        uint32_t(p.kw), uint32_t(p.stride_h), uint32_t(p.stride_w), uint32_t(p.pad_h),
            uint32_t(p.pad_w)};
}

// x: the input-shaped tensor, y: the output-shaped one (either may be a gradient).
void check_pool(const char* op, const Tensor& x, const Tensor& y, const Pool2dParams& p) {
    check_defined(op, x, "x");
    check_defined(op, y, "y");
    check_same_dtype(op, x, y);
    const Shape want = pool2d_output_shape(x.shape(), p);
    if (y.shape() != want)
        throw ShapeError(std::string(op) + ": output is " + to_string(y.shape()) + ", expected " + to_string(want) +
                         " for input " + to_string(x.shape()));
    if (x.numel() > std::numeric_limits<int32_t>::max()) throw LimitError(std::string(op) + ": input exceeds 2^31");
}

void record_pool(CommandList& cl, ContextImpl& ctx, PoolMode mode, const Tensor& src, Tensor& dst, const Tensor& argmax,
                 const PoolPush& push, const OpOptions& opt, bool argmax_written) {
    const Variant v = resolve_variant("pool2d", ctx.caps, src.dtype(), opt);
    const uint32_t wg = workgroup_size(ctx.caps);
    const bool tiled = push.kh == push.stride_h && push.kw == push.stride_w;
    const auto& pipe = ctx.pipelines->get({module_name("pool2d", v), 3, sizeof(PoolPush), wg,
                                           {{1, uint32_t(mode)}, {2, push.kh}, {3, push.kw}, {4, tiled}}});
    // argmax's binding is writable in the shader, so it counts as written whatever the mode does
    // (average pooling binds dst there).
    const BufferAccess b[] = {read(src), write(dst), argmax_written ? write(argmax) : read_write(argmax)};
    static const char* names[] = {"max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"};
    cl.dispatch(pipe, b, &push, sizeof(push), ceil_div(uint64_t(dst.numel()), wg), names[uint32_t(mode)]);
}

void check_argmax(const char* op, const Tensor& argmax, const Tensor& y) {
    check_defined(op, argmax, "argmax");
    if (argmax.dtype() != DType::u32 || argmax.shape() != y.shape())
        throw ShapeError(std::string(op) + ": argmax must be u32 " + to_string(y.shape()) + ", got " +
                         std::string(to_string(argmax.dtype())) + " " + to_string(argmax.shape()));
}

} // namespace

void record_max_pool2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, Tensor& argmax,
                       const Pool2dParams& p, const OpOptions& opt) {
    check_pool("max_pool2d", x, y, p);
    check_argmax("max_pool2d", argmax, y);
    record_pool(cl, ctx, PoolMode::max_forward, x, y, argmax, make_push(x.shape(), y.shape(), p), opt, true);
}

void record_max_pool2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, const Tensor& argmax, Tensor& dx,
                                const Pool2dParams& p, const OpOptions& opt) {
    check_pool("max_pool2d_backward", dx, dy, p);
    check_argmax("max_pool2d_backward", argmax, dy);
    record_pool(cl, ctx, PoolMode::max_backward, dy, dx, argmax, make_push(dx.shape(), dy.shape(), p), opt, false);
}

void record_avg_pool2d(CommandList& cl, ContextImpl& ctx, const Tensor& x, Tensor& y, const Pool2dParams& p,
                       const OpOptions& opt) {
    check_pool("avg_pool2d", x, y, p);
    record_pool(cl, ctx, PoolMode::avg_forward, x, y, y, make_push(x.shape(), y.shape(), p), opt, false);
}

void record_avg_pool2d_backward(CommandList& cl, ContextImpl& ctx, const Tensor& dy, Tensor& dx, const Pool2dParams& p,
                                const OpOptions& opt) {
    check_pool("avg_pool2d_backward", dx, dy, p);
    record_pool(cl, ctx, PoolMode::avg_backward, dy, dx, dx, make_push(dx.shape(), dy.shape(), p), opt, false);
}

} // namespace detail

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p) {
    if (x.size() != 4) throw ShapeError("pool2d: input must be 4-D (NCHW), got " + to_string(x));
    if (p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0 ||
        2 * p.pad_h > p.kh || 2 * p.pad_w > p.kw)
        throw ShapeError("pool2d: kernel and stride must be >= 1, padding at most half the kernel");
    const int64_t oh = (x[2] + 2 * p.pad_h - p.kh) / p.stride_h + 1, ow = (x[3] + 2 * p.pad_w - p.kw) / p.stride_w + 1;
    if (oh <= 0 || ow <= 0)
        throw ShapeError("pool2d: a " + std::to_string(p.kh) + "x" + std::to_string(p.kw) + " window does not fit " +
                         to_string(x));
    return {x[0], x[1], oh, ow};
}

} // namespace vkhalf
