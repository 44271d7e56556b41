// Host side of shaders/conv2d.comp: the three implicit-GEMM products of a convolution.
#include <algorithm>
#include <limits>

#include "kernels/record.hpp"
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
    uint32_t groups, splits;  // cin and cout above are per group; splits: the weight gradient's per group
    uint32_t group_z0;        // z workgroups run as several dispatches past the device's limit
    uint32_t group_x0;  // set by CommandList::dispatch_tiles
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

// Channel counts per group (the shapes were checked by conv2d_output_shape).
ConvPush make_push(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
    return {u32(x[0], "batch"),    u32(w[1], "in channels"), u32(x[2], "height"),  u32(x[3], "width"),
            u32(w[0] / p.groups, "out channels"), u32(w[2], "kernel height"), u32(w[3], "kernel width"),
            u32(y[2], "out height"), u32(y[3], "out width"), u32(p.stride_h, "stride"), u32(p.stride_w, "stride"),
            uint32_t(p.pad_h), uint32_t(p.pad_w), u32(p.dil_h, "dilation"), u32(p.dil_w, "dilation"), 0,
            u32(p.groups, "groups"), 1, 0, 0};
}

void record_conv(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w, const Tensor* bias,
                 const Tensor& dy, Tensor& out, const ConvPush& base, bool relu, bool accumulate,
                 const OpOptions& opt) {
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
    // m and n are one group's; workgroup z runs the groups.
    const uint64_t workgroups = ceil_div(m, kTM * kWM) * ceil_div(n, kTN * kWN) * push.groups;
    // The weight gradient has a small output and a long k (batch x space): split it by images.
    uint64_t splits = 1;
    if (mode == ConvMode::weight_grad) {
        const uint64_t target = impl.caps.is_cpu ? 8 : 256;
        if (workgroups < target && k >= 2 * kMinKPerSplit)
            splits = std::min<uint64_t>({ceil_div(target, workgroups), push.batch, kMaxSplits});
        push.k_chunk = static_cast<uint32_t>(ceil_div(push.batch, splits));  // images per split
        splits = ceil_div(push.batch, push.k_chunk);
        push.splits = static_cast<uint32_t>(splits);
    }
    const uint64_t depth = splits * push.groups;  // workgroups along z
    const uint64_t m_all = m * push.groups;  // rows over every group
    // Accumulating goes through the split-K sum (one split or more), which adds out: the kernel
    // itself only stores.
    const bool partial = splits > 1 || accumulate;
    Tensor workspace;
    if (partial) workspace = cl.workspace(ctx, {int64_t(splits * m_all * n)}, DType::f32);
    const Pipeline& pipe = impl.pipelines->get(
        {module_name("conv2d", v), 6, sizeof(ConvPush), kWM * kWN,
         {{1, uint32_t(mode)}, {2, kTM}, {3, kTN}, {4, kWN}, {5, bias != nullptr}, {6, relu}, {7, partial},
          {8, push.stride_h == 1 && push.stride_w == 1}}});
    // Unused bindings get a tensor of the op (never touched). The partials binding is writable in
    // the shader, and the synchronization validation counts a writable binding as written whether
    // or not the specialised shader writes it: unused, it gets out, which this dispatch does write.
    const Tensor& in_x = mode == ConvMode::data_grad ? dy : x;
    const Tensor& in_w = mode == ConvMode::weight_grad ? dy : w;
    const Tensor& in_dy = mode == ConvMode::forward ? x : dy;
    const BufferAccess b[] = {read(in_x), read(in_w), read(in_dy), read(bias ? *bias : in_x),
                              write(out), partial ? write(workspace) : write(out)};
    static const char* names[] = {"conv2d.forward", "conv2d.data_grad", "conv2d.weight_grad"};
    const uint64_t z_limit = impl.caps.max_workgroup_count[2];
    for (uint64_t z0 = 0; z0 < depth; z0 += z_limit) {
        push.group_z0 = static_cast<uint32_t>(z0);
        const uint64_t grid[3] = {ceil_div(n, kTN * kWN), ceil_div(m, kTM * kWM), std::min(z_limit, depth - z0)};
        cl.dispatch_tiles(pipe, b, &push, sizeof(push), grid, names[uint32_t(mode)]);
    }
    if (partial) {
        Tensor flat = out.reinterpret({int64_t(m_all), int64_t(n)}, out.dtype());
        record_partial_sum(cl, impl, v, workspace, flat, uint32_t(splits), uint32_t(m_all), uint32_t(n),
                           accumulate ? 1.0f : 0.0f);
    }
}

