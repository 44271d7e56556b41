// cast.comp against the reference: bit-exact in both directions on every test device.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <random>

#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

// Values that exercise every branch: midpoints, subnormals, overflow, inf, NaN, signed zero.
std::vector<float> cast_inputs(std::size_t random_count) {
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e9f,
                            INFINITY, -INFINITY, NAN, -NAN, std::ldexp(1.0f, -14), std::ldexp(1.0f, -24),
                            std::ldexp(1.0f, -25), std::ldexp(3.0f, -25), std::ldexp(1.0f, -26), 1e-30f,
                            1.0f + std::ldexp(1.0f, -11), 1.0f + std::ldexp(3.0f, -11), 2049.0f, 2051.0f};
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> exponent(-30, 17);
    std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
    while (v.size() < random_count) {
        const float x = std::ldexp(mantissa(rng), exponent(rng));
        v.push_back(rng() & 1 ? -x : x);
    }
    return v;
}

} // namespace

TEST_SUITE("cast") {

TEST_CASE("cast f32 -> f16 is round-to-nearest-even, bit-exact, on every device (odd and even sizes)") {
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        for (std::size_t n : {std::size_t(1), std::size_t(23), std::size_t(4096), std::size_t(100001)}) {
            CAPTURE(n);
            auto in = cast_inputs(n);
            in.resize(n);
            Tensor src = Tensor::from_floats(*d.ctx, {int64_t(n)}, DType::f32, in);
            Tensor dst = Tensor::empty(*d.ctx, {int64_t(n)}, DType::f16);
            cast(*d.ctx, src, dst);
            const auto bits = dst.to_f16_bits();
            std::size_t mismatches = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const uint16_t want = ref::f32_to_f16(in[i]);
                const bool ok = std::isnan(in[i]) ? ((bits[i] & 0x7c00) == 0x7c00 && (bits[i] & 0x3ff) != 0 &&
                                                     (bits[i] & 0x8000) == (want & 0x8000))
                                                  : bits[i] == want;
                if (!ok && mismatches++ < 5) MESSAGE("element " << i << " input " << in[i] << " got " << bits[i]
                                                                << " want " << want);
            }
            CHECK(mismatches == 0);
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("cast f16 -> f32 is exact for all 65536 fp16 values, subnormals, inf and NaN included") {
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        Tensor h = Tensor::empty(*d.ctx, {65536}, DType::f16);
        h.upload_bytes(std::as_bytes(std::span(all)));
        Tensor f = Tensor::empty(*d.ctx, {65536}, DType::f32);
        cast(*d.ctx, h, f);
        const auto out = f.to_floats();
        std::size_t mismatches = 0;
        for (uint32_t i = 0; i < 65536; ++i) {
            const double want = ref::f16_to_double(all[i]);
            const bool ok = std::isnan(want) ? std::isnan(out[i]) : (out[i] == want &&
                                                                     std::signbit(out[i]) == bool(all[i] & 0x8000));
            if (!ok && mismatches++ < 5) MESSAGE("bits " << i << " got " << out[i] << " want " << want);
        }
        CHECK(mismatches == 0);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("cast rejects equal dtypes and mismatched shapes") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {4}, DType::f32), b = Tensor::empty(ctx, {4}, DType::f32);
    Tensor c = Tensor::empty(ctx, {5}, DType::f16);
    CHECK_THROWS_AS(cast(ctx, a, b), DTypeError);
    CHECK_THROWS_AS(cast(ctx, a, c), ShapeError);
    test::check_validation(ctx);
}

} // TEST_SUITE
