// GEMM in every tier and kernel, all transpose combinations, batches, epilogues and split-K,
// against the fp64 reference; fp32 accumulation proven with fp16-range inputs.
// Kernels: gemm_tiled.comp and gemm_regblock.comp (forced in turn, every tier), gemm_splitk_reduce.comp
// (the split-K cases). gemm_coopmat.comp has a suite of its own, test_coopmat.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>

#include "kernels/gemm.hpp"
#include "kernels/record.hpp"
#include "gemm_cases.hpp"
#include "reference/reference.hpp"
#include "runtime/kernel_policy.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

using test::Case;
using test::run_case;

// Kernels to test in each tier on this device: the default one, and both portable kernels.
std::vector<std::optional<GemmKernel>> kernels() {
    return {GemmKernel::regblock, GemmKernel::tiled};
}

using test::kShapes;

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
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                for (auto kernel : kernels()) {
                    for (int tr = 0; tr < 4; ++tr) {
                        for (const auto& w : test::kPaddedViews) {
                            CAPTURE(d.label);
                            CAPTURE(to_string(v));
                            CAPTURE(tr);
                            CAPTURE(w.m);
                            test::run_padded_view_case(*d.ctx, v, kernel, w, tr & 1, tr & 2);
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
                test::check_fp32_accumulation(*d.ctx, v, kernel);
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
                        // Then in accumulate mode (the compiler's fold of a bias used twice): db += the
                        // sums, rounded once.
                        {
                            detail::CommandList cl(d.ctx->impl());
                            detail::record_bias_grad(cl, d.ctx->impl(), tdy, db, mode, {v}, true);
                            cl.submit_and_wait();
                        }
                        const auto twice = db.to_floats();
                        std::size_t bad = 0, bad_twice = 0;
                        const int len = mode == BiasMode::per_column ? rows : cols;
                        for (int o = 0; o < outputs; ++o) {
                            double want = 0, mag = 0;
                            for (int i = 0; i < len; ++i) {
                                const float x = mode == BiasMode::per_column ? dy[i * cols + o] : dy[o * cols + i];
                                want += x;
                                mag += std::fabs(x);
                            }
                            bad += !test::gemm_close(got[o], want, mag, len, Variant::f32, out == DType::f16);
                            bad_twice += !test::gemm_close(twice[o], got[o] + want, mag + std::fabs(got[o]), len + 1,
                                                           Variant::f32, out == DType::f16);
                        }
                        CHECK(bad == 0);
                        CHECK(bad_twice == 0);
                    }
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

} // TEST_SUITE

// The GEMM kernel policy (runtime/kernel_policy.cpp): what each device type runs by default,
// what an override may and may not force. Checked on the device at hand (lavapipe of Mesa 25 and
// of Mesa 26.1 in CI, the second with cooperative matrices) and on described devices.
TEST_SUITE("gemm") {

TEST_CASE("gemm policy: a CPU device runs regblock, cooperative matrices or not; describe_gemm follows the policy") {
    auto& ctx = test::full_device();
    const DeviceCaps& caps = ctx.caps();
    CAPTURE(caps.gemm_policy);
    CHECK_FALSE(caps.gemm_policy.empty());
    if (caps.is_cpu && caps.subgroup_shuffle) {
        CHECK(caps.gemm_f16 == GemmKernel::regblock);
        CHECK(caps.gemm_f32 == GemmKernel::regblock);
    } else if (!caps.is_cpu && caps.supports(Variant::coopmat) && VKHALF_COOPMAT_SHADERS_BUILT) {
        CHECK(caps.gemm_f16 == GemmKernel::coopmat);
        CHECK(caps.gemm_f32 == GemmKernel::tiled);
    }
    Tensor a = Tensor::empty(ctx, {64, 64}, DType::f16), c = Tensor::empty(ctx, {64, 64}, DType::f16);
    CHECK(describe_gemm(ctx, a, a, c).rfind(std::string(to_string(caps.gemm_f16)) + ".", 0) == 0);
    Tensor a32 = Tensor::empty(ctx, {64, 64}, DType::f32), c32 = Tensor::empty(ctx, {64, 64}, DType::f32);
    CHECK(describe_gemm(ctx, a32, a32, c32).rfind(std::string(to_string(caps.gemm_f32)) + ".", 0) == 0);
    // A forced portable tier takes the portable kernel, even where f16 defaults to coopmat.
    GemmOptions tier;
    tier.variant = Variant::f16p;
    CHECK(describe_gemm(ctx, a, a, c, tier).rfind(std::string(to_string(caps.gemm_f32)) + ".f16p", 0) == 0);
    test::check_validation(ctx);
}

TEST_CASE("gemm policy on described devices: GPU with and without cooperative matrices, CPU, overrides") {
    DeviceCaps gpu;
    gpu.name = "a GPU";
    gpu.storage16 = gpu.float16_arith = gpu.subgroup_shuffle = true;
    DeviceCaps cpu = gpu;
    cpu.name = "a CPU";
    cpu.is_cpu = true;
    auto with_coopmat = [](DeviceCaps c) {
        c.coopmat_extension = true;
        c.coopmat_shapes = {{16, 16, 16}};
        return c;
    };

    DeviceCaps g = gpu;
    detail::choose_gemm_policy(g, std::nullopt);
    CHECK(g.gemm_f16 == GemmKernel::tiled);
    CHECK(g.gemm_f32 == GemmKernel::tiled);

    DeviceCaps gc = with_coopmat(gpu);
    detail::choose_gemm_policy(gc, std::nullopt);
    CHECK(gc.gemm_f16 == (VKHALF_COOPMAT_SHADERS_BUILT ? GemmKernel::coopmat : GemmKernel::tiled));
    CHECK(gc.gemm_f32 == GemmKernel::tiled);

    DeviceCaps cc = with_coopmat(cpu);
    detail::choose_gemm_policy(cc, std::nullopt);
    CHECK(cc.gemm_f16 == GemmKernel::regblock);  // lavapipe 26.1: coopmat runs, several times slower
    CHECK(cc.gemm_f32 == GemmKernel::regblock);

    DeviceCaps no_shuffle = cpu;
    no_shuffle.subgroup_shuffle = false;
    detail::choose_gemm_policy(no_shuffle, std::nullopt);
    CHECK(no_shuffle.gemm_f32 == GemmKernel::tiled);

    // Overrides: any kernel the device runs; coopmat applies to f16 only; one it cannot run is refused.
    DeviceCaps forced = with_coopmat(cpu);
    if (VKHALF_COOPMAT_SHADERS_BUILT) {
        detail::choose_gemm_policy(forced, GemmKernel::coopmat);
        CHECK(forced.gemm_f16 == GemmKernel::coopmat);
        CHECK(forced.gemm_f32 == GemmKernel::regblock);
        CHECK(forced.gemm_policy.find("coopmat") != std::string::npos);
    }
    DeviceCaps tiled = cpu;
    detail::choose_gemm_policy(tiled, GemmKernel::tiled);
    CHECK(tiled.gemm_f16 == GemmKernel::tiled);
    CHECK(tiled.gemm_f32 == GemmKernel::tiled);
    DeviceCaps off = gpu;
    off.coopmat_off_reason = "VK_KHR_cooperative_matrix without vulkanMemoryModelDeviceScope";
    CHECK_THROWS_WITH_AS(detail::choose_gemm_policy(off, GemmKernel::coopmat),
                         doctest::Contains("vulkanMemoryModelDeviceScope"), UnsupportedError);
    CHECK_THROWS_AS(detail::choose_gemm_policy(no_shuffle, GemmKernel::regblock), UnsupportedError);

    // The environment override, and a misspelt one.
    ::setenv("VKHALF_GEMM_KERNEL", "tiled", 1);
    DeviceCaps env = cpu;
    detail::choose_gemm_policy(env, std::nullopt);
    CHECK(env.gemm_f32 == GemmKernel::tiled);
    CHECK(env.gemm_policy.find("VKHALF_GEMM_KERNEL") != std::string::npos);
    ::setenv("VKHALF_GEMM_KERNEL", "fastest", 1);
    DeviceCaps bad = cpu;
    CHECK_THROWS_WITH_AS(detail::choose_gemm_policy(bad, std::nullopt), doctest::Contains("regblock, tiled or coopmat"),
                         Error);
    // Listing devices never fails for an override that one of them cannot honour.
    ::setenv("VKHALF_GEMM_KERNEL", "coopmat", 1);
    const auto listed = list_devices();
    CHECK_FALSE(listed.empty());
    for (const auto& d : listed) {
        CAPTURE(d.caps.gemm_policy);
        if (d.caps.supports(Variant::coopmat) && VKHALF_COOPMAT_SHADERS_BUILT)
            CHECK(d.caps.gemm_f16 == GemmKernel::coopmat);
        else
            CHECK(d.caps.gemm_policy.find("would fail") != std::string::npos);
    }
    ::unsetenv("VKHALF_GEMM_KERNEL");
}

TEST_CASE("gemm policy through DeviceOptions: a Context with another default kernel runs it") {
    vkhalf::ContextOptions o;
    o.device_index = test::full_device().device_index();
    o.device.gemm_kernel = GemmKernel::tiled;
    Context ctx(o);
    CHECK(ctx.caps().gemm_f16 == GemmKernel::tiled);
    Tensor a = Tensor::empty(ctx, {8, 8}, DType::f16), c = Tensor::empty(ctx, {8, 8}, DType::f16);
    CHECK(describe_gemm(ctx, a, a, c).rfind("tiled.", 0) == 0);
    test::check_validation(ctx);
}

} // TEST_SUITE
