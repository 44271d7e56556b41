// Host side of the GEMM kernels: gemm_tiled.comp (GPUs), gemm_regblock.comp (CPU devices),
// gemm_coopmat.comp (VK_KHR_cooperative_matrix), gemm_splitk_reduce.comp, bias_grad.comp.
#include "kernels/gemm.hpp"
#include "kernels/record.hpp"

#include <algorithm>
#include <limits>
#include <span>

#include "runtime/kernel_policy.hpp"
#include "vkhalf/build_config.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

namespace {

// Must match `Push` in shaders/gemm_common.glsl.
struct GemmPush {
    uint32_t m, n, k;
    uint32_t lda, ldb, ldc;
    uint32_t stride_a, stride_b, stride_c;
    uint32_t batch;
    uint32_t k_chunk;
    uint32_t splits;
    float alpha, beta;
    uint32_t group_x0;  // set by CommandList::dispatch_tiles
};

constexpr uint32_t kMaxSplits = 32;
constexpr uint32_t kMinKPerSplit = 128;

uint32_t checked_u32(int64_t v, const char* what) {
    if (v > std::numeric_limits<int32_t>::max())
        throw LimitError(std::string("gemm: ") + what + " = " + std::to_string(v) + " exceeds 2^31");
    return static_cast<uint32_t>(v);
}

std::string shapes_text(const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& o) {
    return "A " + to_string(a.shape()) + (o.trans_a ? "^T" : "") + ", B " + to_string(b.shape()) +
           (o.trans_b ? "^T" : "") + ", C " + to_string(c.shape());
}

void plan_tile(const DeviceCaps& caps, const GemmShape& s, GemmPlan& p) {
    struct Tile {
        uint32_t bm, bn, bk, tm, tn;
    };
    // Measured on lavapipe (Mesa 25, 2 cores; vkhalf-bench gemm, 1024^3): aligned operands read
    // four-wide with op(A) shared across the subgroup run best with 32x8 blocks (65-69 GFLOP/s;
    // 16x8: 52-61, 8x8: 38-48; 64x8 spills registers: 22). Unaligned operands go scalar, where
    // small blocks keep the per-lane load count down.
    static constexpr Tile kRegblockVec4[] = {{64, 64, 16, 32, 8}, {32, 32, 16, 8, 8}};
    // Narrow outputs (N <= 32: a convolution's weight gradient over few input channels) waste
    // most of a 64-wide tile; a 32 x 4 block per lane keeps more lanes on real columns (the
    // sample CNN's first weight gradient, 32 x 9 x 86528 on lavapipe: 33 -> 20 ms).
    static constexpr Tile kRegblockVec4Narrow[] = {{32, 32, 16, 32, 4}, {32, 32, 16, 8, 4}};
    static constexpr Tile kRegblockScalar[] = {{32, 32, 16, 4, 4}, {16, 16, 16, 4, 4}};
    // Shared-memory tiles, largest first.
    static constexpr Tile kTiled[] = {{64, 64, 16, 4, 4}, {64, 64, 8, 4, 4}, {32, 32, 16, 2, 2}, {32, 32, 8, 4, 4},
                                      {16, 16, 8, 2, 2}};
    const bool regblock = p.kernel == GemmKernel::regblock;
    const std::span<const Tile> candidates = !regblock ? std::span<const Tile>(kTiled)
                                             : p.vec4 && s.n <= 32 ? std::span<const Tile>(kRegblockVec4Narrow)
                                             : p.vec4  ? std::span<const Tile>(kRegblockVec4)
                                                       : std::span<const Tile>(kRegblockScalar);
    const uint32_t elem = p.variant == Variant::f16a ? 2 : 4;  // the tiled kernel's shared tiles hold afp
    for (const Tile& t : candidates) {
        const uint32_t wg = (t.bm / t.tm) * (t.bn / t.tn);
        const uint64_t shared = regblock ? 0 : uint64_t(t.bm + t.bn) * t.bk * elem;
        if (workgroup_fits(caps, wg, shared)) {
            p.bm = t.bm, p.bn = t.bn, p.bk = t.bk, p.tm = t.tm, p.tn = t.tn, p.workgroup = wg;
            return;
        }
    }
    throw UnsupportedError("gemm: no tile fits " + caps.name + " (shared memory " +
                           std::to_string(caps.max_shared_memory) + " B, " +
                           std::to_string(caps.max_workgroup_invocations) + " invocations)");
}

void plan_split(const DeviceCaps& caps, const GemmShape& s, const GemmOptions& opt, GemmPlan& p) {
    uint64_t splits = 1;
    if (opt.split_k > 0) {
        splits = opt.split_k;
    } else {
        const uint64_t groups = uint64_t(ceil_div(s.m, p.bm)) * ceil_div(s.n, p.bn) * s.batch;
        const uint64_t target = caps.is_cpu ? kCpuTargetGroups : kGpuTargetGroups;
        if (groups < target && s.k >= 2 * kMinKPerSplit)
            splits = std::min<uint64_t>({ceil_div(target, groups), s.k / kMinKPerSplit, kMaxSplits});
    }
    // Slices are whole BK steps; recompute the count so that no slice is empty.
    const uint64_t chunk = ceil_div(ceil_div(s.k, std::max<uint64_t>(splits, 1)), p.bk) * p.bk;
    p.k_chunk = static_cast<uint32_t>(std::max<uint64_t>(chunk, p.bk));
    p.splits = static_cast<uint32_t>(std::max<uint64_t>(1, ceil_div(s.k, p.k_chunk)));
}

} // namespace