constexpr uint64_t kLoweredWorkspaceCap = 64ull << 20;

struct ImPush {
    uint32_t batch, cin, h, w, kh, kw, oh, ow, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    uint32_t image_stride, row_stride;
};

// The lowered products' operand layouts. Rows of the column matrices start on multiples of 4 so
// that the register-blocked GEMM reads them four at a time (its fast path; an odd pixel count,
// 11 x 11 in the sample CNN, would otherwise put every product on the scalar path):
//   forward      per image:         col [b, k, pitch(s)]  times W [co, k], into y [b, co, s]
//   data grad    images side by side: dcol [k, pitch(b s)] = W^T dY, dY as [co, pitch(b s)]
//   weight grad  images side by side: dW = dY [co, pitch(b s)] col^T [k, pitch(b s)], one
//                product whose long reduction (b s) the GEMM splits and sums in fp32
// with k = cin kh kw and s = oh ow.
struct Lowering {
    uint64_t k, s, pitch_s, pitch_bs;
};

Lowering lowering_of(const ConvPush& c) {
    Lowering l;
    l.k = uint64_t(c.cin) * c.kh * c.kw;
    l.s = uint64_t(c.oh) * c.ow;
    l.pitch_s = ceil_div(l.s, 4) * 4;
    l.pitch_bs = ceil_div(l.s * c.batch, 4) * 4;
    return l;
}

// Whether this product runs lowered to GEMMs: asked for (ConvAlgorithm::lowered_gemm, or the
// coopmat variant, which has no implicit form), or automatic where the GEMM is fast (a CPU device,
// or f16 on cooperative matrices by the device's policy) with every workspace under the cap.
bool lowered(ContextImpl& impl, ConvMode mode, const Conv2dParams& p, const ConvPush& c, DType dt,
             const OpOptions& opt) {
    const bool force_coopmat = opt.variant == Variant::coopmat;
    if (force_coopmat && dt != DType::f16) throw DTypeError("conv2d: the coopmat variant needs f16 tensors");
    if (c.groups > 1) {
        if (force_coopmat || p.algorithm == ConvAlgorithm::lowered_gemm)
            throw UnsupportedError("conv2d: a grouped convolution runs as implicit_gemm only (no lowered form, so "
                                   "no coopmat variant)");
        return false;
    }
    if (p.algorithm == ConvAlgorithm::implicit_gemm) {
        if (force_coopmat)
            throw UnsupportedError("conv2d: the coopmat variant runs lowered to the GEMM, not as implicit_gemm");
        return false;
    }
    const Lowering l = lowering_of(c);
    const uint64_t esize = dtype_size(dt);
    uint64_t biggest = 0;  // the largest workspace of this product
    switch (mode) {
    case ConvMode::forward: biggest = c.batch * l.k * l.pitch_s * esize; break;
    case ConvMode::data_grad: biggest = std::max(l.k * l.pitch_bs * 4, c.cout * l.pitch_bs * esize); break;
    case ConvMode::weight_grad: biggest = std::max(l.k, uint64_t(c.cout)) * l.pitch_bs * esize; break;
    }
    const bool fits = biggest <= std::min<uint64_t>(kLoweredWorkspaceCap, impl.caps.max_storage_buffer_range);
    if (p.algorithm == ConvAlgorithm::lowered_gemm || force_coopmat) {
        if (!fits)
            throw LimitError("conv2d: the lowered algorithm needs a " + std::to_string(biggest >> 20) +
                             " MiB workspace, over its cap or the device's storage range; use implicit_gemm");
        return true;
    }
    // Lowered where the GEMM is fast: on CPU devices (register blocks) and where f16 products
    // run on cooperative matrices (the device's GEMM policy).
    const bool coopmat = dt == DType::f16 && impl.caps.gemm_f16 == GemmKernel::coopmat;
    return (impl.caps.is_cpu || coopmat) && fits;
}

