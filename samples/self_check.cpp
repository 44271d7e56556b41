#include "self_check.hpp"

#include <cmath>
#include <cstdio>
#include <random>
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
    char label[64];
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
    return failures;
}
