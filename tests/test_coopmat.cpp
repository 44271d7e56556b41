// gemm_coopmat.comp forced on every cooperative-matrix shape the device lists, one Context per
// shape (test::coopmat_devices), against the fp64 reference: every transpose over odd shapes
// (1, primes, non-multiples of the tile), batches (a shared 2-D operand too), alpha/beta, bias per
// row and per column, ReLU, split-K, fp16 and fp32 outputs, views with leading dimensions and NaN
// pads, fp32 accumulation. Each case checks through describe_gemm that the cooperative-matrix
// kernel is the one that ran, so a silent fall-back fails. The convolution lowered onto it is in
// test_conv.cpp (same suite). Runs where the device has cooperative matrices: lavapipe from
// Mesa 26.1 (scripts/run-mesa26.sh, CI's second driver) and GPUs.
#include <doctest/doctest.h>

#include "gemm_cases.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

// The shape the Context was restricted to appears in the plan: "coopmat.coopmat 32x32 (8x8x8)".
void check_shape(Context& ctx, const std::string& plan) {
    const CoopmatShape s = ctx.caps().coopmat_shapes.at(0);
    const std::string want = "(" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + ")";
    CHECK_MESSAGE(plan.find(want) != std::string::npos, "plan " << plan << " does not use " << want);
}

} // namespace

TEST_SUITE("coopmat") {

TEST_CASE("coopmat gemm: every transpose over odd shapes matches fp64, on every listed shape") {
    for (auto& d : test::coopmat_devices()) {
        for (int tr = 0; tr < 4; ++tr) {
            for (const test::Case& s : test::kShapes) {
                test::Case t = s;
                t.trans_a = tr & 1;
                t.trans_b = tr & 2;
                CAPTURE(d.label);
                CAPTURE(tr);
                CAPTURE(t.m);
                CAPTURE(t.n);
                CAPTURE(t.k);
                check_shape(*d.ctx, test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, unsigned(t.m * 31 + t.n * 7 + t.k + tr)));
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm epilogues: alpha, beta, bias per column and per row, relu, fp16 and fp32 outputs") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        // Linear's forward (Y = X W^T + b, relu); a per-row bias with alpha and beta on the
        // dW-like transposed product; both transposes with beta, relu without bias, K off the tile.
        const test::Case cases[] = {{45, 19, 33, 1, false, true, false, false, 1, 0, 1, true},
                                    {23, 31, 17, 1, true, false, false, false, -0.5f, 2, 2, false},
                                    {29, 11, 70, 1, true, true, false, false, 1.5f, 0.25f, 0, true}};
        for (bool out_f32 : {false, true}) {
            for (const test::Case& c : cases) {
                test::Case t = c;
                t.out_f32 = out_f32;
                CAPTURE(out_f32);
                CAPTURE(t.m);
                test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, unsigned(t.m + out_f32));
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm batches: strided A and B, a shared 2-D B, a shared 2-D A") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {9, 14, 21, 3, false, false, true, true}, 4);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {9, 14, 21, 4, false, true, true, false, 1, 0, 1}, 5);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {17, 10, 12, 3, true, false, false, true, 1, 0, 2, true}, 6);
        test::Case big{300, 200, 500, 2, false, true, true, false};
        big.out_f32 = true;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, big, 8);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm split-K: partial sums reduced in fp32 with the epilogue") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::Case t{10, 24, 1000, 1, true, false};
        t.split_k = 4;
        CHECK(test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, 6).find("split-K 4") != std::string::npos);
        t.beta = 1;
        t.bias_mode = 1;
        t.relu = true;
        t.split_k = 3;
        t.out_f32 = true;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, 7);
        test::Case aligned{64, 32, 1002, 1, true, false};
        aligned.split_k = 5;
        aligned.bias_mode = 2;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, aligned, 8);
        test::Case automatic{12, 40, 4096, 1, true, false};  // few output tiles, long K: split by the planner
        automatic.split_k = 0;
        automatic.out_f32 = true;
        CHECK(test::run_case(*d.ctx, Variant::coopmat, std::nullopt, automatic, 9).find("split-K") != std::string::npos);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm over padded views: leading dimensions and batch strides past the data, NaN in the pads") {
    for (auto& d : test::coopmat_devices()) {
        for (int tr = 0; tr < 4; ++tr) {
            for (const auto& w : test::kPaddedViews) {
                CAPTURE(d.label);
                CAPTURE(tr);
                CAPTURE(w.m);
                test::run_padded_view_case(*d.ctx, Variant::coopmat, std::nullopt, w, tr & 1, tr & 2);
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm accumulates in fp32: partial sums past 65504 cancel exactly") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::check_fp32_accumulation(*d.ctx, Variant::coopmat, GemmKernel::coopmat);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat requests that cannot run are refused, never silently replaced") {
    for (auto& d : test::coopmat_devices()) {
        Tensor a = Tensor::empty(*d.ctx, {4, 5}, DType::f32), b = Tensor::empty(*d.ctx, {5, 3}, DType::f32);
        Tensor c = Tensor::empty(*d.ctx, {4, 3}, DType::f32);
        GemmOptions o;
        o.kernel = GemmKernel::coopmat;
        CHECK_THROWS_WITH_AS(gemm(*d.ctx, a, b, c, o), doctest::Contains("f16"), DTypeError);
        Tensor h = Tensor::empty(*d.ctx, {4, 5}, DType::f16), hb = Tensor::empty(*d.ctx, {5, 3}, DType::f16);
        o.variant = Variant::f16s;  // the coopmat kernel has no f16s variant
        CHECK_THROWS_AS(gemm(*d.ctx, h, hb, c, o), UnsupportedError);
        GemmOptions conflict;
        conflict.variant = Variant::coopmat;
        conflict.kernel = GemmKernel::tiled;
        CHECK_THROWS_AS(gemm(*d.ctx, h, hb, c, conflict), UnsupportedError);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat switched off: a forced request says why, and the device is created without its features") {
    vkhalf::ContextOptions o;
    o.device_index = test::full_device().device_index();
    o.device.disable_coopmat = true;
    Context ctx(o);
    CHECK_FALSE(ctx.caps().supports(Variant::coopmat));
    CHECK(ctx.caps().gemm_f16 != GemmKernel::coopmat);
    Tensor a = Tensor::empty(ctx, {8, 8}, DType::f16), c = Tensor::empty(ctx, {8, 8}, DType::f16);
    GemmOptions forced;
    forced.kernel = GemmKernel::coopmat;
    if (VKHALF_COOPMAT_SHADERS_BUILT && test::full_device().caps().supports(Variant::coopmat))
        CHECK_THROWS_WITH_AS(gemm(ctx, a, a, c, forced), doctest::Contains("DeviceOptions::disable_coopmat"),
                             UnsupportedError);
    else
        CHECK_THROWS_AS(gemm(ctx, a, a, c, forced), UnsupportedError);
    gemm(ctx, a, a, c);  // the portable kernel runs, with no validation message
    vkhalf::ContextOptions shape = o;
    shape.device.disable_coopmat = false;
    shape.device.coopmat_shape = CoopmatShape{3, 5, 7};  // listed by no device
    if (test::full_device().caps().supports(Variant::coopmat))
        CHECK_THROWS_WITH_AS(Context{shape}, doctest::Contains("3x5x7"), UnsupportedError);
    test::check_validation(ctx);
}

} // TEST_SUITE
