#include "self_check.hpp"

#include <cmath>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace {

int report(bool ok, const char* what, double err) {
    std::printf("  %-44s %s (max error %.3g)\n", what, ok ? "ok" : "FAILED", err);
    return ok ? 0 : 1;
}

} // namespace

int run_self_check(vkhalf::Context& ctx) {
    using namespace vkhalf;
    constexpr int n = 100003;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
    std::vector<float> a(n), b(n);
    for (int i = 0; i < n; ++i) { a[i] = round_to_f16(dist(rng)); b[i] = round_to_f16(dist(rng)); }
    int failures = 0;

    const Variant v = default_variant(ctx.caps(), DType::f16);
    Tensor ta = Tensor::from_floats(ctx, {n}, DType::f16, a), tb = Tensor::from_floats(ctx, {n}, DType::f16, b);
    Tensor ty = Tensor::empty(ctx, {n}, DType::f16);
    add(ctx, ta, tb, ty);
    auto y = ty.to_floats();
    double err = 0;
    bool ok = true;
    for (int i = 0; i < n; ++i) {
        const double ref = double(a[i]) + double(b[i]);
        const double e = std::abs(y[i] - ref);
        err = std::max(err, e);
        ok = ok && e <= std::ldexp(std::abs(ref), -10) + std::ldexp(1.0, -24);
    }
    char label[128];
    std::snprintf(label, sizeof label, "add f16 (%s), %d elements", std::string(to_string(v)).c_str(), n);
    failures += report(ok, label, err);

    Tensor f32 = Tensor::from_floats(ctx, {n}, DType::f32, a), back = Tensor::empty(ctx, {n}, DType::f32);
    Tensor h = Tensor::empty(ctx, {n}, DType::f16);
    cast(ctx, f32, h);
    cast(ctx, h, back);
    auto r = back.to_floats();
    ok = r == a;
    failures += report(ok, "cast f32 -> f16 -> f32 (bit-exact)", 0.0);

    std::vector<float> ones(10000, 0.01f);
    Tensor t = Tensor::from_floats(ctx, {10000}, DType::f16, ones);
    const double s = sum(ctx, t), ref = 10000.0 * double(round_to_f16(0.01f));
    failures += report(std::abs(s - ref) < 1e-3, "sum of 10000 x fp16(0.01), fp32 accumulation", std::abs(s - ref));

    // Every GEMM kernel this device runs (the policy's default first), f16 inputs, fp32 output, an
    // odd shape, against a double-precision product: a kernel the policy never picks by default
    // may still be forced, so each is checked.
    const int m = 67, k = 83, nn = 45;
    std::vector<float> ga(m * k), gb(k * nn);
    for (auto& x : ga) x = round_to_f16(dist(rng));
    for (auto& x : gb) x = round_to_f16(dist(rng));
    Tensor gta = Tensor::from_floats(ctx, {m, k}, DType::f16, ga), gtb = Tensor::from_floats(ctx, {k, nn}, DType::f16, gb);
    const DeviceCaps& caps = ctx.caps();
    const GemmKernel order[] = {caps.gemm_f16, GemmKernel::regblock, GemmKernel::tiled, GemmKernel::coopmat};
    for (std::size_t which = 0; which < std::size(order); ++which) {
        const GemmKernel kernel = order[which];
        if (which > 0 && kernel == caps.gemm_f16) continue;  // the default ran first
        GemmOptions o;
        o.kernel = kernel;
        Tensor gc = Tensor::empty(ctx, {m, nn}, DType::f32);
        std::string plan;
        try {
            plan = describe_gemm(ctx, gta, gtb, gc, o);
        } catch (const UnsupportedError&) {
            continue;  // not on this device; vkhalf-info's policy line says why
        }
        gemm(ctx, gta, gtb, gc, o);
        const auto c = gc.to_floats();
        const bool f16_products = plan.find(".f16a") != std::string::npos;  // fp16 multiplies, fp32 sums
        double worst = 0;
        bool good = true;
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < nn; ++j) {
                double want = 0, mag = 0;
                for (int q = 0; q < k; ++q) {
                    want += double(ga[i * k + q]) * gb[q * nn + j];
                    mag += std::abs(double(ga[i * k + q]) * gb[q * nn + j]);
                }
                const double e = std::abs(c[i * nn + j] - want);
                worst = std::max(worst, e);
                good = good && e <= (k + 2) * std::ldexp(mag, -23) + (f16_products ? std::ldexp(mag, -11) : 0.0) +
                                        std::ldexp(std::abs(want), -22);
            }
        std::snprintf(label, sizeof label, "gemm %dx%dx%d f16 -> f32, %s%s", m, nn, k, plan.c_str(),
                      kernel == caps.gemm_f16 ? " (default)" : "");
        failures += report(good, label, worst);
    }
    return failures;
}