bool workgroup_fits(const DeviceCaps& caps, uint32_t workgroup, uint64_t shared_bytes) {
    return workgroup <= caps.max_workgroup_invocations && workgroup <= caps.max_workgroup_size_x &&
           shared_bytes <= caps.max_shared_memory;
}

std::string GemmPlan::describe() const {
    std::string s = std::string(to_string(kernel)) + "." + std::string(to_string(variant)) + " " +
                    std::to_string(bm) + "x" + std::to_string(bn);
    if (kernel == GemmKernel::coopmat) {
        s += " (" + std::to_string(shape.m) + "x" + std::to_string(shape.n) + "x" + std::to_string(shape.k) + ") " +
             to_string(tile) + " " + tile_source;
        if (vec8_a || vec8_b) s += std::string(" vec8") + (vec8_a ? "-A" : "") + (vec8_b ? "-B" : "");
        if (direct) s += " direct";
    }
    if (vec4) s += " vec4";
    if (share_a) s += " shared-A";
    if (splits > 1) s += " split-K " + std::to_string(splits);
    return s;
}

namespace {

// Dtypes of the operands and the bias (DTypeError), and the bias's length (ShapeError).
void check_gemm_types(const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt, uint32_t m,
                      uint32_t n) {
    if (a.dtype() != b.dtype())
        throw DTypeError("gemm: A is " + std::string(to_string(a.dtype())) + " and B is " +
                         std::string(to_string(b.dtype())) + " (expected equal dtypes)");
    if (a.dtype() == DType::u32 || c.dtype() == DType::u32)
        throw DTypeError("gemm: u32 tensors are not arithmetic (expected f16 or f32)");
    if (a.dtype() == DType::f32 && c.dtype() != DType::f32)
        throw DTypeError("gemm: f32 inputs need an f32 C, got " + std::string(to_string(c.dtype())));
    if (opt.bias) {
        check_defined("gemm", *opt.bias, "bias");
        const int64_t want = opt.bias_mode == BiasMode::per_column ? n : m;
        if (opt.bias->shape() != Shape{want})
            throw ShapeError("gemm: bias must be [" + std::to_string(want) + "] (" +
                             (opt.bias_mode == BiasMode::per_column ? "per column" : "per row") + "), got " +
                             to_string(opt.bias->shape()));
        if (opt.bias->dtype() != a.dtype())
            throw DTypeError("gemm: bias is " + std::string(to_string(opt.bias->dtype())) + ", A is " +
                             std::string(to_string(a.dtype())));
    }
}

} // namespace

