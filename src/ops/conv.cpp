// Host side of shaders/conv2d.comp: the three implicit-GEMM products of a convolution.
#include <algorithm>
#include <limits>

#include "ops/record.hpp"
#include "vkhalf/conv.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {

namespace detail {

namespace {

enum class ConvMode : uint32_t { forward = 0, data_grad = 1, weight_grad = 2 };

struct ConvPush {
    uint32_t batch, cin, h, w, cout, kh, kw, oh, ow;
    uint32_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint32_t k_chunk;
};

// 4x4 register blocks, 16 x 4 invocations: a 16 x 64 tile of the implicit product.
constexpr uint32_t kTM = 4, kTN = 4, kWN = 16, kWM = 4;
constexpr uint64_t kMinKPerSplit = 256, kMaxSplits = 32;

uint32_t u32(int64_t v, const char* what) {
    if (v <= 0 || v > std::numeric_limits<int32_t>::max())
        throw LimitError(std::string("conv2d: ") + what + " = " + std::to_string(v) + " is out of range");
    return static_cast<uint32_t>(v);
}

void check_4d(const char* op, const Tensor& t, const char* name) {
    check_defined(op, t, name);
    if (t.shape().size() != 4)
        throw ShapeError(std::string(op) + ": " + name + " must be 4-D (NCHW), got " + to_string(t.shape()));
}

ConvPush make_push(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
    return {u32(x[0], "batch"),    u32(x[1], "in channels"), u32(x[2], "height"),  u32(x[3], "width"),
            u32(w[0], "out channels"), u32(w[2], "kernel height"), u32(w[3], "kernel width"), u32(y[2], "out height"),
            u32(y[3], "out width"), u32(p.stride_h, "stride"), u32(p.stride_w, "stride"), uint32_t(p.pad_h),
            uint32_t(p.pad_w), u32(p.dil_h, "dilation"), u32(p.dil_w, "dilation"), 0};
}

void record_conv(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w, const Tensor* bias,
                 const Tensor& dy, Tensor& out, const ConvPush& base, bool relu, const OpOptions& opt) {
    auto& impl = ctx.impl();
    const Variant v = resolve_variant("conv2d", impl.caps, out.dtype(), opt);
    ConvPush push = base;
    const uint64_t taps = uint64_t(push.kh) * push.kw;
    uint64_t m = 0, n = 0, k = 0;
    switch (mode) {
    case ConvMode::forward: m = push.cout, n = uint64_t(push.batch) * push.oh * push.ow, k = push.cin * taps; break;
    case ConvMode::data_grad: m = push.cin, n = uint64_t(push.batch) * push.h * push.w, k = push.cout * taps; break;
    case ConvMode::weight_grad: m = push.cout, n = push.cin * taps, k = uint64_t(push.batch) * push.oh * push.ow; break;
    }
    if (m * n > std::numeric_limits<int32_t>::max() || k > std::numeric_limits<int32_t>::max())
        throw LimitError("conv2d: the implicit product " + std::to_string(m) + " x " + std::to_string(n) + " x " +
                         std::to_string(k) + " exceeds 2^31");
    const uint64_t groups = ceil_div(m, kTM * kWM) * ceil_div(n, kTN * kWN);
    // The weight gradient has a small output and a long k (batch x space): split it by images.
    uint64_t splits = 1;
    if (mode == ConvMode::weight_grad) {
        const uint64_t target = impl.caps.is_cpu ? 8 : 256;
        if (groups < target && k >= 2 * kMinKPerSplit)
            splits = std::min<uint64_t>({ceil_div(target, groups), push.batch, kMaxSplits});
        push.k_chunk = static_cast<uint32_t>(ceil_div(push.batch, splits));  // images per split
        splits = ceil_div(push.batch, push.k_chunk);
    }
    const bool partial = splits > 1;
    Tensor workspace;
    if (partial) workspace = Tensor::empty(ctx, {int64_t(splits * m * n)}, DType::f32);
    const Pipeline& pipe = impl.pipelines->get(
        {module_name("conv2d", v), 6, sizeof(ConvPush), kWM * kWN,
         {{1, uint32_t(mode)}, {2, kTM}, {3, kTN}, {4, kWN}, {5, bias != nullptr}, {6, relu}, {7, partial},
          {8, push.stride_h == 1 && push.stride_w == 1}}});
    // Unused bindings get a tensor of the op (never read).
    const Tensor& in_x = mode == ConvMode::data_grad ? dy : x;
    const Tensor& in_w = mode == ConvMode::weight_grad ? dy : w;
    const Tensor& in_dy = mode == ConvMode::forward ? x : dy;
    const BufferAccess b[] = {read(in_x), read(in_w), read(in_dy), read(bias ? *bias : in_x),
                              partial ? read(out) : write(out), partial ? write(workspace) : read(in_x)};
    const uint64_t grid[3] = {ceil_div(n, kTN * kWN), ceil_div(m, kTM * kWM), splits};
    static const char* names[] = {"conv2d.forward", "conv2d.data_grad", "conv2d.weight_grad"};
    cl.dispatch_grid(pipe, b, &push, sizeof(push), grid, names[uint32_t(mode)]);
    if (partial) {
        Tensor flat = out.reinterpret({int64_t(m), int64_t(n)}, out.dtype());
        record_partial_sum(cl, impl, v, workspace, flat, uint32_t(splits), uint32_t(m), uint32_t(n));
        cl.keep_alive(std::move(workspace));
    }
}

} // namespace

void record_conv2d(CommandList& cl, Context& ctx, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   const Conv2dParams& p, bool relu, const OpOptions& opt) {
    check_4d("conv2d", x, "x");
    check_4d("conv2d", w, "w");
    check_4d("conv2d", y, "y");
    check_same_dtype("conv2d", x, w);
    check_same_dtype("conv2d", x, y);
    const Shape want = conv2d_output_shape(x.shape(), w.shape(), p);
    if (y.shape() != want)
        throw ShapeError("conv2d: y is " + to_string(y.shape()) + ", expected " + to_string(want) + " for x " +
                         to_string(x.shape()) + " and w " + to_string(w.shape()));
    if (bias) {
        check_same_dtype("conv2d", x, *bias);
        if (bias->shape() != Shape{w.shape()[0]})
            throw ShapeError("conv2d: bias must be [" + std::to_string(w.shape()[0]) + "], got " +
                             to_string(bias->shape()));
    }
    record_conv(cl, ctx, ConvMode::forward, x, w, bias, x, y, make_push(x.shape(), w.shape(), y.shape(), p), relu, opt);
}

void record_conv2d_backward_data(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& w, Tensor& dx,
                                 const Conv2dParams& p, const OpOptions& opt) {
    check_4d("conv2d_backward_data", dy, "dy");
    check_4d("conv2d_backward_data", w, "w");
    check_4d("conv2d_backward_data", dx, "dx");
    check_same_dtype("conv2d_backward_data", dy, w);
    check_same_dtype("conv2d_backward_data", dy, dx);
    const Shape want = conv2d_output_shape(dx.shape(), w.shape(), p);
    if (dy.shape() != want || dx.shape()[1] != w.shape()[1])
        throw ShapeError("conv2d_backward_data: dy " + to_string(dy.shape()) + " does not match dx " +
                         to_string(dx.shape()) + " and w " + to_string(w.shape()) + " (expected dy " +
                         to_string(want) + ")");
    record_conv(cl, ctx, ConvMode::data_grad, dx, w, nullptr, dy, dx, make_push(dx.shape(), w.shape(), dy.shape(), p),
                false, opt);
}

void record_conv2d_backward_weight(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw,
                                   const Conv2dParams& p, const OpOptions& opt) {
    check_4d("conv2d_backward_weight", dy, "dy");
    check_4d("conv2d_backward_weight", x, "x");
    check_4d("conv2d_backward_weight", dw, "dw");
    check_same_dtype("conv2d_backward_weight", dy, x);
    check_same_dtype("conv2d_backward_weight", dy, dw);
    const Shape want = conv2d_output_shape(x.shape(), dw.shape(), p);
    if (dy.shape() != want)
        throw ShapeError("conv2d_backward_weight: dy " + to_string(dy.shape()) + " does not match x " +
                         to_string(x.shape()) + " and dw " + to_string(dw.shape()) + " (expected " + to_string(want) +
                         ")");
    record_conv(cl, ctx, ConvMode::weight_grad, x, dw, nullptr, dy, dw, make_push(x.shape(), dw.shape(), dy.shape(), p),
                false, opt);
}

} // namespace detail

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
    if (x.size() != 4 || w.size() != 4)
        throw ShapeError("conv2d: x and w must be 4-D, got " + to_string(x) + " and " + to_string(w));
    if (x[1] != w[1])
        throw ShapeError("conv2d: x has " + std::to_string(x[1]) + " channels, w expects " + std::to_string(w[1]) +
                         " (x " + to_string(x) + ", w " + to_string(w) + ")");
    if (p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1 || p.pad_h < 0 || p.pad_w < 0)
        throw ShapeError("conv2d: strides and dilations must be >= 1 and padding >= 0");
    const int64_t oh = (x[2] + 2 * p.pad_h - p.dil_h * (w[2] - 1) - 1) / p.stride_h + 1;
    const int64_t ow = (x[3] + 2 * p.pad_w - p.dil_w * (w[3] - 1) - 1) / p.stride_w + 1;
    if (oh <= 0 || ow <= 0)
        throw ShapeError("conv2d: kernel " + to_string(w) + " does not fit input " + to_string(x) + " (output " +
                         std::to_string(oh) + " x " + std::to_string(ow) + ")");
    return {x[0], w[0], oh, ow};
}

void conv2d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const Conv2dParams& p,
            bool relu, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_conv2d(cl, ctx, x, w, bias, y, p, relu, opt);
    cl.submit_and_wait();
}

void conv2d_backward_data(Context& ctx, const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p,
                          OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_conv2d_backward_data(cl, ctx, dy, w, dx, p, opt);
    cl.submit_and_wait();
}

void conv2d_backward_weight(Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p,
                            OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_conv2d_backward_weight(cl, ctx, dy, x, dw, p, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
