#pragma once
// Shared by the vkhalf-bench subcommands.
#include <chrono>
#include <string>
#include <vector>

#include <vkhalf/vkhalf.hpp>

struct BenchArgs {
    std::vector<int> sizes;           // square sizes; empty: the subcommand's default
    double seconds_per_point = 0.5;   // time budget per measured configuration
    double reference_gflops = 0;      // --reference-gflops: a figure measured elsewhere (torch.matmul)
    std::string reference_name;       // its name for the result line
    bool layers = true;               // also the sample models' layer shapes
    int64_t params = 0;               // optimizer: parameters (0: 100M)
    std::vector<std::string> kernels; // gemm: regblock, tiled, coopmat (empty: every one the device runs)
    bool sweep = false;               // gemm: time every coopmat tile instead of the kernels
};

int bench_gemm(vkhalf::Context& ctx, const BenchArgs& args);
int bench_gemm_sweep(vkhalf::Context& ctx, const BenchArgs& args);
// GFLOP/s of C = op(A) op(B) for an M x N x K product in dtype dt with options o (transposes,
// kernel, tile), replayed from one recorded command list of several products.
double gemm_gflops(vkhalf::Context& ctx, int m, int n, int k, const vkhalf::GemmOptions& o, vkhalf::DType dt,
                   double budget);
int bench_train_step(vkhalf::Context& ctx, const BenchArgs& args);
int bench_conv(vkhalf::Context& ctx, const BenchArgs& args);
int bench_optimizer(vkhalf::Context& ctx, const BenchArgs& args);

// Seconds per run of fn(), repeated until the budget is spent (at least 3 runs, 1 warm-up).
double time_per_run(double budget_s, const auto& fn) {
    using clock = std::chrono::steady_clock;
    fn();  // warm-up: pipeline creation, first touch
    int runs = 0;
    const auto start = clock::now();
    double elapsed = 0;
    while (runs < 3 || elapsed < budget_s) {
        fn();
        ++runs;
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    }
    return elapsed / runs;
}