GemmShape check_gemm(const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt) {
    check_defined("gemm", a, "A");
    check_defined("gemm", b, "B");
    check_defined("gemm", c, "C");
    auto bad = [&](const std::string& why) { throw ShapeError("gemm: " + why + " (" + shapes_text(a, b, c, opt) + ")"); };
    const auto ra = a.shape().size(), rb = b.shape().size(), rc = c.shape().size();
    if (ra < 2 || ra > 3 || rb < 2 || rb > 3 || rc < 2 || rc > 3) bad("operands must be 2-D or batched 3-D");
    auto dim = [](const Tensor& t, std::size_t from_end) { return t.shape()[t.shape().size() - 1 - from_end]; };
    const int64_t m = opt.trans_a ? dim(a, 0) : dim(a, 1), ka = opt.trans_a ? dim(a, 1) : dim(a, 0);
    const int64_t kb = opt.trans_b ? dim(b, 0) : dim(b, 1), n = opt.trans_b ? dim(b, 1) : dim(b, 0);
    if (ka != kb) bad("inner dimensions differ: op(A) has K = " + std::to_string(ka) + ", op(B) has K = " +
                      std::to_string(kb));
    const int64_t batch_a = ra == 3 ? a.shape()[0] : 1, batch_b = rb == 3 ? b.shape()[0] : 1;
    if (ra == 3 && rb == 3 && batch_a != batch_b) bad("batch sizes differ");
    const int64_t batch = std::max(batch_a, batch_b);
    const Shape want_c = batch > 1 || rc == 3 ? Shape{batch, m, n} : Shape{m, n};
    if (c.shape() != want_c) bad("C must be " + to_string(want_c));

    GemmShape s;
    s.m = checked_u32(m, "M");
    s.n = checked_u32(n, "N");
    check_gemm_types(a, b, c, opt, s.m, s.n);
    s.k = checked_u32(ka, "K");
    s.batch = checked_u32(batch, "batch");
    s.lda = opt.trans_a ? s.m : s.k;
    s.ldb = opt.trans_b ? s.k : s.n;
    s.ldc = s.n;
    s.stride_a = ra == 3 ? checked_u32(m * ka, "batch stride of A") : 0;
    s.stride_b = rb == 3 ? checked_u32(kb * n, "batch stride of B") : 0;
    s.stride_c = checked_u32(m * n, "batch stride of C");
    checked_u32(a.numel(), "elements of A");
    checked_u32(b.numel(), "elements of B");
    checked_u32(c.numel(), "elements of C");
    return s;
}

GemmPlan plan_gemm(const DeviceCaps& caps, const GemmShape& s, const Tensor& a, const Tensor& b, const Tensor& c,
                   const GemmOptions& opt) {
    GemmPlan p;
    const DType dt = a.dtype();
    // The kernel: asked for (kernel coopmat and variant coopmat are one request), else the
    // device's policy for this dtype; a forced portable tier takes the portable kernel.
    std::optional<GemmKernel> kernel = opt.kernel;
    if (opt.variant && kernel && (*opt.variant == Variant::coopmat) != (*kernel == GemmKernel::coopmat))
        throw UnsupportedError("gemm: variant " + std::string(to_string(*opt.variant)) + " cannot run on the " +
                               std::string(to_string(*kernel)) + " kernel");
    if (opt.variant == Variant::coopmat) kernel = GemmKernel::coopmat;
    if (!kernel) kernel = dt == DType::f16 && !opt.variant ? caps.gemm_f16 : caps.gemm_f32;
    std::string why;
    if (!gemm_kernel_available(caps, *kernel, dt, &why)) {
        if (*kernel == GemmKernel::coopmat && dt != DType::f16) throw DTypeError("gemm: " + why);
        throw UnsupportedError("gemm: " + why);
    }
    p.kernel = *kernel;
    if (p.kernel == GemmKernel::coopmat) {
        p.variant = Variant::coopmat;
        plan_coopmat(caps, s, opt, p);
    } else {
        OpOptions tier;
        tier.variant = opt.variant;
        p.variant = resolve_variant("gemm", caps, dt, tier);
        if (p.kernel == GemmKernel::regblock) {
            // Aligned groups of four along each operand's contiguous dimension (gemm_regblock.comp).
            const bool a_ok = s.lda % 4 == 0 && s.stride_a % 4 == 0;
            const bool b_ok = s.ldb % 4 == 0 && s.stride_b % 4 == 0;
            p.vec4 = a_ok && b_ok;
        }
        plan_tile(caps, s, p);
    }
    plan_split(caps, s, opt, p);
    if (p.kernel == GemmKernel::coopmat) plan_coopmat_access(s, a, b, c, opt, p);
    if (p.vec4) {
        // One lane per row of the block, and a subgroup's lanes all in one row of blocks.
        // The subgroup size must be fixed (it is a specialization constant of the kernel).
        const uint32_t lanes = caps.subgroup_size;
        p.share_a = p.vec4 && caps.min_subgroup_size == caps.max_subgroup_size && lanes >= 4 && lanes % 4 == 0 && p.tm % lanes == 0 && (p.bn / p.tn) % lanes == 0 &&
                    p.workgroup % lanes == 0;
    }
    return p;
}

