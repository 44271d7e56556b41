#include "runtime/gemm_tuning.hpp"

namespace vkhalf::detail {

namespace {

// {sg_rows, sg_cols, tiles_m, tiles_n, k_steps, stages}; sizes below for a 16x16x16 matrix.
constexpr CoopmatTile kCatalogue[] = {
    {2, 2, 4, 4, 2, 2},  // 128 x 128, 4 subgroups of 64 x 64 (16 accumulators each)
    {4, 2, 2, 4, 2, 2},  // 128 x 128, 8 subgroups of 32 x 64
    {2, 4, 4, 2, 2, 2},  // 128 x 128, 8 subgroups of 64 x 32
    {2, 2, 4, 4, 1, 2},  // 128 x 128, K 16 per stage (half the shared memory)
    {2, 2, 4, 2, 2, 2},  // 128 x 64
    {2, 2, 2, 4, 2, 2},  // 64 x 128
    {2, 2, 2, 2, 4, 2},  // 64 x 64, K 64 per stage
    {2, 2, 2, 2, 2, 2},  // 64 x 64
    {2, 2, 2, 2, 2, 1},  // 64 x 64, one stage
    {2, 2, 1, 1, 2, 2},  // 32 x 32, 4 subgroups
    {1, 1, 2, 2, 2, 2},  // 32 x 32, one subgroup
    {1, 1, 1, 1, 2, 1},  // one matrix per workgroup: the smallest footprint
};

// Filled from `vkhalf-bench gemm --sweep` runs (docs/performance.md); a GPU run adds its rows.
// None has run on a GPU yet, so GPUs take the plan's fallback.
constexpr CoopmatTuning kTable[] = {
    // lavapipe, Mesa 26.1.6 (LLVM 19.1.7, 256 bits), 2 cores, 2026-12-07; fp16 C. Figures within
    // about 10% are noise on this machine: where the two shapes of a class disagreed, the entry is
    // the tile near the top of both.
    {{std::nullopt, kDriverLlvmpipe}, {8, 8, 8}, GemmSizeClass::small, {2, 2, 4, 4, 2, 2},
     "lavapipe 26.1.6: 128x256x784 B^T best, 8.0 GFLOP/s (policy before: sg1x1.t2x2 4.9)"},
    {{std::nullopt, kDriverLlvmpipe}, {8, 8, 8}, GemmSizeClass::medium, {2, 2, 4, 2, 2, 2},
     "lavapipe 26.1.6: 256^3 7.2 GFLOP/s (0.94 of the best), 256x784x128 A^T 6.8 (0.92 of the best)"},
    {{std::nullopt, kDriverLlvmpipe}, {8, 8, 8}, GemmSizeClass::large, {2, 2, 4, 4, 1, 2},
     "lavapipe 26.1.6: 1024^3 best, 8.2 GFLOP/s (policy before: sg2x2.t2x2.k2.s2 6.4)"},
};

} // namespace

GemmSizeClass gemm_size_class(uint64_t m, uint64_t n, uint64_t batch) {
    const uint64_t elements = m * n * batch;
    if (elements < 128 * 512) return GemmSizeClass::small;
    if (elements < 1024 * 1024) return GemmSizeClass::medium;
    return GemmSizeClass::large;
}

const char* size_class_name(GemmSizeClass c) {
    switch (c) {
    case GemmSizeClass::small: return "small";
    case GemmSizeClass::medium: return "medium";
    case GemmSizeClass::large: return "large";
    }
    return "?";
}

std::span<const CoopmatTile> coopmat_tile_catalogue() { return kCatalogue; }
std::span<const CoopmatTuning> coopmat_tuning_table() { return kTable; }

const CoopmatTuning* find_coopmat_tuning(const DeviceCaps& caps, const CoopmatShape& matrix, GemmSizeClass size,
                                         std::span<const CoopmatTuning> table) {
    for (const CoopmatTuning& t : table)
        if (t.size == size && t.matrix.m == matrix.m && t.matrix.n == matrix.n && t.matrix.k == matrix.k &&
            device_matches(t.device, caps))
            return &t;
    return nullptr;
}

} // namespace vkhalf::detail

namespace vkhalf {

std::string to_string(const CoopmatTile& t) {
    return "sg" + std::to_string(t.sg_rows) + "x" + std::to_string(t.sg_cols) + ".t" + std::to_string(t.tiles_m) + "x" +
           std::to_string(t.tiles_n) + ".k" + std::to_string(t.k_steps) + ".s" + std::to_string(t.stages);
}

} // namespace vkhalf
