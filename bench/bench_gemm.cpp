// vkhalf-bench gemm: GFLOP/s of every kernel (regblock, tiled, coopmat) in every tier the device
// runs, on the same shapes in the same run, against OpenBLAS sgemm (CPU devices) or a given figure.
// These figures are what the per-device GEMM policy (runtime/kernel_policy.cpp) follows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <random>

#include "bench.hpp"
#include "kernels/gemm.hpp"
#include "runtime/kernel_policy.hpp"

#ifdef VKHALF_BENCH_OPENBLAS
#include <cblas.h>
#endif

using namespace vkhalf;

namespace {

struct Shape3 {
    int m, n, k;
    bool trans_a, trans_b;
    const char* name;
};

// The sample models' products at batch 128: forward Y = X W^T, input gradient dX = dY W,
// weight gradient dW = dY^T X.
const Shape3 kLayers[] = {
    {128, 256, 784, false, true, "mlp fc1 forward   128x256x784"},
    {256, 784, 128, true, false, "mlp fc1 dW        256x784x128"},
    {128, 10, 256, false, true, "mlp fc2 forward   128x10x256"},
    {128, 256, 10, false, false, "mlp fc2 dX        128x256x10"},
    {128, 128, 1600, false, true, "cnn fc1 forward   128x128x1600"},
    {128, 1600, 128, false, false, "cnn fc1 dX        128x1600x128"},
};

// One column of the table: a kernel in a tier (coopmat has one tier of its own).
struct Column {
    GemmKernel kernel;
    Variant variant;
    std::string name() const {
        return kernel == GemmKernel::coopmat ? "coopmat" : std::string(to_string(kernel)) + "." + std::string(to_string(variant));
    }
};

double column_gflops(Context& ctx, const Shape3& s, const Column& col, double budget) {
    GemmOptions o;
    o.trans_a = s.trans_a;
    o.trans_b = s.trans_b;
    o.variant = col.variant;
    o.kernel = col.kernel;
    return gemm_gflops(ctx, s.m, s.n, s.k, o, col.variant == Variant::f32 ? DType::f32 : DType::f16, budget);
}

#ifdef VKHALF_BENCH_OPENBLAS
double openblas_gflops(const Shape3& s, double budget) {
    std::vector<float> a(std::size_t(s.m) * s.k, 0.5f), b(std::size_t(s.k) * s.n, 0.25f), c(std::size_t(s.m) * s.n);
    const double t = time_per_run(budget, [&] {
        cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, s.m,
                    s.n, s.k, 1.0f, a.data(), s.trans_a ? s.m : s.k, b.data(), s.trans_b ? s.k : s.n, 0.0f, c.data(),
                    s.n);
    });
    return 2.0 * s.m * s.n * s.k / t * 1e-9;
}
#endif

std::optional<double> cpu_reference(const DeviceCaps& caps, const Shape3& s, double budget) {
#ifdef VKHALF_BENCH_OPENBLAS
    if (caps.is_cpu) return openblas_gflops(s, budget);
#endif
    (void)caps, (void)s, (void)budget;
    return std::nullopt;
}

} // namespace

// Times `reps` products recorded once into one command list and replayed: no per-product submit.
double gemm_gflops(Context& ctx, int m, int n, int k, const GemmOptions& o, DType dt, double budget) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<float> a(std::size_t(m) * k), b(std::size_t(k) * n);
    for (auto& x : a) x = dist(rng);
    for (auto& x : b) x = dist(rng);
    Tensor ta = Tensor::from_floats(ctx, o.trans_a ? Shape{k, m} : Shape{m, k}, dt, a);
    Tensor tb = Tensor::from_floats(ctx, o.trans_b ? Shape{n, k} : Shape{k, n}, dt, b);
    Tensor tc = Tensor::empty(ctx, {m, n}, dt);
    const double flops = 2.0 * m * n * k;
    const int reps = std::clamp(int(2e8 / flops), 1, 64);  // keep one submission well above its overhead
    detail::CommandList cl(ctx.impl());
    for (int r = 0; r < reps; ++r) detail::record_gemm(cl, ctx, ta, tb, tc, o);
    const double t = time_per_run(budget, [&] { cl.submit_and_wait(); });
    return flops * reps / t * 1e-9;
}