namespace {

void record_gemm_checked(CommandList& cl, Context& ctx, const Tensor& a, const Tensor& b, Tensor& c,
                         const GemmOptions& opt, const GemmShape& s) {
    auto& impl = ctx.impl();
    const GemmPlan p = plan_gemm(impl.caps, s, a, b, c, opt);
    const bool out_f32 = c.dtype() == DType::f32;
    const uint32_t bias = opt.bias ? (opt.bias_mode == BiasMode::per_column ? 1u : 2u) : 0u;
    const bool partial = p.splits > 1;

    std::vector<std::pair<uint32_t, uint32_t>> spec;
    if (p.kernel == GemmKernel::coopmat)
        spec = {{1, p.shape.m},         {2, p.shape.n},         {3, p.shape.k},
                {4, p.tile.sg_rows},    {5, p.tile.sg_cols},    {12, p.tile.tiles_m},
                {13, p.tile.tiles_n},   {14, p.tile.k_steps},   {15, std::max(impl.caps.subgroup_size, 1u)},
                {16, p.tile.stages},    {17, p.vec8_a},         {18, p.vec8_b},
                {19, p.direct}};
    else
        spec = {{1, p.bm}, {2, p.bn}, {3, p.bk}, {4, p.tm}, {5, p.tn}};
    if (p.kernel == GemmKernel::regblock)
        spec.insert(spec.end(), {{15, p.vec4}, {16, p.share_a}, {17, impl.caps.subgroup_size}});
    spec.insert(spec.end(), {{6, opt.trans_a}, {7, opt.trans_b}, {8, out_f32}, {9, bias}, {10, opt.relu}, {11, partial}});
    const std::string shader = p.kernel == GemmKernel::coopmat ? "gemm_coopmat"
                               : p.kernel == GemmKernel::tiled ? "gemm_tiled"
                                                               : "gemm_regblock";
    PipelineDesc desc{module_name(shader, p.variant), 5, sizeof(GemmPush), p.workgroup, spec};
    desc.full_subgroups = p.kernel == GemmKernel::coopmat || p.share_a;
    // Both index their tiles by gl_SubgroupID over a workgroup of whole subgroups of the size
    // planned: where the device may pick another size, it is pinned.
    if (desc.full_subgroups && impl.caps.min_subgroup_size != impl.caps.max_subgroup_size)
        desc.required_subgroup_size = impl.caps.subgroup_size;
    const Pipeline& pipeline = impl.pipelines->get(desc);

    const GemmPush push{s.m,        s.n,        s.k, s.lda, s.ldb, s.ldc,
                        s.stride_a, s.stride_b, s.stride_c, s.batch, p.k_chunk, p.splits, opt.alpha, opt.beta, 0};
    const Access c_access = opt.beta != 0.0f ? Access::read_write : Access::write;
    const BufferRange bias_range = range_of(opt.bias ? *opt.bias : a);  // a: an unused binding
    Tensor workspace;
    if (partial) {
        workspace = cl.workspace(ctx, {int64_t(p.splits) * s.batch * s.m * s.n}, DType::f32);
    }
    const BufferRange c32 = range_of(partial ? workspace : c);
    // C's binding is writable: with partials (written to c32 here, summed into C later) it still
    // counts as written, as the synchronization validation counts it.
    const BufferAccess buffers[] = {read(a), read(b), {range_of(c), partial ? Access::read_write : c_access},
                                    {c32, partial ? Access::write : c_access}, {bias_range, Access::read}};
    const uint64_t grid[3] = {ceil_div(s.n, p.bn), ceil_div(s.m, p.bm), uint64_t(s.batch) * p.splits};
    cl.dispatch_tiles(pipeline, buffers, &push, sizeof(push), grid, "gemm." + p.describe());
    if (!partial) return;

    // The reduction runs in the f16 storage tiers' layout of C, or fp32; coopmat C is f16s-shaped.
    const Variant reduce_variant = p.variant == Variant::coopmat ? Variant::f16s : p.variant;
    const uint32_t wg = workgroup_size(impl.caps);
    const Pipeline& reduce = impl.pipelines->get({module_name("gemm_splitk_reduce", reduce_variant), 6,
                                                  sizeof(GemmPush), wg,
                                                  {{8, out_f32}, {9, bias}, {10, opt.relu}}});
    const BufferAccess rbuf[] = {read(a),           read(b),
                                 {range_of(c), c_access}, {range_of(c), c_access},
                                 {bias_range, Access::read}, read(workspace)};
    cl.dispatch(reduce, rbuf, &push, sizeof(push), ceil_div(uint64_t(s.batch) * s.m * s.n, wg), "gemm.splitk_reduce");
}

} // namespace

