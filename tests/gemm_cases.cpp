#include "gemm_cases.hpp"

#include <doctest/doctest.h>

#include <cmath>

#include "kernels/gemm.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace test {

bool gemm_close(double got, double want, double magnitude, int k, Variant v, bool out_f16) {
    double tol = (k + 2) * std::ldexp(magnitude, -23) + 1e-30;
    if (v == Variant::f16a) tol += std::ldexp(magnitude, -11);
    if (out_f16) tol += std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24);
    else tol += std::ldexp(std::fabs(want), -22);
    return std::fabs(got - want) <= tol;
}

bool plan_runs(const std::string& plan, Variant v, std::optional<GemmKernel> kernel) {
    if (v == Variant::coopmat) return plan.rfind("coopmat.coopmat", 0) == 0;
    const std::string tier = "." + std::string(to_string(v)) + " ";
    if (plan.find(tier) == std::string::npos) return false;
    return !kernel || plan.rfind(std::string(to_string(*kernel)) + ".", 0) == 0;
}

std::string run_case(Context& ctx, Variant v, std::optional<GemmKernel> kernel, const Case& t, unsigned seed) {
    const DType dt = variant_dtype(v == Variant::coopmat ? Variant::f16s : v);
    const bool f16 = dt == DType::f16;
    const DType ct = (!f16 || t.out_f32) ? DType::f32 : DType::f16;
    const int ba = t.a_batched ? t.batch : 1, bb = t.b_batched ? t.batch : 1;
    const auto a = test::random_values(std::size_t(ba) * t.m * t.k, -1, 1, seed, f16);
    const auto b = test::random_values(std::size_t(bb) * t.k * t.n, -1, 1, seed + 1, f16);
    const auto c0 = test::random_values(std::size_t(t.batch) * t.m * t.n, -1, 1, seed + 2, ct == DType::f16);
    const auto bias = test::random_values(t.bias_mode == 2 ? t.m : t.n, -1, 1, seed + 3, f16);

    auto shape2 = [](int rows, int cols, bool transposed) { return transposed ? Shape{cols, rows} : Shape{rows, cols}; };
    Shape sa = shape2(t.m, t.k, t.trans_a), sb = shape2(t.k, t.n, t.trans_b);
    if (t.a_batched) sa.insert(sa.begin(), t.batch);
    if (t.b_batched) sb.insert(sb.begin(), t.batch);
    const Shape sc = t.batch > 1 ? Shape{t.batch, t.m, t.n} : Shape{t.m, t.n};
    Tensor ta = Tensor::from_floats(ctx, sa, dt, a), tb = Tensor::from_floats(ctx, sb, dt, b);
    Tensor tc = Tensor::from_floats(ctx, sc, ct, c0);
    Tensor tbias = Tensor::from_floats(ctx, {int64_t(bias.size())}, dt, bias);

    GemmOptions o;
    o.trans_a = t.trans_a;
    o.trans_b = t.trans_b;
    o.alpha = t.alpha;
    o.beta = t.beta;
    o.bias = t.bias_mode ? &tbias : nullptr;
    o.bias_mode = t.bias_mode == 2 ? BiasMode::per_row : BiasMode::per_column;
    o.relu = t.relu;
    o.split_k = t.split_k;
    o.variant = v;
    o.kernel = kernel;
    o.coopmat_tile = t.tile;
    const std::string plan = describe_gemm(ctx, ta, tb, tc, o);
    CAPTURE(plan);
    CHECK_MESSAGE(plan_runs(plan, v, kernel), "asked for " << to_string(v) << ", planned " << plan);
    gemm(ctx, ta, tb, tc, o);

    ref::GemmArgs g{t.m, t.n, t.k, t.batch, t.trans_a, t.trans_b, t.a_batched, t.b_batched, t.alpha, t.beta,
                    t.bias_mode, t.relu};
    std::vector<double> mag;
    const auto want = ref::gemm(g, a, b, c0, bias, mag);
    const auto got = tc.to_floats();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!gemm_close(got[i], want[i], mag[i] + std::fabs(t.beta * c0[i]) + 1.0, t.k, v, ct == DType::f16) && bad++ < 5)
            MESSAGE("C[" << i << "] = " << got[i] << ", want " << want[i]);
    CHECK(bad == 0);
    return plan;
}

void check_fp32_accumulation(Context& ctx, Variant v, std::optional<GemmKernel> kernel) {
    const int m = 3, k = 16, n = 5;
    std::vector<float> a(m * k), b(k * n, 1.0f);
    for (int j = 0; j < k; ++j) {
        a[j] = j < 8 ? 1e4f : -1e4f;
        a[k + j] = 1e4f;
        a[2 * k + j] = j % 2 ? 1e4f : -1e4f;
    }
    Tensor ta = Tensor::from_floats(ctx, {m, k}, DType::f16, a);
    Tensor tb = Tensor::from_floats(ctx, {k, n}, DType::f16, b);
    Tensor tc = Tensor::empty(ctx, {m, n}, DType::f32);
    GemmOptions o;
    o.variant = v;
    o.kernel = kernel;
    const std::string plan = describe_gemm(ctx, ta, tb, tc, o);
    CAPTURE(plan);
    CHECK(plan_runs(plan, v, kernel));
    gemm(ctx, ta, tb, tc, o);
    const auto c = tc.to_floats();
    for (int j = 0; j < n; ++j) {
        CHECK(c[j] == 0.0f);
        CHECK(c[n + j] == 160000.0f);  // 1e4 * 16, exact in fp32
        CHECK(c[2 * n + j] == 0.0f);
    }
}

