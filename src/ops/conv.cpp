// Host side of shaders/conv2d.comp: the three implicit-GEMM products of a convolution.
#include <algorithm>
#include <limits>

#include "ops/record.hpp"
#include "vkhalf/build_config.hpp"
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

// Three 4-D operands of one dtype.
void check_operands(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn, const Tensor& c,
                    const char* cn) {
    check_4d(op, a, an);
    check_4d(op, b, bn);
    check_4d(op, c, cn);
    check_same_dtype(op, a, b);
    check_same_dtype(op, a, c);
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

constexpr uint64_t kLoweredWorkspaceCap = 64ull << 20;

struct ImPush {
    uint32_t batch, cin, h, w, kh, kw, oh, ow, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

ImPush im_push(const ConvPush& c) {
    return {c.batch, c.cin, c.h, c.w, c.kh, c.kw, c.oh, c.ow, c.stride_h, c.stride_w, c.pad_h, c.pad_w, c.dil_h, c.dil_w};
}

// Whether this product runs lowered to GEMMs: asked for, or automatic on a CPU device with every
// workspace (the im2col, an fp32 column gradient or per-image weight gradients) under the cap.
bool lowered(ContextImpl& impl, const Conv2dParams& p, const ConvPush& c, DType dt) {
    if (p.algorithm == ConvAlgorithm::implicit_gemm) return false;
    const uint64_t k = uint64_t(c.cin) * c.kh * c.kw, cols = uint64_t(c.batch) * k * c.oh * c.ow;
    const uint64_t biggest = std::max({cols * dtype_size(dt), cols * 4, uint64_t(c.batch) * c.cout * k * 4});
    const bool fits = biggest <= std::min<uint64_t>(kLoweredWorkspaceCap, impl.caps.max_storage_buffer_range);
    if (p.algorithm == ConvAlgorithm::lowered_gemm) {
        if (!fits)
            throw LimitError("conv2d: the lowered algorithm needs a " + std::to_string(biggest >> 20) +
                             " MiB workspace, over its cap or the device's storage range; use implicit_gemm");
        return true;
    }
    const bool coopmat = dt == DType::f16 && VKHALF_COOPMAT_SHADERS_BUILT && impl.caps.supports(Variant::coopmat);
    return (impl.caps.is_cpu || coopmat) && fits;
}

// col [batch, cin*kh*kw, oh*ow] from x, or (col2im) dx from an fp32 dcol of that shape.
void record_im2col(CommandList& cl, ContextImpl& impl, bool to_image, const Tensor& src, Tensor& dst,
                   const ConvPush& c, Variant v) {
    const uint32_t wg = workgroup_size(impl.caps);
    const uint64_t pixels = to_image ? uint64_t(c.h) * c.w : uint64_t(c.oh) * c.ow;
    const uint64_t rows = to_image ? c.cin : uint64_t(c.cin) * c.kh * c.kw;
    const auto& limit = impl.caps.max_workgroup_count;  // rows and images stride past the limits
    const uint64_t grid[3] = {ceil_div(pixels, wg), std::min<uint64_t>(rows, limit[1]),
                              std::min<uint64_t>(c.batch, limit[2])};
    const bool strided = grid[1] < rows || grid[2] < c.batch;
    const auto& pipe = impl.pipelines->get(
        {module_name("im2col", v), 3, sizeof(ImPush), wg, {{1, to_image ? 1u : 0u}, {2, strided ? 1u : 0u}}});
    const ImPush push = im_push(c);
    const BufferAccess b[] = {read(src), read(src), write(dst)};
    cl.dispatch_grid(pipe, b, &push, sizeof(push), grid, to_image ? "col2im" : "im2col");
}

// The three products through im2col and the GEMM (ConvAlgorithm::lowered_gemm).
void record_lowered(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Tensor& dy, Tensor& out, const ConvPush& c, bool relu, const OpOptions& opt) {
    auto& impl = ctx.impl();
    const DType dt = out.dtype();
    const Variant v = resolve_variant("conv2d", impl.caps, dt, opt);
    const int64_t b = c.batch, k = int64_t(c.cin) * c.kh * c.kw, s = int64_t(c.oh) * c.ow, co = c.cout;
    GemmOptions g;
    // Convolutions compute in fp32 in every tier: f16a tensors go through the f16s GEMM (same
    // storage, fp32 products) rather than its fp16 multiplies; cooperative matrices multiply fp16
    // exactly into fp32 accumulators, so f16 tensors use them where the device has them.
    const bool coopmat = dt == DType::f16 && !opt.variant && VKHALF_COOPMAT_SHADERS_BUILT &&
                         impl.caps.supports(Variant::coopmat);
    g.variant = coopmat ? Variant::coopmat : v == Variant::f16a ? Variant::f16s : v;
    g.split_k = 1;
    const Tensor w2 = w.reinterpret({co, k}, w.dtype());
    if (mode == ConvMode::data_grad) {  // dcol = W^T dY per image, then col2im
        Tensor dcol = Tensor::empty(ctx, {b, k, s}, DType::f32);
        g.trans_a = true;
        record_gemm(cl, ctx, w2, dy.reinterpret({b, co, s}, dy.dtype()), dcol, g);
        record_im2col(cl, impl, true, dcol, out, c, v);
        cl.keep_alive(std::move(dcol));
        return;
    }
    Tensor col = Tensor::empty(ctx, {b, k, s}, dt);
    record_im2col(cl, impl, false, x, col, c, v);
    if (mode == ConvMode::forward) {  // y = W col per image (+ bias per output channel) (relu)
        g.bias = bias;
        g.bias_mode = BiasMode::per_row;
        g.relu = relu;
        Tensor y3 = out.reinterpret({b, co, s}, dt);
        record_gemm(cl, ctx, w2, col, y3, g);
    } else {  // dW = sum over images of dY col^T, the sum in fp32
        Tensor per_image = Tensor::empty(ctx, {b, co, k}, DType::f32);
        g.trans_b = true;
        record_gemm(cl, ctx, dy.reinterpret({b, co, s}, dy.dtype()), col, per_image, g);
        Tensor dw2 = out.reinterpret({co, k}, dt);
        record_partial_sum(cl, impl, v, per_image, dw2, uint32_t(b), uint32_t(co), uint32_t(k));
        cl.keep_alive(std::move(per_image));
    }
    cl.keep_alive(std::move(col));
}

// One of the three products, by the algorithm p asks for or the device suits.
void record_product(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w,
                    const Tensor* bias, const Tensor& dy, Tensor& out, const ConvPush& c, bool relu,
                    const Conv2dParams& p, const OpOptions& opt) {
    if (lowered(ctx.impl(), p, c, out.dtype()))
        record_lowered(cl, ctx, mode, x, w, bias, dy, out, c, relu, opt);
    else
        record_conv(cl, ctx, mode, x, w, bias, dy, out, c, relu, opt);
}

} // namespace

void record_conv2d(CommandList& cl, Context& ctx, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   const Conv2dParams& p, bool relu, const OpOptions& opt) {
    check_operands("conv2d", x, "x", w, "w", y, "y");
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
    record_product(cl, ctx, ConvMode::forward, x, w, bias, x, y, make_push(x.shape(), w.shape(), y.shape(), p), relu,
                   p, opt);
}

void record_conv2d_backward_data(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& w, Tensor& dx,
                                 const Conv2dParams& p, const OpOptions& opt) {
    check_operands("conv2d_backward_data", dy, "dy", w, "w", dx, "dx");
    const Shape want = conv2d_output_shape(dx.shape(), w.shape(), p);
    if (dy.shape() != want || dx.shape()[1] != w.shape()[1])
        throw ShapeError("conv2d_backward_data: dy " + to_string(dy.shape()) + " does not match dx " +
                         to_string(dx.shape()) + " and w " + to_string(w.shape()) + " (expected dy " +
                         to_string(want) + ")");
    record_product(cl, ctx, ConvMode::data_grad, dx, w, nullptr, dy, dx, make_push(dx.shape(), w.shape(), dy.shape(), p),
                   false, p, opt);
}

void record_conv2d_backward_weight(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw,
                                   const Conv2dParams& p, const OpOptions& opt) {
    check_operands("conv2d_backward_weight", dy, "dy", x, "x", dw, "dw");
    const Shape want = conv2d_output_shape(x.shape(), dw.shape(), p);
    if (dy.shape() != want)
        throw ShapeError("conv2d_backward_weight: dy " + to_string(dy.shape()) + " does not match x " +
                         to_string(x.shape()) + " and dw " + to_string(dw.shape()) + " (expected " + to_string(want) +
                         ")");
    record_product(cl, ctx, ConvMode::weight_grad, x, dw, nullptr, dy, dw, make_push(x.shape(), dw.shape(), dy.shape(), p),
                   false, p, opt);
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
