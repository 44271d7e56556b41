#pragma once
// GEMM host side, exposed to the runtime's other users (benchmarks, the trainer, the convolution).
#include <optional>
#include <string>
#include <vector>

#include "kernels/ops_common.hpp"

namespace vkhalf::detail {

// The kernel, tier, tile and split-K plan for one product.
struct GemmPlan {
    GemmKernel kernel = GemmKernel::tiled;
    Variant variant = Variant::f32;
    uint32_t bm = 64, bn = 64, bk = 16, tm = 4, tn = 4;  // tiled/regblock tile
    CoopmatShape shape;                                 // coopmat: matrix shape
    CoopmatTile tile;                                   // coopmat: workgroup shape
    std::string tile_source;                            // coopmat: forced, tuning table or fallback
    bool vec8_a = false, vec8_b = false;                // coopmat: 128-bit loads of op(A), op(B)
    bool direct = false;                                // coopmat: interior tiles stored from the accumulators
    uint32_t workgroup = 256;
    uint32_t splits = 1, k_chunk = 0;
    bool vec4 = false;                                  // regblock: aligned 4-wide loads
    bool share_a = false;                               // regblock: op(A) shared by subgroupBroadcast
    std::string describe() const;
};

// Dimensions, leading dimensions and batch strides, in elements. check_gemm gives packed operands
// (ld = the row length); a caller that multiplies views into wider buffers (the lowered
// convolution's padded columns) sets its own and calls record_gemm_strided.
struct GemmShape {
    uint32_t m = 0, n = 0, k = 0, batch = 1;
    uint32_t lda = 0, ldb = 0, ldc = 0;
    uint32_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// Checks shapes and dtypes (ShapeError / DTypeError naming both operands) and derives M, N, K.
GemmShape check_gemm(const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt);
GemmPlan plan_gemm(const DeviceCaps& caps, const GemmShape& s, const Tensor& a, const Tensor& b, const Tensor& c,
                   const GemmOptions& opt);
// Split K only when the output gives too few workgroups to fill the device: a GPU wants some
// hundreds of workgroups in flight, lavapipe one per core (a few).
constexpr uint64_t kGpuTargetGroups = 256;
constexpr uint64_t kCpuTargetGroups = 8;
// The coopmat fallback's tile is the largest that still gives this many workgroups: about two
// per compute unit of a mid-size GPU, so a 4096^3 product takes 128 x 128 and 1024^3 128 x 64.
constexpr uint64_t kCoopmatGpuMinGroups = 128;

bool workgroup_fits(const DeviceCaps& caps, uint32_t workgroup, uint64_t shared_bytes);
// The coopmat kernel's matrix shape and tile into p (bm, bn, bk, workgroup too), before split-K.
void plan_coopmat(const DeviceCaps& caps, const GemmShape& s, const GemmOptions& opt, GemmPlan& p);
// After split-K: 128-bit loads of op(A) and op(B), and the direct store of C, where they apply.
void plan_coopmat_access(const GemmShape& s, const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt,
                         GemmPlan& p);
// The catalogue's coopmat tiles this device can run for matrix shape `matrix` and these
// transposes (shared memory and invocations), in catalogue order: what the sweep times.
std::vector<CoopmatTile> runnable_coopmat_tiles(const DeviceCaps& caps, const CoopmatShape& matrix, bool trans_a,
                                                bool trans_b);
// The matrix shape the coopmat kernel runs on this device, if it lists one it can use.
std::optional<CoopmatShape> coopmat_matrix_shape(const DeviceCaps& caps);
// Records the product (and the split-K reduction) into `cl`; the split-K workspace lives as long
// as the list.
void record_gemm(CommandList& cl, Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, const GemmOptions& opt);
// The same product over views: s says where op(A), op(B) and C lie inside a, b and c, whose
// shapes only bound them. Refuses (ShapeError) a leading dimension shorter than its row or a
// view that reaches past its tensor. Four-wide loads need each leading dimension and batch
// stride to be a multiple of 4; rows may then be read up to their leading dimension.
void record_gemm_strided(CommandList& cl, Context& ctx, const Tensor& a, const Tensor& b, Tensor& c,
                         const GemmOptions& opt, const GemmShape& s);
// c[m, n] = sum over s of partials[s, m, n] (fp32, in split order) + beta c, stored in c's dtype by
// tier v: the second half of any split-K product whose output is a plain row-major [m, n].
void record_partial_sum(CommandList& cl, ContextImpl& ctx, Variant v, const Tensor& partials, Tensor& c,
                        uint32_t splits, uint32_t m, uint32_t n, float beta = 0.0f);

} // namespace vkhalf::detail