void record_gemm(CommandList& cl, Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt) {
    record_gemm_checked(cl, ctx, a, b, c, opt, check_gemm(a, b, c, opt));
}

void record_gemm_strided(CommandList& cl, Context& ctx, const Tensor& a, const Tensor& b, Tensor& c,
                         const GemmOptions& opt, const GemmShape& s) {
    check_defined("gemm", a, "A");
    check_defined("gemm", b, "B");
    check_defined("gemm", c, "C");
    check_gemm_types(a, b, c, opt, s.m, s.n);
    auto view = [&](const char* name, const Tensor& t, uint32_t rows, uint32_t cols, uint32_t ld, uint32_t stride,
                    uint32_t batch) {
        // Row r, column q of batch i lies at i * stride + r * ld + q.
        const uint64_t last = uint64_t(batch - 1) * stride + uint64_t(rows - 1) * ld + cols;
        checked_u32(t.numel(), "elements of a GEMM operand");
        if (rows == 0 || cols == 0 || ld < cols || last > uint64_t(t.numel()))
            throw ShapeError(std::string("gemm: ") + name + " view of " + std::to_string(rows) + " x " +
                             std::to_string(cols) + " (leading dimension " + std::to_string(ld) + ", batch stride " +
                             std::to_string(stride) + ", batch " + std::to_string(batch) + ") does not lie in " +
                             to_string(t.shape()));
    };
    if (s.batch == 0) throw ShapeError("gemm: batch must be at least 1");
    view("A", a, opt.trans_a ? s.k : s.m, opt.trans_a ? s.m : s.k, s.lda, s.stride_a, s.batch);
    view("B", b, opt.trans_b ? s.n : s.k, opt.trans_b ? s.k : s.n, s.ldb, s.stride_b, s.batch);
    view("C", c, s.m, s.n, s.ldc, s.stride_c, s.batch);
    record_gemm_checked(cl, ctx, a, b, c, opt, s);
}

} // namespace detail

void gemm(Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_gemm(cl, ctx, a, b, c, opt);
    cl.submit_and_wait();
}

