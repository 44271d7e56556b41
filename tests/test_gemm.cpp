// GEMM in every tier and kernel, all transpose combinations, batches, epilogues and split-K,
// against the fp64 reference; fp32 accumulation proven with fp16-range inputs.
// Kernels: gemm_tiled.comp and gemm_regblock.comp (forced in turn, every tier), gemm_splitk_reduce.comp
// (the split-K cases), gemm_coopmat.comp (its own case, run where the device has cooperative matrix).
#include <doctest/doctest.h>

#include <cmath>

#include "ops/gemm.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

struct Case {
    int m, n, k, batch = 1;
    bool trans_a = false, trans_b = false, a_batched = false, b_batched = false;
    float alpha = 1, beta = 0;
    int bias_mode = 0;
    bool relu = false;
    bool out_f32 = false;     // f16 inputs: C in fp32
    uint32_t split_k = 1;
};

// Tolerance per element: fp32 accumulation error bound (k+2 fp32 ulps of sum |a b|), plus the
// f16a tier's fp16 products (one fp16 rounding of each: 2^-11 of sum |a b|), plus one ulp of the
// output's storage type (either rounding direction) and the smallest fp16 subnormal.
bool close(double got, double want, double magnitude, int k, Variant v, bool out_f16) {
    double tol = (k + 2) * std::ldexp(magnitude, -23) + 1e-30;
    if (v == Variant::f16a) tol += std::ldexp(magnitude, -11);
    if (out_f16) tol += std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24);
    else tol += std::ldexp(std::fabs(want), -22);
    return std::fabs(got - want) <= tol;
}

void run_case(Context& ctx, Variant v, std::optional<GemmKernel> kernel, const Case& t, unsigned seed) {
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
    CAPTURE(describe_gemm(ctx, ta, tb, tc, o));
    gemm(ctx, ta, tb, tc, o);

    ref::GemmArgs g{t.m, t.n, t.k, t.batch, t.trans_a, t.trans_b, t.a_batched, t.b_batched, t.alpha, t.beta,
                    t.bias_mode, t.relu};
    std::vector<double> mag;
    const auto want = ref::gemm(g, a, b, c0, bias, mag);
    const auto got = tc.to_floats();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!close(got[i], want[i], mag[i] + std::fabs(t.beta * c0[i]) + 1.0, t.k, v, ct == DType::f16) && bad++ < 5)
            MESSAGE("C[" << i << "] = " << got[i] << ", want " << want[i]);
    CHECK(bad == 0);
}

// Kernels to test in each tier on this device: the default one, and both portable kernels.
std::vector<std::optional<GemmKernel>> kernels() {
    return {GemmKernel::regblock, GemmKernel::tiled};
}

// 1, primes, non-multiples of every tile; and shapes whose contiguous dimensions are multiples of 4
// (the regblock kernel's vec4 and shared-A paths) with edges in M and N and a K tail.
const Case kShapes[] = {{1, 1, 1},      {7, 13, 5},   {33, 17, 65},  {64, 64, 64},
                        {100, 37, 129}, {2, 130, 3},  {4, 4, 4},     {132, 68, 40},
                        {36, 20, 70},   {68, 132, 200},
                        {3, 4500, 6}};  // wider than the small device's 64 workgroups: several dispatches

} // namespace

