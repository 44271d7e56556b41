// vkhalf-bench conv: GFLOP/s of the sample CNN's convolutions (batch 128), forward, data gradient
// and weight gradient, per variant; on a CPU device, OpenBLAS sgemm on the same products lowered
// to GEMM (M = out channels, N = batch x output pixels, K = in channels x 3 x 3), in the same run.
#include <cstdio>
#include <random>

#include "bench.hpp"
#include "kernels/record.hpp"

#ifdef VKHALF_BENCH_OPENBLAS
#include <cblas.h>
#endif

using namespace vkhalf;

namespace {

struct Layer {
    const char* name;
    int64_t b, cin, h, w, cout;
};
const Layer kLayers[] = {{"cnn conv1 1->32 28x28", 128, 1, 28, 28, 32}, {"cnn conv2 32->64 13x13", 128, 32, 13, 13, 64}};

enum class Product { forward, data_grad, weight_grad };

double conv_seconds(Context& ctx, const Layer& l, Variant v, Product what, double budget) {
    const DType dt = v == Variant::f32 ? DType::f32 : DType::f16;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    auto filled = [&](Shape s) {
        std::vector<float> data(static_cast<std::size_t>(numel(s)));
        for (auto& x : data) x = u(rng);
        return Tensor::from_floats(ctx, s, dt, data);
    };
    Tensor x = filled({l.b, l.cin, l.h, l.w}), w = filled({l.cout, l.cin, 3, 3}), bias = filled({l.cout});
    Tensor y = filled({l.b, l.cout, l.h - 2, l.w - 2}), dx = Tensor::empty(ctx, x.shape(), dt);
    Tensor dw = Tensor::empty(ctx, w.shape(), dt);
    detail::CommandList cl(ctx.impl());
    const OpOptions opt{v};
    for (int r = 0; r < 4; ++r) {
        if (what == Product::forward) detail::record_conv2d(cl, ctx, x, w, &bias, y, {}, true, opt);
        if (what == Product::data_grad) detail::record_conv2d_backward_data(cl, ctx, y, w, dx, {}, opt);
        if (what == Product::weight_grad) detail::record_conv2d_backward_weight(cl, ctx, y, x, dw, {}, opt);
    }
    return time_per_run(budget, [&] { cl.submit_and_wait(); }) / 4;
}

double conv_flops(const Layer& l) { return 2.0 * double(l.b * l.cout * (l.h - 2) * (l.w - 2) * l.cin * 9); }

#ifdef VKHALF_BENCH_OPENBLAS
double openblas_seconds(const Layer& l, double budget) {
    const int m = int(l.cout), n = int(l.b * (l.h - 2) * (l.w - 2)), k = int(l.cin * 9);
    std::vector<float> a(std::size_t(m) * k, 0.5f), b(std::size_t(k) * n, 0.25f), c(std::size_t(m) * n);
    return time_per_run(budget, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    });
}
#endif

} // namespace

int bench_conv(Context& ctx, const BenchArgs& args) {
    const DeviceCaps& caps = ctx.caps();
    std::printf("device: %s (%s)\nGFLOP/s, fp32 accumulation, the automatic algorithm (%s)\n", caps.name.c_str(),
                caps.driver.c_str(), caps.is_cpu ? "lowered: im2col + register-blocked GEMM" : "implicit GEMM or cooperative matrix");
    std::printf("%-26s %-6s %10s %10s %10s%s\n", "layer", "tier", "forward", "data grad", "weight grad",
                caps.is_cpu ? "   openblas (lowered GEMM)" : "");
    const Variant best = default_variant(caps, DType::f16);
    double totals[3] = {0, 0, 0}, flops_total = 0, ref_seconds = 0;
    for (const Layer& l : kLayers) {
        const double flops = conv_flops(l);
        flops_total += flops;
        for (Variant v : {Variant::f32, Variant::f16p, Variant::f16s, Variant::f16a}) {
            if (!caps.supports(v)) continue;
            double g[3];
            for (int p = 0; p < 3; ++p) {
                const double s = conv_seconds(ctx, l, v, Product(p), args.seconds_per_point);
                g[p] = flops / s * 1e-9;
                if (v == best) totals[p] += s;
            }
            std::printf("%-26s %-6s %10.2f %10.2f %10.2f", l.name, std::string(to_string(v)).c_str(), g[0], g[1], g[2]);
#ifdef VKHALF_BENCH_OPENBLAS
            if (caps.is_cpu && v == Variant::f32) {
                const double s = openblas_seconds(l, args.seconds_per_point);
                ref_seconds += s;
                std::printf("   %10.2f", flops / s * 1e-9);
            }
#endif
            std::printf("\n");
            std::fflush(stdout);
        }
    }
    std::printf("result: bench=conv device=\"%s\" variant=%s gflops_fwd=%.2f gflops_bwd_data=%.2f gflops_bwd_weight=%.2f",
                caps.name.c_str(), std::string(to_string(best)).c_str(), flops_total / totals[0] * 1e-9,
                flops_total / totals[1] * 1e-9, flops_total / totals[2] * 1e-9);
    if (ref_seconds > 0)
        std::printf(" reference=openblas-lowered-gemm reference_gflops=%.2f ratio_fwd=%.3f", flops_total / ref_seconds * 1e-9,
                    ref_seconds / totals[0]);
    std::printf("\n");
    return 0;
}