void detail::record_partial_sum(CommandList& cl, ContextImpl& ctx, Variant v, const Tensor& partials, Tensor& c,
                                uint32_t splits, uint32_t m, uint32_t n, float beta) {
    const GemmPush push{m, n, 0, 0, 0, n, 0, 0, m * n, 1, 0, splits, 1.0f, beta};
    const uint32_t wg = workgroup_size(ctx.caps);
    const bool out_f32 = c.dtype() == DType::f32;
    const Pipeline& reduce = ctx.pipelines->get({module_name("gemm_splitk_reduce", v), 6, sizeof(GemmPush), wg,
                                                 {{8, out_f32}, {9, 0u}, {10, 0u}}});
    // Bindings 0, 1 and 4 (A, B, bias) are unused by the reduction: the partials stand in.
    const BufferAccess b[] = {read(partials), read(partials), beta != 0.0f ? read_write(c) : write(c), write(c),
                              read(partials), read(partials)};
    cl.dispatch(reduce, b, &push, sizeof(push), ceil_div(uint64_t(m) * n, wg),
                beta != 0.0f ? "partial_sum+=" : "partial_sum");
}

std::string describe_gemm(Context& ctx, const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt) {
    const auto s = detail::check_gemm(a, b, c, opt);
    return detail::plan_gemm(ctx.caps(), s, a, b, c, opt).describe();
}

namespace detail {

void record_bias_grad(CommandList& cl, ContextImpl& impl, const Tensor& dy, Tensor& db, BiasMode mode,
                      const OpOptions& opt, bool accumulate) {
    detail::check_defined("bias_grad", dy, "dy");
    detail::check_defined("bias_grad", db, "db");
    const auto& shape = dy.shape();
    int64_t rows = 0, cols = 0, spatial = 1;
    if (mode == BiasMode::per_channel) {
        if (shape.size() != 4)
            throw ShapeError("bias_grad: per-channel needs dy [batch, channels, h, w], got " + to_string(shape));
        rows = shape[0];
        cols = shape[1];
        spatial = shape[2] * shape[3];
    } else {
        if (shape.size() < 2 || shape.size() > 3)
            throw ShapeError("bias_grad: dy must be [rows, cols] or [batch, rows, cols], got " + to_string(shape));
        cols = shape.back();
        rows = dy.numel() / cols;
        if (mode == BiasMode::per_row && shape.size() == 3)
            throw ShapeError("bias_grad: per-row bias gradient of a batched dy is not supported, got " + to_string(shape));
    }
    const int64_t outputs = mode == BiasMode::per_row ? rows : cols;
    if (db.shape() != Shape{outputs})
        throw ShapeError("bias_grad: db must be [" + std::to_string(outputs) + "] for dy " + to_string(shape) +
                         ", got " + to_string(db.shape()));
    if (db.dtype() != DType::f32 && db.dtype() != dy.dtype())
        throw DTypeError("bias_grad: db must be f32 or dy's dtype");
    if (dy.numel() > std::numeric_limits<int32_t>::max()) throw LimitError("bias_grad: dy exceeds 2^31 elements");
    const Variant v = detail::resolve_variant("bias_grad", impl.caps, dy.dtype(), opt);
    const bool out_f32 = db.dtype() == DType::f32;
    const uint32_t wg = detail::workgroup_size(impl.caps, 64);
    const auto& p = impl.pipelines->get({detail::module_name("bias_grad", v), 3, 3 * sizeof(uint32_t), wg,
                                         {{1, static_cast<uint32_t>(mode)}, {2, out_f32}, {3, accumulate}}});
    const uint32_t push[3] = {static_cast<uint32_t>(rows), static_cast<uint32_t>(cols), static_cast<uint32_t>(spatial)};
    const detail::BufferAccess buffers[] = {detail::read(dy), detail::read_write(db), detail::read_write(db)};
    cl.dispatch(p, buffers, push, sizeof(push), detail::ceil_div(outputs, wg), "bias_grad");
}

} // namespace detail

void bias_grad(Context& ctx, const Tensor& dy, Tensor& db, BiasMode mode, OpOptions opt) {
    detail::CommandList cl(ctx.impl());
    detail::record_bias_grad(cl, ctx.impl(), dy, db, mode, opt);
    cl.submit_and_wait();
}

} // namespace vkhalf
