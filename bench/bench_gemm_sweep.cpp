// vkhalf-bench gemm --sweep: every cooperative-matrix tile of the catalogue this device can run,
// timed on the same shapes in the same run and printed ranked, beside the tile the library's
// policy picks (tuning table or fallback). Each shape ends with the tuning-table entry for its
// winner, ready to paste into src/runtime/gemm_tuning.cpp.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench.hpp"
#include "kernels/gemm.hpp"
#include "runtime/gemm_tuning.hpp"
#include "runtime/kernel_policy.hpp"

using namespace vkhalf;

namespace {

struct SweepShape {
    int m, n, k;
    bool trans_a, trans_b;
};

// The tile the library's plan takes for this shape (tuning table or fallback).
CoopmatTile policy_tile(Context& ctx, const SweepShape& s) {
    Tensor a = Tensor::empty(ctx, s.trans_a ? Shape{s.k, s.m} : Shape{s.m, s.k}, DType::f16);
    Tensor b = Tensor::empty(ctx, s.trans_b ? Shape{s.n, s.k} : Shape{s.k, s.n}, DType::f16);
    Tensor c = Tensor::empty(ctx, {s.m, s.n}, DType::f16);
    GemmOptions o;
    o.trans_a = s.trans_a;
    o.trans_b = s.trans_b;
    o.kernel = GemmKernel::coopmat;
    return detail::plan_gemm(ctx.caps(), detail::check_gemm(a, b, c, o), a, b, c, o).tile;
}

std::string shape_name(const SweepShape& s) {
    return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + (s.trans_a ? " A^T" : "") +
           (s.trans_b ? " B^T" : "");
}

} // namespace

int bench_gemm_sweep(Context& ctx, const BenchArgs& args) {
    const DeviceCaps& caps = ctx.caps();
    const auto matrix = detail::coopmat_matrix_shape(caps);
    if (!detail::gemm_kernel_available(caps, GemmKernel::coopmat, DType::f16) || !matrix) {
        std::fprintf(stderr, "vkhalf-bench gemm --sweep: %s runs no cooperative-matrix GEMM (%s)\n", caps.name.c_str(),
                     caps.coopmat_off_reason.empty() ? "none listed" : caps.coopmat_off_reason.c_str());
        return 1;
    }
    std::vector<SweepShape> shapes;
    std::vector<int> sizes = args.sizes;
    if (sizes.empty()) sizes = caps.is_cpu ? std::vector<int>{256, 1024} : std::vector<int>{1024, 4096, 8192};
    for (int n : sizes) shapes.push_back({n, n, n, false, false});
    if (args.layers) {  // the MLP's forward and weight gradient at batch 128: the small class
        shapes.push_back({128, 256, 784, false, true});
        shapes.push_back({256, 784, 128, true, false});
    }
    std::printf("device: %s (%s), matrix %ux%ux%u, subgroup %u, shared memory %u B\n", caps.name.c_str(),
                caps.driver.c_str(), matrix->m, matrix->n, matrix->k, caps.subgroup_size, caps.max_shared_memory);
    std::printf("GFLOP/s of f16 GEMM (fp32 accumulation, fp16 C) per coopmat tile; '<' marks the policy's tile\n");

    double last_best = 0, last_policy = 0;
    std::string last_best_tile, last_policy_tile;
    int last_size = 0;
    for (const SweepShape& s : shapes) {
        const auto tiles = detail::runnable_coopmat_tiles(caps, *matrix, s.trans_a, s.trans_b);
        const CoopmatTile policy = policy_tile(ctx, s);
        const auto size_class = detail::gemm_size_class(s.m, s.n, 1);
        std::vector<std::pair<double, CoopmatTile>> timed;
        for (const CoopmatTile& t : tiles) {
            GemmOptions o;
            o.trans_a = s.trans_a;
            o.trans_b = s.trans_b;
            o.kernel = GemmKernel::coopmat;
            o.coopmat_tile = t;
            timed.emplace_back(gemm_gflops(ctx, s.m, s.n, s.k, o, DType::f16, args.seconds_per_point), t);
        }
        std::stable_sort(timed.begin(), timed.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
        std::printf("\n%s (size class %s): %zu tiles\n", shape_name(s).c_str(), detail::size_class_name(size_class),
                    timed.size());
        std::printf("  %4s %-18s %9s %9s %10s\n", "rank", "tile", "C tile", "GFLOP/s", "of best");
        double policy_gflops = 0;
        for (std::size_t i = 0; i < timed.size(); ++i) {
            const auto& [g, t] = timed[i];
            const std::string name = to_string(t);
            const std::string ctile = std::to_string(t.sg_rows * t.tiles_m * matrix->m) + "x" +
                                      std::to_string(t.sg_cols * t.tiles_n * matrix->n);
            if (t == policy) policy_gflops = g;
            std::printf("  %4zu %-18s %9s %9.1f %9.2fx%s\n", i + 1, name.c_str(), ctile.c_str(), g, g / timed[0].first,
                        t == policy ? " <" : "");
        }
        const CoopmatTile& best = timed[0].second;
        std::printf("  tuning-table entry: {{0x%04x, %u, \"%s\"}, {%u, %u, %u}, GemmSizeClass::%s, {%u, %u, %u, %u, %u, %u}, "
                    "\"%s, %s: %.1f GFLOP/s\"},\n",
                    caps.vendor_id, caps.driver_id, caps.name.c_str(), matrix->m, matrix->n, matrix->k,
                    detail::size_class_name(size_class), best.sg_rows, best.sg_cols, best.tiles_m, best.tiles_n,
                    best.k_steps, best.stages, caps.driver.c_str(), shape_name(s).c_str(), timed[0].first);
        if (!s.trans_a && !s.trans_b && s.m == s.n && s.n == s.k) {
            last_size = s.m;
            last_best = timed[0].first;
            last_best_tile = to_string(best);
            last_policy = policy_gflops;
            last_policy_tile = to_string(policy);
        }
    }
    std::printf("result: bench=gemm-sweep device=\"%s\" size=%d best=%s gflops=%.1f policy=%s policy_gflops=%.1f "
                "ratio=%.3f\n",
                caps.name.c_str(), last_size, last_best_tile.c_str(), last_best, last_policy_tile.c_str(), last_policy,
                last_best > 0 ? last_policy / last_best : 0.0);
    return 0;
}