TEST_SUITE("gemm") {

TEST_CASE("gemm: every tier, kernel and transpose combination matches fp64 over odd shapes") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                for (auto kernel : kernels()) {
                    for (int tr = 0; tr < 4; ++tr) {
                        for (const Case& s : kShapes) {
                            Case t = s;
                            t.trans_a = tr & 1;
                            t.trans_b = tr & 2;
                            CAPTURE(d.label);
                            CAPTURE(to_string(v));
                            CAPTURE(tr);
                            CAPTURE(t.m);
                            CAPTURE(t.n);
                            CAPTURE(t.k);
                            run_case(*d.ctx, v, kernel, t, unsigned(t.m * 31 + t.n * 7 + t.k + tr));
                        }
                    }
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

// Views into wider buffers, as the lowered convolution uses them: leading dimensions past the row
// (a multiple of 4, so the regblock kernel reads four-wide up to the pitch) and batch strides
// past the matrix. Pads hold NaN in A and B (a result that reads one is NaN) and a sentinel in C
// (which must survive).
TEST_CASE("gemm over padded views: leading dimensions and batch strides past the data, every tier and kernel") {
    struct View {
        int m, n, k, batch;
    };
    const View views[] = {{7, 13, 5, 1}, {33, 17, 65, 2}, {37, 101, 44, 3}};
    const float nan = std::nanf("");
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                for (auto kernel : kernels()) {
                    for (int tr = 0; tr < 4; ++tr) {
                        for (const View& w : views) {
                            const bool ta = tr & 1, tb = tr & 2, f16 = dt == DType::f16;
                            CAPTURE(d.label);
                            CAPTURE(to_string(v));
                            CAPTURE(tr);
                            CAPTURE(w.m);
                            // op(A) [m, k] stored as rows x cols with pitch ld; one matrix per batch.
                            const int a_rows = ta ? w.k : w.m, a_cols = ta ? w.m : w.k;
                            const int b_rows = tb ? w.n : w.k, b_cols = tb ? w.k : w.n;
                            const uint32_t lda = uint32_t((a_cols + 3) / 4 * 4 + 4), ldb = uint32_t((b_cols + 3) / 4 * 4);
                            const uint32_t ldc = uint32_t(w.n + 3);
                            const uint32_t sa = lda * uint32_t(a_rows) + 8, sb = ldb * uint32_t(b_rows) + 4;
                            const uint32_t sc = ldc * uint32_t(w.m) + 1;
                            const auto a = test::random_values(std::size_t(w.batch) * w.m * w.k, -1, 1, 11 + tr, f16);
                            const auto b = test::random_values(std::size_t(w.batch) * w.k * w.n, -1, 1, 12 + tr, f16);
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
                            Tensor tA = Tensor::from_floats(*d.ctx, {int64_t(pa.size())}, dt, pa);
                            Tensor tB = Tensor::from_floats(*d.ctx, {int64_t(pb.size())}, dt, pb);
                            Tensor tC = Tensor::from_floats(*d.ctx, {int64_t(pc.size())}, DType::f32, pc);
                            GemmOptions o;
                            o.trans_a = ta;
                            o.trans_b = tb;
                            o.variant = v;
                            o.kernel = kernel;
                            detail::GemmShape gs;
                            gs.m = uint32_t(w.m), gs.n = uint32_t(w.n), gs.k = uint32_t(w.k), gs.batch = uint32_t(w.batch);
                            gs.lda = lda, gs.ldb = ldb, gs.ldc = ldc, gs.stride_a = sa, gs.stride_b = sb, gs.stride_c = sc;
                            detail::CommandList cl(d.ctx->impl());
                            detail::record_gemm_strided(cl, *d.ctx, tA, tB, tC, o, gs);
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
                                        if (!close(x, want[e], mag[e] + 1.0, w.k, v, false) && bad++ < 5)
                                            MESSAGE("C[" << i << "," << r << "," << c << "] = " << x << ", want " << want[e]);
                                    }
                            CHECK(bad == 0);
                            CHECK(pads == 0);
                            for (int i = 0; i < w.batch; ++i) CHECK(got[i * sc + sc - 1] == 7.0f);  // past the last row
                        }
                    }
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gemm over views refuses a view that leaves its tensor or a leading dimension shorter than its row") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {40}, DType::f32), b = Tensor::empty(ctx, {40}, DType::f32);
    Tensor c = Tensor::empty(ctx, {40}, DType::f32);
    detail::GemmShape gs;
    gs.m = 4, gs.n = 4, gs.k = 4, gs.lda = 4, gs.ldb = 4, gs.ldc = 4;
    detail::CommandList cl(ctx.impl());
    CHECK_NOTHROW(detail::record_gemm_strided(cl, ctx, a, b, c, {}, gs));
    gs.lda = 3;  // shorter than a row of 4
    CHECK_THROWS_WITH_AS(detail::record_gemm_strided(cl, ctx, a, b, c, {}, gs), doctest::Contains("leading dimension 3"),
                         ShapeError);
    gs.lda = 4, gs.batch = 3, gs.stride_a = 16, gs.stride_b = 0, gs.stride_c = 0;  // A's third matrix ends at 48 > 40
    CHECK_THROWS_WITH_AS(detail::record_gemm_strided(cl, ctx, a, b, c, {}, gs), doctest::Contains("A view"), ShapeError);
}

TEST_CASE("gemm epilogues: bias per column and per row, relu, alpha and beta, fp32 output of f16 inputs") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                // Forward of a Linear layer: Y = X W^T + b, relu.
                run_case(*d.ctx, v, std::nullopt, {45, 19, 33, 1, false, true, false, false, 1, 0, 1, true}, 1);
                // Per-row bias, alpha and beta, the dW-like transposed product.
                run_case(*d.ctx, v, std::nullopt, {23, 31, 17, 1, true, false, false, false, -0.5f, 2, 2, false}, 2);
                if (dt == DType::f16)
                    run_case(*d.ctx, v, std::nullopt, {29, 11, 70, 1, false, false, false, false, 1, 0.25f, 1, false, true}, 3);
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gemm batches: strided A and B, and a B shared by every batch") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            const Variant v = default_variant(d.ctx->caps(), dt);
            CAPTURE(d.label);
            CAPTURE(to_string(v));
            run_case(*d.ctx, v, std::nullopt, {9, 14, 21, 3, false, false, true, true}, 4);
            run_case(*d.ctx, v, std::nullopt, {9, 14, 21, 4, false, true, true, false, 1, 0, 1}, 5);
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gemm split-K: partial sums reduced in fp32 with the epilogue, in every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                // The weight gradient dW = dY^T X with a large batch: tall-skinny, K = 1000.
                Case t{10, 24, 1000, 1, true, false};
                t.split_k = 5;
                run_case(*d.ctx, v, std::nullopt, t, 6);
                t.beta = 1;
                t.bias_mode = 1;
                t.relu = true;
                t.split_k = 3;
                run_case(*d.ctx, v, std::nullopt, t, 7);
                // Aligned (vec4) operands, a K tail in the last slice: 1002 = 4*208 + 170.
                Case aligned{64, 32, 1002, 1, true, false};
                aligned.split_k = 5;
                run_case(*d.ctx, v, std::nullopt, aligned, 8);
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gemm split-K is chosen automatically for few output tiles and a long K") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {4096, 10}, DType::f16), b = Tensor::empty(ctx, {4096, 64}, DType::f16);
    Tensor c = Tensor::empty(ctx, {10, 64}, DType::f32);
    GemmOptions o;
    o.trans_a = true;
    CHECK(describe_gemm(ctx, a, b, c, o).find("split-K") != std::string::npos);
    Tensor square_a = Tensor::empty(ctx, {512, 512}, DType::f16), square_c = Tensor::empty(ctx, {512, 512}, DType::f16);
    CHECK(describe_gemm(ctx, square_a, square_a, square_c).find("split-K") == std::string::npos);
}

TEST_CASE("gemm on a CPU device takes the register-blocked vec4 path with shared op(A) for aligned shapes") {
    auto& ctx = test::full_device();
    if (!ctx.caps().is_cpu) return;
    Tensor a = Tensor::empty(ctx, {132, 40}, DType::f16), b = Tensor::empty(ctx, {40, 68}, DType::f16);
    Tensor c = Tensor::empty(ctx, {132, 68}, DType::f16);
    const std::string plan = describe_gemm(ctx, a, b, c);
    CHECK(plan.find("regblock") == 0);
    CHECK(plan.find("vec4") != std::string::npos);
    if (ctx.caps().min_subgroup_size == ctx.caps().max_subgroup_size && ctx.caps().subgroup_size <= 32)
        CHECK(plan.find("shared-A") != std::string::npos);
    Tensor odd = Tensor::empty(ctx, {7, 13}, DType::f16), odd_b = Tensor::empty(ctx, {13, 5}, DType::f16);
    Tensor odd_c = Tensor::empty(ctx, {7, 5}, DType::f16);
    CHECK(describe_gemm(ctx, odd, odd_b, odd_c).find("vec4") == std::string::npos);
}

TEST_CASE("gemm accumulates in fp32: partial sums past 65504 cancel exactly, in every tier") {
    for (auto& d : test::devices()) {
        for (Variant v : test::variants(*d.ctx, DType::f16)) {
            for (auto kernel : kernels()) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                // Row i of A: eight 1e4 then eight -1e4 (|x| ~ 1e4, exact in fp16); B all ones.
                // Running sums reach 8e4 > 65504 (an fp16 accumulator overflows to inf); fp32 gives 0,
                // and 1e4 * 16 = 1.6e5 for the all-positive row.
                const int m = 3, k = 16, n = 5;
                std::vector<float> a(m * k), b(k * n, 1.0f);
                for (int j = 0; j < k; ++j) {
                    a[j] = j < 8 ? 1e4f : -1e4f;
                    a[k + j] = 1e4f;
                    a[2 * k + j] = j % 2 ? 1e4f : -1e4f;
                }
                Tensor ta = Tensor::from_floats(*d.ctx, {m, k}, DType::f16, a);
                Tensor tb = Tensor::from_floats(*d.ctx, {k, n}, DType::f16, b);
                Tensor tc = Tensor::empty(*d.ctx, {m, n}, DType::f32);
                GemmOptions o;
                o.variant = v;
                o.kernel = kernel;
                gemm(*d.ctx, ta, tb, tc, o);
                const auto c = tc.to_floats();
                for (int j = 0; j < n; ++j) {
                    CHECK(c[j] == 0.0f);
                    CHECK(c[n + j] == 160000.0f);
                    CHECK(c[2 * n + j] == 0.0f);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("gemm rejects mismatched shapes, dtypes and bias with a message naming the operands") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {4, 5}, DType::f16), b = Tensor::empty(ctx, {6, 3}, DType::f16);
    Tensor c = Tensor::empty(ctx, {4, 3}, DType::f16);
    CHECK_THROWS_WITH_AS(gemm(ctx, a, b, c), doctest::Contains("A [4, 5]"), ShapeError);
    Tensor b_ok = Tensor::empty(ctx, {5, 3}, DType::f16), wrong_c = Tensor::empty(ctx, {3, 4}, DType::f16);
    CHECK_THROWS_AS(gemm(ctx, a, b_ok, wrong_c), ShapeError);
    Tensor b32 = Tensor::empty(ctx, {5, 3}, DType::f32);
    CHECK_THROWS_AS(gemm(ctx, a, b32, c), DTypeError);
    Tensor a32 = Tensor::empty(ctx, {4, 5}, DType::f32);
    CHECK_THROWS_AS(gemm(ctx, a32, b32, c), DTypeError);  // f32 inputs need f32 C
    Tensor bias = Tensor::empty(ctx, {4}, DType::f16);
    GemmOptions o;
    o.bias = &bias;  // per column: needs [3]
    CHECK_THROWS_AS(gemm(ctx, a, b_ok, c, o), ShapeError);
    GemmOptions cm;
    cm.variant = Variant::coopmat;
    if (!ctx.caps().supports(Variant::coopmat)) CHECK_THROWS_AS(gemm(ctx, a, b_ok, c, cm), UnsupportedError);
    test::check_validation(ctx);
}

TEST_CASE("gemm coopmat variant matches fp64 where the device has VK_KHR_cooperative_matrix") {
    auto& ctx = test::full_device();
    if (!ctx.caps().supports(Variant::coopmat) || !VKHALF_COOPMAT_SHADERS_BUILT) {
        MESSAGE("no cooperative matrix on " << ctx.caps().name << " (or not built): skipped");
        return;
    }
    for (int tr = 0; tr < 4; ++tr)
        for (const Case& s : kShapes) {
            Case t = s;
            t.trans_a = tr & 1;
            t.trans_b = tr & 2;
            CAPTURE(tr);
            CAPTURE(t.m);
            run_case(ctx, Variant::coopmat, std::nullopt, t, unsigned(t.m + tr));
        }
    run_case(ctx, Variant::coopmat, std::nullopt, {45, 19, 33, 1, false, true, false, false, 1, 0, 1, true}, 1);
    run_case(ctx, Variant::coopmat, std::nullopt, {29, 11, 70, 1, false, false, false, false, 1, 0.25f, 1, false, true}, 3);
    Case split{10, 24, 1000, 1, true, false};
    split.split_k = 4;
    run_case(ctx, Variant::coopmat, std::nullopt, split, 6);
    run_case(ctx, Variant::coopmat, std::nullopt, {300, 200, 500, 2, false, true, true, false}, 8);
    test::check_validation(ctx);
}

TEST_CASE("bias_grad: column and row sums in fp32 in every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const int rows = 517, cols = 33;
                const auto dy = test::random_values(rows * cols, -1, 1, 9, dt == DType::f16);
                Tensor tdy = Tensor::from_floats(*d.ctx, {rows, cols}, dt, dy);
                for (BiasMode mode : {BiasMode::per_column, BiasMode::per_row}) {
                    for (DType out : {DType::f32, dt}) {
                        const int outputs = mode == BiasMode::per_column ? cols : rows;
                        Tensor db = Tensor::empty(*d.ctx, {outputs}, out);
                        bias_grad(*d.ctx, tdy, db, mode, {v});
                        const auto got = db.to_floats();
                        std::size_t bad = 0;
                        for (int o = 0; o < outputs; ++o) {
                            double want = 0, mag = 0;
                            const int len = mode == BiasMode::per_column ? rows : cols;
                            for (int i = 0; i < len; ++i) {
                                const float x = mode == BiasMode::per_column ? dy[i * cols + o] : dy[o * cols + i];
                                want += x;
                                mag += std::fabs(x);
                            }
                            bad += !close(got[o], want, mag, len, Variant::f32, out == DType::f16);
                        }
                        CHECK(bad == 0);
                    }
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

} // TEST_SUITE