int bench_gemm(Context& ctx, const BenchArgs& args) {
    if (args.sweep) return bench_gemm_sweep(ctx, args);
    const DeviceCaps& caps = ctx.caps();
    std::vector<Column> columns;
    for (GemmKernel k : {GemmKernel::regblock, GemmKernel::tiled, GemmKernel::coopmat}) {
        if (!args.kernels.empty() && std::find(args.kernels.begin(), args.kernels.end(), to_string(k)) == args.kernels.end())
            continue;
        if (k == GemmKernel::coopmat) {
            if (detail::gemm_kernel_available(caps, k, DType::f16)) columns.push_back({k, Variant::coopmat});
            continue;
        }
        if (!detail::gemm_kernel_available(caps, k, DType::f32)) continue;
        for (Variant v : {Variant::f32, Variant::f16p, Variant::f16s, Variant::f16a})
            if (caps.supports(v)) columns.push_back({k, v});
    }
    if (columns.empty()) {
        std::fprintf(stderr, "vkhalf-bench gemm: none of the kernels asked for runs on %s\n", caps.name.c_str());
        return 1;
    }
    std::vector<int> sizes = args.sizes;
    if (sizes.empty()) sizes = caps.is_cpu ? std::vector<int>{256, 512, 1024} : std::vector<int>{256, 512, 1024, 2048, 4096};

    std::printf("device: %s (%s)\n", caps.name.c_str(), caps.driver.c_str());
    std::printf("GFLOP/s, fp32 accumulation; default kernels here: f16 %s, f32 %s (%s)\n",
                std::string(to_string(caps.gemm_f16)).c_str(), std::string(to_string(caps.gemm_f32)).c_str(),
                caps.gemm_policy.c_str());
    std::printf("%-32s", "shape");
    for (const Column& c : columns) std::printf(" %13s", c.name().c_str());
    std::printf(" %10s\n", caps.is_cpu ? "openblas" : "");

    std::map<int, std::vector<double>> square;
    std::map<int, double> reference;
    auto row = [&](const Shape3& s) {
        std::printf("%-32s", s.name);
        std::vector<double> out;
        for (const Column& c : columns) {
            out.push_back(column_gflops(ctx, s, c, args.seconds_per_point));
            std::printf(" %13.1f", out.back());
            std::fflush(stdout);
        }
        const auto ref = cpu_reference(caps, s, args.seconds_per_point);
        if (ref) std::printf(" %10.1f", *ref);
        std::printf("\n");
        return std::make_pair(out, ref);
    };
    for (int n : sizes) {
        const std::string name = "square " + std::to_string(n);
        const auto [out, ref] = row({n, n, n, false, false, name.c_str()});
        square[n] = out;
        if (ref) reference[n] = *ref;
    }
    if (args.layers)
        for (const Shape3& s : kLayers) row(s);

    // The headline: 1024 (or the largest size run): the fastest column, and each kernel's best.
    const int size = square.count(1024) ? 1024 : sizes.back();
    const auto& at = square[size];
    std::size_t best = 0;
    std::map<GemmKernel, double> per_kernel;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (at[i] > at[best]) best = i;
        per_kernel[columns[i].kernel] = std::max(per_kernel[columns[i].kernel], at[i]);
    }
    std::string ref_name = "none";
    double ref_gflops = 0;
    if (args.reference_gflops > 0) {
        ref_name = args.reference_name.empty() ? "torch" : args.reference_name;
        ref_gflops = args.reference_gflops;
    } else if (reference.count(size)) {
        ref_name = "openblas";
        ref_gflops = reference[size];
    }
    std::string kernels;
    for (const auto& [k, g] : per_kernel) {
        char field[48];
        std::snprintf(field, sizeof field, " %s_gflops=%.1f", std::string(to_string(k)).c_str(), g);
        kernels += field;
    }
    std::printf("result: bench=gemm device=\"%s\" size=%d variant=%s gflops=%.1f%s reference=%s reference_gflops=%.1f "
                "ratio=%.3f\n",
                caps.name.c_str(), size, columns[best].name().c_str(), at[best], kernels.c_str(), ref_name.c_str(),
                ref_gflops, ref_gflops > 0 ? at[best] / ref_gflops : 0.0);
    return 0;
}
