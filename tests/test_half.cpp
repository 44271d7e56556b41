// Host fp16 conversions against the independent double-precision reference.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <random>

#include "reference/reference.hpp"
#include <vkhalf/half.hpp>

TEST_SUITE("half") {

TEST_CASE("every fp16 value converts to fp32 exactly and back to the same bits") {
    for (uint32_t h = 0; h < 65536; ++h) {
        const auto bits = static_cast<uint16_t>(h);
        const float f = vkhalf::f16_bits_to_f32(bits);
        const double want = ref::f16_to_double(bits);
        if (std::isnan(want)) {
            REQUIRE(std::isnan(f));
            REQUIRE(std::signbit(f) == bool(bits & 0x8000));
            continue;
        }
        REQUIRE(static_cast<double>(f) == want);
        REQUIRE(std::signbit(f) == bool(bits & 0x8000));
        REQUIRE(vkhalf::f32_to_f16_bits(f) == bits);
    }
}

TEST_CASE("fp32 -> fp16 rounds to nearest even at every midpoint, subnormal, and overflow boundary") {
    int checked = 0;
    for (uint32_t h = 0; h < 0x7c00; ++h) {  // positive finite halves
        const double lo = ref::f16_to_double(static_cast<uint16_t>(h));
        const double hi = h + 1 < 0x7c00 ? ref::f16_to_double(static_cast<uint16_t>(h + 1)) : 65536.0;
        const float mid = static_cast<float>((lo + hi) / 2);  // exact in fp32: fp16 has 11 bits
        for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), static_cast<float>(lo)}) {
            for (float s : {f, -f}) {
                REQUIRE_MESSAGE(vkhalf::f32_to_f16_bits(s) == ref::f32_to_f16(s), "input " << s);
                ++checked;
            }
        }
    }
    CHECK(vkhalf::f32_to_f16_bits(65504.0f) == 0x7bff);
    CHECK(vkhalf::f32_to_f16_bits(65519.99f) == 0x7bff);
    CHECK(vkhalf::f32_to_f16_bits(65520.0f) == 0x7c00);          // ties to even: up to inf
    CHECK(vkhalf::f32_to_f16_bits(std::ldexp(1.0f, -25)) == 0);  // half of the smallest subnormal: to even (0)
    CHECK(vkhalf::f32_to_f16_bits(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 1);
    CHECK(vkhalf::f32_to_f16_bits(std::ldexp(3.0f, -25)) == 2);  // 1.5 subnormal steps: to even (2)
    CHECK(vkhalf::f32_to_f16_bits(INFINITY) == 0x7c00);
    CHECK(vkhalf::f32_to_f16_bits(-INFINITY) == 0xfc00);
    CHECK(vkhalf::f32_to_f16_bits(-0.0f) == 0x8000);
    CHECK(vkhalf::f32_to_f16_bits(1e-30f) == 0);
    CHECK(vkhalf::f32_to_f16_bits(3.0e38f) == 0x7c00);
    CHECK((vkhalf::f32_to_f16_bits(NAN) & 0x7fff) > 0x7c00);
    CHECK(checked > 200000);
}

TEST_CASE("fp32 -> fp16 matches the reference on a million random bit patterns") {
    std::mt19937 rng(7);
    for (int i = 0; i < 1000000; ++i) {
        const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
        const uint16_t got = vkhalf::f32_to_f16_bits(f), want = ref::f32_to_f16(f);
        if (std::isnan(f)) {
            REQUIRE((got & 0x7c00) == 0x7c00);
            REQUIRE((got & 0x03ff) != 0);
        } else {
            REQUIRE_MESSAGE(got == want, "input bits " << std::bit_cast<uint32_t>(f));
        }
    }
}

} // TEST_SUITE
