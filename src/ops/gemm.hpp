#pragma once
// GEMM host side, exposed to the runtime's other users (benchmarks, the future Graph).
#include <string>

#include "ops/ops_common.hpp"

namespace vkhalf::detail {

// The kernel, tier, tile and split-K plan for one product.
struct GemmPlan {
    GemmKernel kernel = GemmKernel::tiled;
    Variant variant = Variant::f32;
    uint32_t bm = 64, bn = 64, bk = 16, tm = 4, tn = 4;  // tiled/regblock tile
    CoopmatShape shape;                                 // coopmat: matrix shape
    uint32_t sg_rows = 2, sg_cols = 2, tiles_m = 2, tiles_n = 2, k_steps = 2;
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
GemmPlan plan_gemm(const DeviceCaps& caps, const GemmShape& s, const Tensor& a, const GemmOptions& opt);
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
