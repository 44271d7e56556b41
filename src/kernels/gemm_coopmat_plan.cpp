// The cooperative-matrix GEMM's plan (gemm_coopmat.comp): the matrix shape, the workgroup tile
// (forced, the tuning table's, or the fallback), and which loads and stores may go 128 bits wide.
#include <algorithm>

#include "kernels/gemm.hpp"
#include "runtime/gemm_tuning.hpp"
#include "runtime/tensor_range.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

// Shared memory of gemm_coopmat.comp for one tile: each stage holds op(A) and op(B) as they lie
// in memory, rows padded by eight halfs, plus one fp32 accumulator matrix per subgroup.
uint64_t coopmat_shared_bytes(const CoopmatShape& cm, const CoopmatTile& t, bool trans_a, bool trans_b) {
    const uint64_t bm = t.sg_rows * t.tiles_m * cm.m, bn = t.sg_cols * t.tiles_n * cm.n, bk = t.k_steps * cm.k;
    const uint64_t a = trans_a ? bk * (bm + 8) : bm * (bk + 8);
    const uint64_t b = trans_b ? bn * (bk + 8) : bk * (bn + 8);
    return t.stages * (a + b) * 2 + uint64_t(t.sg_rows) * t.sg_cols * cm.m * cm.n * 4;
}

bool coopmat_tile_runs(const DeviceCaps& caps, const CoopmatShape& cm, const CoopmatTile& t, bool trans_a,
                       bool trans_b) {
    if (t.stages < 1 || t.stages > 2 || !t.sg_rows || !t.sg_cols || !t.tiles_m || !t.tiles_n || !t.k_steps) return false;
    const uint32_t workgroup = t.sg_rows * t.sg_cols * std::max(caps.subgroup_size, 1u);
    return workgroup_fits(caps, workgroup, coopmat_shared_bytes(cm, t, trans_a, trans_b));
}

// Whether every row and batch of a view starts a 16-byte group: its binding's offset, leading
// dimension and batch stride all line up (`per16` elements per 16 bytes).
bool rows_align16(const Tensor& t, uint32_t ld, uint32_t stride, uint32_t per16) {
    return range_of(t).offset % 16 == 0 && ld % per16 == 0 && stride % per16 == 0;
}

} // namespace

std::optional<CoopmatShape> coopmat_matrix_shape(const DeviceCaps& caps) {
    // 16x16x16 where listed (every vendor's common shape), else the smallest; dimensions must be
    // multiples of 8, the kernel's chunk of eight halfs.
    std::optional<CoopmatShape> best;
    for (const auto& s : caps.coopmat_shapes) {
        if (s.m % 8 || s.n % 8 || s.k % 8) continue;
        if (s.m == 16 && s.n == 16 && s.k == 16) return s;
        if (!best || s.m * s.n * s.k < best->m * best->n * best->k) best = s;
    }
    return best;
}

std::vector<CoopmatTile> runnable_coopmat_tiles(const DeviceCaps& caps, const CoopmatShape& matrix, bool trans_a,
                                                bool trans_b) {
    std::vector<CoopmatTile> out;
    for (const CoopmatTile& t : coopmat_tile_catalogue())
        if (coopmat_tile_runs(caps, matrix, t, trans_a, trans_b)) out.push_back(t);
    return out;
}

// The tile: forced, else the tuning table's for this device and size, else the largest in the
// catalogue that still gives the device enough workgroups (the smallest runnable one otherwise).
void plan_coopmat(const DeviceCaps& caps, const GemmShape& s, const GemmOptions& opt, GemmPlan& p) {
    const auto shape = coopmat_matrix_shape(caps);
    if (!shape)
        throw UnsupportedError("gemm: " + caps.name + " lists no fp16 x fp16 -> fp32 subgroup matrix shape with " +
                               "dimensions in multiples of 8 (the coopmat kernel's staging unit)");
    p.shape = *shape;
    const bool ta = opt.trans_a, tb = opt.trans_b;
    if (opt.coopmat_tile) {
        if (!coopmat_tile_runs(caps, p.shape, *opt.coopmat_tile, ta, tb))
            throw UnsupportedError("gemm: coopmat tile " + to_string(*opt.coopmat_tile) + " does not fit " + caps.name +
                                   " (" + std::to_string(coopmat_shared_bytes(p.shape, *opt.coopmat_tile, ta, tb)) +
                                   " B of shared memory of " + std::to_string(caps.max_shared_memory) + ", " +
                                   std::to_string(opt.coopmat_tile->sg_rows * opt.coopmat_tile->sg_cols) +
                                   " subgroups of " + std::to_string(caps.subgroup_size) + ")");
        p.tile = *opt.coopmat_tile;
        p.tile_source = "forced";
    } else if (const CoopmatTuning* t =
                   find_coopmat_tuning(caps, p.shape, gemm_size_class(s.m, s.n, s.batch));
               t && coopmat_tile_runs(caps, p.shape, t->tile, ta, tb)) {
        p.tile = t->tile;
        p.tile_source = "tuned";
    } else {
        const auto runnable = runnable_coopmat_tiles(caps, p.shape, ta, tb);
        if (runnable.empty())
            throw UnsupportedError("gemm: no cooperative-matrix tile fits " + caps.name + "'s shared memory (" +
                                   std::to_string(caps.max_shared_memory) + " B)");
        const uint64_t want = caps.is_cpu ? kCpuTargetGroups : kCoopmatGpuMinGroups;
        p.tile = runnable.back();
        for (const CoopmatTile& c : runnable) {
            const uint64_t groups = uint64_t(ceil_div(s.m, c.sg_rows * c.tiles_m * p.shape.m)) *
                                    ceil_div(s.n, c.sg_cols * c.tiles_n * p.shape.n) * s.batch;
            if (groups >= want) {
                p.tile = c;
                break;
            }
        }
        p.tile_source = "fallback";
    }
    p.bm = p.tile.sg_rows * p.tile.tiles_m * p.shape.m;
    p.bn = p.tile.sg_cols * p.tile.tiles_n * p.shape.n;
    p.bk = p.tile.k_steps * p.shape.k;
    p.workgroup = p.tile.sg_rows * p.tile.sg_cols * std::max(caps.subgroup_size, 1u);
}

void plan_coopmat_access(const GemmShape& s, const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& opt,
                         GemmPlan& p) {
    // 128-bit loads need every row of the operand to start a 16-byte group; the direct store
    // needs the same of C (coopMatStore's alignment rule) and an epilogue the accumulators can
    // apply themselves: alpha and beta, no bias, relu or split-K partials.
    p.vec8_a = rows_align16(a, s.lda, s.stride_a, 8);
    p.vec8_b = rows_align16(b, s.ldb, s.stride_b, 8);
    const uint32_t c_per16 = c.dtype() == DType::f32 ? 4 : 8;
    p.direct = p.splits == 1 && !opt.bias && !opt.relu && rows_align16(c, s.ldc, s.stride_c, c_per16);
}

} // namespace vkhalf::detail