// col (b, k, p) at b * image_stride + k * row_stride + p from x, or (col2im) dx from an fp32
// dcol laid out so. With a 1x1 kernel, c describing dY, it lays dY out as a column matrix.
void record_im2col(CommandList& cl, ContextImpl& impl, bool to_image, const Tensor& src, Tensor& dst,
                   const ConvPush& c, Variant v, uint64_t image_stride, uint64_t row_stride) {
    const uint32_t wg = workgroup_size(impl.caps);
    const uint64_t pixels = uint64_t(c.batch) * (to_image ? uint64_t(c.h) * c.w : uint64_t(c.oh) * c.ow);
    const auto& limit = impl.caps.max_workgroup_count;  // pixels and channels stride past the limits
    const uint64_t grid[3] = {std::min<uint64_t>(ceil_div(pixels, wg), limit[0]), std::min<uint64_t>(c.cin, limit[1]),
                              1};
    const bool strided = grid[0] * wg < pixels || grid[1] < c.cin;
    const bool unit_stride = c.stride_h == 1 && c.stride_w == 1;
    const auto& pipe = impl.pipelines->get({module_name("im2col", v), 3, sizeof(ImPush), wg,
                                            {{1, to_image ? 1u : 0u}, {2, strided ? 1u : 0u}, {3, unit_stride}, {4, c.kh}, {5, c.kw}}});
    const ImPush push{c.batch,    c.cin,      c.h,        c.w,        c.kh,     c.kw,
                      c.oh,       c.ow,       c.stride_h, c.stride_w, c.pad_h,  c.pad_w,
                      c.dil_h,    c.dil_w,    u32(int64_t(image_stride), "column image stride"),
                      u32(int64_t(row_stride), "column row stride")};
    const BufferAccess b[] = {read(src), read(src), write(dst)};
    cl.dispatch_grid(pipe, b, &push, sizeof(push), grid, to_image ? "col2im" : "im2col");
}

// dY [b, co, oh, ow] as the column matrix [co, pitch_bs] (images side by side).
Tensor relayout_dy(CommandList& cl, Context& ctx, const Tensor& dy, const ConvPush& c, const Lowering& l,
                   Variant v) {
    Tensor dyt = cl.workspace(ctx, {int64_t(c.cout), int64_t(l.pitch_bs)}, dy.dtype());
    ConvPush one = c;  // a 1x1 kernel over dY
    one.cin = c.cout, one.h = c.oh, one.w = c.ow, one.kh = one.kw = 1;
    one.stride_h = one.stride_w = one.dil_h = one.dil_w = 1, one.pad_h = one.pad_w = 0;
    record_im2col(cl, ctx.impl(), false, dy, dyt, one, v, l.s, l.pitch_bs);
    return dyt;
}

// The three products through im2col and the GEMM (ConvAlgorithm::lowered_gemm), laid out as
// `Lowering` says.
void record_lowered(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Tensor& dy, Tensor& out, const ConvPush& c, bool relu, bool accumulate,
                    const OpOptions& opt) {
    auto& impl = ctx.impl();
    const DType dt = out.dtype();
    // Forced coopmat: the GEMMs on cooperative matrices, im2col/col2im in the f16s tier.
    const bool force_coopmat = opt.variant == Variant::coopmat;
    const Variant v = resolve_variant("conv2d", impl.caps, dt, force_coopmat ? OpOptions{Variant::f16s} : opt);
    const Lowering l = lowering_of(c);
    const uint32_t k = uint32_t(l.k), s = uint32_t(l.s), co = c.cout;
    const uint32_t pitch_s = u32(int64_t(l.pitch_s), "column pitch"), pitch_bs = u32(int64_t(l.pitch_bs), "column pitch");
    GemmOptions g;
    // Convolutions compute in fp32 in every tier: f16a tensors go through the f16s GEMM (same
    // storage, fp32 products) rather than its fp16 multiplies. Cooperative matrices multiply fp16
    // exactly into fp32 accumulators: f16 tensors use them where the GEMM policy does.
    const bool coopmat = force_coopmat || (dt == DType::f16 && !opt.variant && impl.caps.gemm_f16 == GemmKernel::coopmat);
    if (coopmat) {
        g.variant = Variant::coopmat;
    } else {
        g.variant = v == Variant::f16a ? Variant::f16s : v;
        g.kernel = impl.caps.gemm_f32;  // the portable kernel of the policy
    }
    GemmShape gs;
    if (mode == ConvMode::forward) {  // y = W col per image (+ bias per output channel) (relu)
        Tensor col = cl.workspace(ctx, {int64_t(c.batch), int64_t(k), int64_t(pitch_s)}, dt);
        record_im2col(cl, impl, false, x, col, c, v, uint64_t(k) * pitch_s, pitch_s);
        g.bias = bias;
        g.bias_mode = BiasMode::per_row;
        g.relu = relu;
        g.split_k = 1;  // a product per image gives workgroups enough
        gs.m = co, gs.n = s, gs.k = k, gs.batch = c.batch;
        gs.lda = k, gs.ldb = pitch_s, gs.ldc = s;
        gs.stride_a = 0, gs.stride_b = k * pitch_s, gs.stride_c = co * s;
        record_gemm_strided(cl, ctx, w, col, out, g, gs);
        return;
    }
    Tensor dyt = relayout_dy(cl, ctx, dy, c, l, v);
    const uint32_t bs = c.batch * s;
    if (mode == ConvMode::data_grad) {  // dcol = W^T dY, then col2im
        Tensor dcol = cl.workspace(ctx, {int64_t(k), int64_t(pitch_bs)}, DType::f32);
        g.trans_a = true;
        gs.m = k, gs.n = bs, gs.k = co, gs.lda = k, gs.ldb = pitch_bs, gs.ldc = pitch_bs;
        record_gemm_strided(cl, ctx, w, dyt, dcol, g, gs);
        record_im2col(cl, impl, true, dcol, out, c, v, s, pitch_bs);
    } else {  // dW = dY col^T over every image at once, split along b s and summed in fp32
        Tensor col = cl.workspace(ctx, {int64_t(k), int64_t(pitch_bs)}, dt);
        record_im2col(cl, impl, false, x, col, c, v, s, pitch_bs);
        g.trans_b = true;
        g.beta = accumulate ? 1.0f : 0.0f;
        gs.m = co, gs.n = k, gs.k = bs, gs.lda = pitch_bs, gs.ldb = pitch_bs, gs.ldc = k;
        record_gemm_strided(cl, ctx, dyt, col, out, g, gs);
    }
}

