// reduce_sum.comp in every tier against a compensated double sum; fp32 accumulation proven.
#include <doctest/doctest.h>

#include <cmath>

#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

TEST_SUITE("reduce") {

TEST_CASE("sum matches the fp64 reference in every tier and size") {
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                for (std::size_t n : {1, 2, 3, 511, 512, 513, 65537, 250000}) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const auto x = test::random_values(n, -1.0f, 1.0f, unsigned(n), dtype == DType::f16);
                    Tensor t = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
                    const double got = sum(*d.ctx, t, {v});
                    const double want = ref::sum(x);
                    // fp32 accumulation: error below a few fp32 ulps of the magnitude sum per
                    // level of the reduction; an fp16 accumulator would be off by whole units.
                    const double tol = 1e-6 * ref::sum_abs(x) + 1e-6;
                    CHECK_MESSAGE(std::fabs(got - want) <= tol, "got " << got << " want " << want << " tol " << tol);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("sum accumulates in fp32: 10000 x fp16(0.01) is ~99.95, where an fp16 accumulator sticks at 32") {
    for (auto& d : test::devices()) {
        for (Variant v : test::variants(*d.ctx, DType::f16)) {
            CAPTURE(d.label);
            CAPTURE(to_string(v));
            std::vector<float> x(10000, 0.01f);
            Tensor t = Tensor::from_floats(*d.ctx, {10000}, DType::f16, x);
            const double want = 10000.0 * double(round_to_f16(0.01f));
            CHECK(sum(*d.ctx, t, {v}) == doctest::Approx(want).epsilon(1e-5));
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("sum of values near the fp16 range does not overflow") {
    auto& ctx = test::full_device();
    std::vector<float> x(1000, 60000.0f);  // 6e7: far beyond fp16, fine in fp32
    Tensor t = Tensor::from_floats(ctx, {1000}, DType::f16, x);
    for (Variant v : test::variants(ctx, DType::f16)) {
        CAPTURE(to_string(v));
        CHECK(sum(ctx, t, {v}) == doctest::Approx(6.0e7).epsilon(1e-6));
    }
    test::check_validation(ctx);
}

} // TEST_SUITE
