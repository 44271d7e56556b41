// elementwise.comp (add, mul, scale, relu, relu_backward, div) in every tier, on the full and the
// emulated small device, against the double-precision reference.
#include <doctest/doctest.h>

#include <cmath>

#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

const std::size_t kSizes[] = {1, 2, 3, 255, 256, 257, 4097, 100003};

void run(Context& ctx, ref::Elementwise op, const Tensor& a, const Tensor& b, Tensor& y, float alpha, Variant v) {
    const OpOptions opt{v};
    switch (op) {
    case ref::Elementwise::add: add(ctx, a, b, y, opt); break;
    case ref::Elementwise::mul: mul(ctx, a, b, y, opt); break;
    case ref::Elementwise::scale: scale(ctx, a, alpha, y, opt); break;
    case ref::Elementwise::relu: relu(ctx, a, y, opt); break;
    case ref::Elementwise::relu_backward: relu_backward(ctx, a, b, y, opt); break;
    case ref::Elementwise::div: div(ctx, a, b, y, opt); break;
    }
}

const char* name(ref::Elementwise op) {
    switch (op) {
    case ref::Elementwise::add: return "add";
    case ref::Elementwise::mul: return "mul";
    case ref::Elementwise::scale: return "scale";
    case ref::Elementwise::relu: return "relu";
    case ref::Elementwise::relu_backward: return "relu_backward";
    case ref::Elementwise::div: return "div";
    }
    return "?";
}

void check_op(ref::Elementwise op) {
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                for (std::size_t n : kSizes) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const bool f16 = dtype == DType::f16;
                    const auto a = test::random_values(n, -8.0f, 8.0f, unsigned(n) * 3 + 1, f16);
                    const auto b = test::random_values(n, -8.0f, 8.0f, unsigned(n) * 3 + 2, f16);
                    const float alpha = -1.75f;  // exact in fp16
                    Tensor ta = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, a);
                    Tensor tb = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, b);
                    Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
                    run(*d.ctx, op, ta, tb, ty, alpha, v);
                    const auto y = ty.to_floats();
                    const auto want = ref::elementwise(op, a, b, alpha);
                    std::size_t bad = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        // Vulkan allows fp32 division 2.5 ulp; the other ops are exact to a rounding.
                        const bool ok = f16 ? ref::close_f16(y[i], want[i])
                                        : op == ref::Elementwise::div
                                            ? std::fabs(y[i] - want[i]) <= 3.0 * std::ldexp(std::fabs(want[i]), -23)
                                            : ref::close_f32(y[i], want[i]);
                        if (!ok && bad++ < 5) MESSAGE(name(op) << "[" << i << "] = " << y[i] << ", want " << want[i]);
                    }
                    CHECK(bad == 0);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

} // namespace

TEST_SUITE("elementwise") {

TEST_CASE("add matches the fp64 reference in every tier") { check_op(ref::Elementwise::add); }
TEST_CASE("mul matches the fp64 reference in every tier") { check_op(ref::Elementwise::mul); }
TEST_CASE("scale matches the fp64 reference in every tier") { check_op(ref::Elementwise::scale); }
TEST_CASE("relu matches the fp64 reference in every tier") { check_op(ref::Elementwise::relu); }
TEST_CASE("relu_backward matches the fp64 reference in every tier") { check_op(ref::Elementwise::relu_backward); }
TEST_CASE("div matches the fp64 reference in every tier (fp32 inside)") { check_op(ref::Elementwise::div); }

TEST_CASE("fp16 tiers overflow to inf past 65504 and keep subnormal results") {
    for (auto& d : test::devices()) {
        for (Variant v : test::variants(*d.ctx, DType::f16)) {
            CAPTURE(d.label);
            CAPTURE(to_string(v));
            const std::vector<float> a = {60000.0f, -60000.0f, std::ldexp(1.0f, -20), 3.0f};
            const std::vector<float> b = {10000.0f, -10000.0f, std::ldexp(1.0f, -20), 0.5f};
            Tensor ta = Tensor::from_floats(*d.ctx, {4}, DType::f16, a), tb = Tensor::from_floats(*d.ctx, {4}, DType::f16, b);
            Tensor ty = Tensor::empty(*d.ctx, {4}, DType::f16);
            add(*d.ctx, ta, tb, ty, {v});
            const auto y = ty.to_floats();
            CHECK(y[0] == INFINITY);
            CHECK(y[1] == -INFINITY);
            // 2^-20 + 2^-20 = 2^-19, an fp16 subnormal: exact unless the device may flush fp16
            // denormals (shaderDenormPreserveFloat16 not reported), where 0 is allowed too.
            const bool exact = y[2] == std::ldexp(1.0f, -19);
            CHECK((exact || (!d.ctx->caps().denorm_preserve_f16 && y[2] == 0.0f)));
            CHECK(y[3] == 3.5f);
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("2-D grids: the small device's 64-workgroup limit still covers every element") {
    auto& ctx = test::small_device();
    REQUIRE(ctx.caps().max_workgroup_count[0] == 64);
    const std::size_t n = 64 * 256 * 2 * 3 + 7;  // needs 193 workgroups of 256 pairs
    const auto a = test::random_values(n, -1, 1, 11, true);
    Tensor ta = Tensor::from_floats(ctx, {int64_t(n)}, DType::f16, a);
    Tensor ty = Tensor::empty(ctx, {int64_t(n)}, DType::f16);
    relu(ctx, ta, ty);
    const auto y = ty.to_floats();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += y[i] != std::max(a[i], 0.0f);
    CHECK(bad == 0);
    test::check_validation(ctx);
}

} // TEST_SUITE