// One of the three products, by the algorithm p asks for or the device suits.
// accumulate (weight gradient only): out += the product.
void record_product(CommandList& cl, Context& ctx, ConvMode mode, const Tensor& x, const Tensor& w,
                    const Tensor* bias, const Tensor& dy, Tensor& out, const ConvPush& c, bool relu,
                    const Conv2dParams& p, const OpOptions& opt, bool accumulate = false) {
    if (lowered(ctx.impl(), mode, p, c, out.dtype(), opt))
        record_lowered(cl, ctx, mode, x, w, bias, dy, out, c, relu, accumulate, opt);
    else
        record_conv(cl, ctx, mode, x, w, bias, dy, out, c, relu, accumulate, opt);
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
    if (dy.shape() != want)
        throw ShapeError("conv2d_backward_data: dy " + to_string(dy.shape()) + " does not match dx " +
                         to_string(dx.shape()) + " and w " + to_string(w.shape()) + " (expected dy " +
                         to_string(want) + ")");
    record_product(cl, ctx, ConvMode::data_grad, dx, w, nullptr, dy, dx, make_push(dx.shape(), w.shape(), dy.shape(), p),
                   false, p, opt);
}

void record_conv2d_backward_weight(CommandList& cl, Context& ctx, const Tensor& dy, const Tensor& x, Tensor& dw,
                                   const Conv2dParams& p, const OpOptions& opt, bool accumulate) {
    check_operands("conv2d_backward_weight", dy, "dy", x, "x", dw, "dw");
    const Shape want = conv2d_output_shape(x.shape(), dw.shape(), p);
    if (dy.shape() != want)
        throw ShapeError("conv2d_backward_weight: dy " + to_string(dy.shape()) + " does not match x " +
                         to_string(x.shape()) + " and dw " + to_string(dw.shape()) + " (expected " + to_string(want) +
                         ")");
    record_product(cl, ctx, ConvMode::weight_grad, x, dw, nullptr, dy, dw, make_push(x.shape(), dw.shape(), dy.shape(), p),
                   false, p, opt, accumulate);
}

} // namespace detail

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
    if (x.size() != 4 || w.size() != 4)
        throw ShapeError("conv2d: x and w must be 4-D, got " + to_string(x) + " and " + to_string(w));
    if (p.groups < 1 || w[0] % p.groups != 0)
        throw ShapeError("conv2d: " + std::to_string(p.groups) + " groups do not divide the " + std::to_string(w[0]) +
                         " output channels of w " + to_string(w));
    if (x[1] != w[1] * p.groups)
        throw ShapeError("conv2d: x has " + std::to_string(x[1]) + " channels, w expects " + std::to_string(w[1]) +
                         (p.groups > 1 ? " per group x " + std::to_string(p.groups) + " groups" : std::string()) +
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