void run_padded_view_case(Context& ctx, Variant v, std::optional<GemmKernel> kernel, const PaddedView& w, bool ta,
                          bool tb) {
    const float nan = std::nanf("");
    const bool f16 = v != Variant::f32;
    const DType dt = f16 ? DType::f16 : DType::f32;
    // op(A) [m, k] stored as rows x cols with pitch ld; one matrix per batch.
    const int a_rows = ta ? w.k : w.m, a_cols = ta ? w.m : w.k;
    const int b_rows = tb ? w.n : w.k, b_cols = tb ? w.k : w.n;
    const uint32_t lda = uint32_t((a_cols + 3) / 4 * 4 + 4), ldb = uint32_t((b_cols + 3) / 4 * 4);
    const uint32_t ldc = uint32_t(w.n + 3);
    const uint32_t sa = lda * uint32_t(a_rows) + 8, sb = ldb * uint32_t(b_rows) + 4;
    const uint32_t sc = ldc * uint32_t(w.m) + 1;
    const auto a = test::random_values(std::size_t(w.batch) * w.m * w.k, -1, 1, 11 + ta + 2 * tb, f16);
    const auto b = test::random_values(std::size_t(w.batch) * w.k * w.n, -1, 1, 12 + ta + 2 * tb, f16);
    std::vector<float> pa(std::size_t(sa) * w.batch, nan), pb(std::size_t(sb) * w.batch, nan);
    std::vector<float> pc(std::size_t(sc) * w.batch, 7.0f);
    for (int i = 0; i < w.batch; ++i) {
        for (int r = 0; r < a_rows; ++r)
            for (int c = 0; c < a_cols; ++c)
                pa[i * sa + r * lda + c] = a[(std::size_t(i) * a_rows + r) * a_cols + c];
        for (int r = 0; r < b_rows; ++r)
            for (int c = 0; c < b_cols; ++c)
                pb[i * sb + r * ldb + c] = b[(std::size_t(i) * b_rows + r) * b_cols + c];
    }
    Tensor tA = Tensor::from_floats(ctx, {int64_t(pa.size())}, dt, pa);
    Tensor tB = Tensor::from_floats(ctx, {int64_t(pb.size())}, dt, pb);
    Tensor tC = Tensor::from_floats(ctx, {int64_t(pc.size())}, DType::f32, pc);
    GemmOptions o;
    o.trans_a = ta;
    o.trans_b = tb;
    o.variant = v;
    o.kernel = kernel;
    detail::GemmShape gs;
    gs.m = uint32_t(w.m), gs.n = uint32_t(w.n), gs.k = uint32_t(w.k), gs.batch = uint32_t(w.batch);
    gs.lda = lda, gs.ldb = ldb, gs.ldc = ldc, gs.stride_a = sa, gs.stride_b = sb, gs.stride_c = sc;
    detail::CommandList cl(ctx.impl());
    detail::record_gemm_strided(cl, ctx, tA, tB, tC, o, gs);
    CHECK_MESSAGE(plan_runs(detail::plan_gemm(ctx.caps(), gs, tA, tB, tC, o).describe(), v, kernel), "planned "
                  << detail::plan_gemm(ctx.caps(), gs, tA, tB, tC, o).describe());
    cl.submit_and_wait();

    ref::GemmArgs g{w.m, w.n, w.k, w.batch, ta, tb, true, true, 1.0f, 0.0f, 0, false};
    std::vector<double> mag;
    const auto want = ref::gemm(g, a, b, std::vector<float>(std::size_t(w.batch) * w.m * w.n), {}, mag);
    const auto got = tC.to_floats();
    std::size_t bad = 0, pads = 0;
    for (int i = 0; i < w.batch; ++i)
        for (int r = 0; r < w.m; ++r)
            for (int c = 0; c < int(ldc); ++c) {
                const float x = got[i * sc + r * ldc + c];
                if (c >= w.n) {
                    pads += x != 7.0f;
                    continue;
                }
                const std::size_t e = (std::size_t(i) * w.m + r) * w.n + c;
                if (!gemm_close(x, want[e], mag[e] + 1.0, w.k, v, false) && bad++ < 5)
                    MESSAGE("C[" << i << "," << r << "," << c << "] = " << x << ", want " << want[e]);
            }
    CHECK(bad == 0);
    CHECK(pads == 0);
    for (int i = 0; i < w.batch; ++i) CHECK(got[i * sc + sc - 1] == 7.0f);  // past the last row
}

} // namespace test
