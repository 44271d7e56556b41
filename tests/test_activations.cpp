// activation.comp (GELU, tanh, sigmoid; forward and backward) and dropout.comp (Philox4x32-10
// masks) in every tier, on the full and the emulated small device, against double-precision
// references: the textbook functions, central finite differences of them, and a CPU Philox.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/activations_record.hpp"
#include "reference/activations.hpp"
#include "reference/philox.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

const std::size_t kSizes[] = {1, 3, 257, 100003};

// Saturation, fp16's range, and the seams of the shader's approximations.
std::vector<float> edge_values() {
    return {0.0f, -0.0f, 20.0f, -20.0f, 1e4f, -1e4f, 65504.0f, -65504.0f,
            1.41421356f, -1.41421356f, 1.4142133f, -1.4142139f,  // GELU: erf's two pieces meet at |x|/sqrt2 = 1
            14.1421356f, -14.1421356f,                           // GELU: erfc's cut-off at |x|/sqrt2 = 10
            0.625f, -0.625f, 0.62499994f, -0.62499994f,          // tanh: polynomial / exp seam
            1e-3f, -1e-3f, 1e-7f, -3e-5f, 5.5f, -5.5f, 8.0f, -8.0f, 40.0f, -40.0f, 88.0f, -89.0f, 100.0f, -100.0f};
}

// n inputs in [-6, 6] with the edge values first, rounded to fp16 when f16.
std::vector<float> inputs(std::size_t n, unsigned seed, bool f16) {
    auto x = test::random_values(n, -6.0f, 6.0f, seed, f16);
    const auto edges = edge_values();
    for (std::size_t i = 0; i < std::min(n, edges.size()); ++i) x[i] = f16 ? round_to_f16(edges[i]) : edges[i];
    return x;
}

ref::Activation to_ref(Activation f) {
    return f == Activation::gelu        ? ref::Activation::gelu
           : f == Activation::tanh      ? ref::Activation::tanh
           : f == Activation::gelu_tanh ? ref::Activation::gelu_tanh
                                        : ref::Activation::sigmoid;
}

std::string name(Activation f) {
    return f == Activation::gelu ? "gelu" : f == Activation::tanh ? "tanh" : f == Activation::gelu_tanh ? "gelu_tanh" : "sigmoid";
}

// What a stored result may be off by.
//   fp16 storage: one fp16 ulp (either rounding direction) + 2^-24, as ref::close_f16.
//   fp32 storage: 2^-20 relative (a few fp32 ulps from exp, the divisions and the polynomials)
//                 + 2^-23 * abs_scale: fp32's resolution near 1 carried by what multiplies an
//                 approximated value: |dy| for a derivative, max(1, |x|) for GELU's x * Phi(x)
//                 (Phi's absolute error is 6.2e-8 at most, see shaders/activation.comp).
double tolerance(bool f16, double want, double abs_scale) {
    if (f16) return std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24);
    return std::ldexp(std::fabs(want), -20) + std::ldexp(abs_scale, -23);
}

void check_forward(Activation f) {
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                for (std::size_t n : kSizes) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const bool f16 = dtype == DType::f16;
                    const auto x = inputs(n, unsigned(n) * 5 + 1, f16);
                    Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
                    Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
                    activation_forward(*d.ctx, f, tx, ty, {v});
                    const auto y = ty.to_floats();
                    const auto want = ref::activation(to_ref(f), x);
                    std::size_t bad = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        const double scale = f == Activation::gelu || f == Activation::gelu_tanh
                                                 ? std::max(1.0, std::fabs(double(x[i])))
                                                 : 1.0;
                        const bool ok =
                            std::isfinite(y[i]) && std::fabs(y[i] - want[i]) <= tolerance(f16, want[i], scale);
                        if (!ok && bad++ < 5)
                            MESSAGE(name(f) << "(" << x[i] << ") = " << y[i] << ", want " << want[i]);
                    }
                    CHECK(bad == 0);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

// dx against dy * f'(x) (analytic, double) and against dy * the central difference of the forward
// reference; the reference's own derivative is checked against the difference too.
void check_backward(Activation f) {
    const auto rf = to_ref(f);
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                for (std::size_t n : kSizes) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const bool f16 = dtype == DType::f16;
                    const auto x = inputs(n, unsigned(n) * 5 + 2, f16);
                    const auto dy = test::random_values(n, -8.0f, 8.0f, unsigned(n) * 5 + 3, f16);
                    Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
                    Tensor tdy = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, dy);
                    Tensor tdx = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
                    activation_backward(*d.ctx, f, tdy, tx, tdx, {v});
                    const auto dx = tdx.to_floats();
                    const auto want = ref::activation_backward(rf, dy, x);
                    std::size_t bad = 0, bad_fd = 0, bad_ref = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        const double g = std::fabs(double(dy[i]));
                        const bool ok =
                            std::isfinite(dx[i]) && std::fabs(dx[i] - want[i]) <= tolerance(f16, want[i], g);
                        if (!ok && bad++ < 5)
                            MESSAGE(name(f) << "_backward(dy " << dy[i] << ", x " << x[i] << ") = " << dx[i]
                                            << ", want " << want[i]);
                        double fd_error = 0;
                        const double fd = ref::activation_derivative_fd(rf, x[i], fd_error);
                        const double want_fd = double(dy[i]) * fd;
                        if (std::fabs(dx[i] - want_fd) > tolerance(f16, want_fd, g) + g * fd_error && bad_fd++ < 5)
                            MESSAGE(name(f) << "_backward(dy " << dy[i] << ", x " << x[i] << ") = " << dx[i]
                                            << ", finite difference " << want_fd);
                        if (std::fabs(ref::activation_derivative(rf, x[i]) - fd) > fd_error) ++bad_ref;
                    }
                    CHECK(bad == 0);
                    CHECK(bad_fd == 0);
                    CHECK(bad_ref == 0);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

// ---- dropout helpers ----

Tensor state_of(Context& ctx, uint32_t seed, uint32_t offset) { return make_rng_state(ctx, seed, offset); }

// Non-zero values of both signs, so y != 0 exactly where the mask keeps.
std::vector<float> nonzero_values(std::size_t n, unsigned seed, bool f16) {
    auto x = test::random_values(n, 0.5f, 8.0f, seed, f16);
    for (std::size_t i = 1; i < n; i += 2) x[i] = -x[i];
    return x;
}

float scale_for(float p) { return static_cast<float>(1.0 / (1.0 - static_cast<double>(p))); }

// The number of elements whose device mask (y != 0) differs from the CPU Philox mask, printing the
// first few; `value_bad` counts kept elements whose value is not x * scale within the tier's
// tolerance (fp32: exactly the rounded product).
std::size_t mask_mismatches(const std::vector<float>& x, const std::vector<float>& y, const std::vector<bool>& keep,
                            float p, bool f16, std::size_t& value_bad) {
    const double scale = scale_for(p);
    std::size_t bad = 0;
    value_bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if ((y[i] != 0.0f) != keep[i] && bad++ < 5)
            MESSAGE("mask[" << i << "]: device " << (y[i] != 0.0f) << ", cpu " << keep[i]);
        if (!keep[i]) continue;
        const double want = double(x[i]) * scale;
        const bool ok = f16 ? ref::close_f16(y[i], want) : y[i] == static_cast<float>(want);
        if (!ok && value_bad++ < 5) MESSAGE("y[" << i << "] = " << y[i] << ", want " << want);
    }
    return bad;
}

} // namespace

TEST_SUITE("activations") {

TEST_CASE("gelu matches the fp64 reference in every tier") { check_forward(Activation::gelu); }
TEST_CASE("tanh matches the fp64 reference in every tier") { check_forward(Activation::tanh); }
TEST_CASE("sigmoid matches the fp64 reference in every tier") { check_forward(Activation::sigmoid); }
TEST_CASE("gelu_tanh matches the fp64 reference in every tier") { check_forward(Activation::gelu_tanh); }
TEST_CASE("gelu_tanh_backward matches f' and finite differences in every tier") { check_backward(Activation::gelu_tanh); }
TEST_CASE("gelu_backward matches f' and finite differences in every tier") { check_backward(Activation::gelu); }
TEST_CASE("tanh_backward matches f' and finite differences in every tier") { check_backward(Activation::tanh); }
TEST_CASE("sigmoid_backward matches f' and finite differences in every tier") { check_backward(Activation::sigmoid); }

TEST_CASE("the named wrappers run the same kernels") {
    auto& ctx = test::full_device();
    const auto x = inputs(1000, 77, false);
    const auto dy = test::random_values(1000, -2, 2, 78, false);
    Tensor tx = Tensor::from_floats(ctx, {1000}, DType::f32, x), tdy = Tensor::from_floats(ctx, {1000}, DType::f32, dy);
    Tensor a = Tensor::empty(ctx, {1000}, DType::f32), b = Tensor::empty(ctx, {1000}, DType::f32);
    const auto same = [&](Activation f, bool backward) {
        if (backward) activation_backward(ctx, f, tdy, tx, b); else activation_forward(ctx, f, tx, b);
        return a.to_floats() == b.to_floats();
    };
    gelu(ctx, tx, a);                  CHECK(same(Activation::gelu, false));
    tanh_forward(ctx, tx, a);          CHECK(same(Activation::tanh, false));
    sigmoid(ctx, tx, a);               CHECK(same(Activation::sigmoid, false));
    gelu_backward(ctx, tdy, tx, a);    CHECK(same(Activation::gelu, true));
    tanh_backward(ctx, tdy, tx, a);    CHECK(same(Activation::tanh, true));
    sigmoid_backward(ctx, tdy, tx, a); CHECK(same(Activation::sigmoid, true));
    test::check_validation(ctx);
}

TEST_CASE("gelu's fp32 erf: Phi(x) = gelu(x)/x within 2e-7 of the exact one on a dense grid") {
    // Phi's error is what the erf approximation leaves (6.2e-8 measured on the CPU) plus the
    // device's exp and the rounding of x * Phi (half an fp32 ulp of Phi).
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        const std::size_t n = 1u << 17;
        std::vector<float> x(n);
        for (std::size_t i = 0; i < n; ++i) x[i] = -9.0f + 18.0f * (float(i) + 0.5f) / float(n);
        Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, DType::f32, x);
        Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, DType::f32);
        gelu(*d.ctx, tx, ty);
        const auto y = ty.to_floats();
        double worst = 0, worst_x = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double phi = 0.5 * std::erfc(-double(x[i]) / std::sqrt(2.0));
            const double err = std::fabs(double(y[i]) / double(x[i]) - phi);
            if (err > worst) { worst = err; worst_x = x[i]; }
        }
        MESSAGE(d.label << ": max |gelu(x)/x - Phi(x)| = " << worst << " at x = " << worst_x);
        CHECK(worst < 2e-7);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("activations stay finite and saturate exactly at fp16's extremes") {
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const std::vector<float> x = {65504.0f, -65504.0f, 1e4f, -1e4f};
                const std::vector<float> dy = {1.0f, 1.0f, 1.0f, 1.0f};
                Tensor tx = Tensor::from_floats(*d.ctx, {4}, dtype, x);
                Tensor tdy = Tensor::from_floats(*d.ctx, {4}, dtype, dy);
                Tensor t = Tensor::empty(*d.ctx, {4}, dtype);
                gelu(*d.ctx, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{65504.0f, 0.0f, 1e4f, 0.0f});
                tanh_forward(*d.ctx, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{1.0f, -1.0f, 1.0f, -1.0f});
                sigmoid(*d.ctx, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{1.0f, 0.0f, 1.0f, 0.0f});
                gelu_backward(*d.ctx, tdy, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{1.0f, 0.0f, 1.0f, 0.0f});
                tanh_backward(*d.ctx, tdy, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f});
                sigmoid_backward(*d.ctx, tdy, tx, t, {v});
                CHECK(t.to_floats() == std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f});
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("activation argument errors name both operands") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {3, 5}, DType::f32), b = Tensor::empty(ctx, {5, 3}, DType::f32);
    Tensor h = Tensor::empty(ctx, {3, 5}, DType::f16), u = Tensor::empty(ctx, {3, 5}, DType::u32);
    CHECK_THROWS_AS(gelu(ctx, a, b), ShapeError);
    CHECK_THROWS_WITH(gelu(ctx, a, b), doctest::Contains("y is f32 [5, 3], expected f32 [3, 5]"));
    CHECK_THROWS_AS(sigmoid(ctx, a, h), DTypeError);
    CHECK_THROWS_WITH(tanh_backward(ctx, a, h, a), doctest::Contains("f32 vs f16"));
    CHECK_THROWS_AS(gelu_backward(ctx, a, b, a), ShapeError);
    CHECK_THROWS_AS(tanh_forward(ctx, u, u), DTypeError);
    CHECK_THROWS_AS(gelu(ctx, a, a, {Variant::f16p}), DTypeError);
    CHECK_THROWS_AS(gelu(ctx, Tensor(), a), Error);
    test::check_validation(ctx);
}

// ---- dropout ----

TEST_CASE("CPU Philox4x32-10 reproduces the Random123 known-answer vectors") {
    // Random123 tests/kat_vectors, "philox4x32 10": counter, key -> output.
    CHECK(ref::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
          ref::PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    CHECK(ref::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
          ref::PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    CHECK(ref::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
          ref::PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("dropout masks equal the CPU Philox masks bit for bit; backward reuses them") {
    const float p = 0.3f;
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                for (std::size_t n : kSizes) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const bool f16 = dtype == DType::f16;
                    const uint32_t seed = 0x5eed0000u + uint32_t(n), offset = uint32_t(n) * 7u;
                    const auto x = nonzero_values(n, unsigned(n) + 11, f16);
                    const auto dy = nonzero_values(n, unsigned(n) + 12, f16);
                    Tensor state = state_of(*d.ctx, seed, offset);
                    Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
                    Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
                    dropout(*d.ctx, tx, ty, p, state, RngAdvance::keep, {v});
                    const auto keep = ref::dropout_mask(seed, offset, n, p);
                    std::size_t value_bad = 0;
                    CHECK(mask_mismatches(x, ty.to_floats(), keep, p, f16, value_bad) == 0);
                    CHECK(value_bad == 0);
                    CHECK(state.to_u32() == std::vector<uint32_t>{seed, offset});

                    Tensor tdy = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, dy);
                    Tensor tdx = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
                    dropout_backward(*d.ctx, tdy, tdx, p, state, RngAdvance::advance, {v});
                    CHECK(mask_mismatches(dy, tdx.to_floats(), keep, p, f16, value_bad) == 0);
                    CHECK(value_bad == 0);
                    CHECK(state.to_u32() == std::vector<uint32_t>{seed, offset + uint32_t(n)});
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("dropout keeps 1 - p of a million elements within 5 sigma") {
    auto& ctx = test::full_device();
    const std::size_t n = 1000000;
    for (DType dtype : {DType::f32, DType::f16}) {
        for (float p : {0.1f, 0.5f, 0.9f}) {
            CAPTURE(to_string(dtype));
            CAPTURE(p);
            const auto x = nonzero_values(n, 5, dtype == DType::f16);
            Tensor state = state_of(ctx, 2024u, 99u);
            Tensor tx = Tensor::from_floats(ctx, {int64_t(n)}, dtype, x);
            Tensor ty = Tensor::empty(ctx, {int64_t(n)}, dtype);
            dropout(ctx, tx, ty, p, state);
            const auto y = ty.to_floats();
            const auto kept = double(std::count_if(y.begin(), y.end(), [](float f) { return f != 0.0f; }));
            const double q = 1.0 - double(p), sigma = std::sqrt(double(p) * q / double(n));
            MESSAGE(to_string(dtype) << " p = " << p << ": kept " << kept / double(n) << ", expected " << q
                                     << " +- " << sigma);
            CHECK(std::fabs(kept / double(n) - q) < 5 * sigma);
            std::size_t value_bad = 0;
            CHECK(mask_mismatches(x, y, ref::dropout_mask(2024u, 99u, n, p), p, dtype == DType::f16, value_bad) == 0);
            CHECK(value_bad == 0);
        }
    }
    test::check_validation(ctx);
}

TEST_CASE("dropout p = 0 is the identity, p = 1 zeroes, power-of-two scales are exact") {
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dtype)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const bool f16 = dtype == DType::f16;
                const std::size_t n = 257;
                auto x = nonzero_values(n, 3, f16);
                const auto edges = edge_values();
                for (std::size_t i = 0; i < edges.size(); ++i) x[i] = f16 ? round_to_f16(edges[i]) : edges[i];
                x[edges.size()] = INFINITY;
                x[edges.size() + 1] = -INFINITY;
                Tensor state = state_of(*d.ctx, 7u, 0u);
                Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
                Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);

                dropout(*d.ctx, tx, ty, 0.0f, state, RngAdvance::keep, {v});
                if (f16) {
                    CHECK(ty.to_f16_bits() == tx.to_f16_bits());
                } else {
                    const auto y = ty.to_floats();
                    CHECK(std::memcmp(y.data(), x.data(), n * sizeof(float)) == 0);  // -0 stays -0
                }

                dropout(*d.ctx, tx, ty, 1.0f, state, RngAdvance::keep, {v});
                const auto zeros = ty.to_floats();
                CHECK(std::all_of(zeros.begin(), zeros.end(), [](float f) { return f == 0.0f; }));

                // 1/(1-p) = 2 and 4: every kept fp16 or fp32 value times the scale is exact (below
                // fp16's overflow: the edges past 16384 are left out here).
                const auto small = nonzero_values(n, 4, f16);
                Tensor ts = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, small);
                for (float p : {0.5f, 0.75f}) {
                    CAPTURE(p);
                    dropout(*d.ctx, ts, ty, p, state, RngAdvance::keep, {v});
                    const auto y = ty.to_floats();
                    const auto keep = ref::dropout_mask(7u, 0u, n, p);
                    std::size_t bad = 0;
                    for (std::size_t i = 0; i < n; ++i)
                        bad += y[i] != (keep[i] ? small[i] * scale_for(p) : 0.0f);
                    CHECK(bad == 0);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("dropout's offset wraps mod 2^32 on the device as on the CPU") {
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        const std::size_t n = 1000;
        const uint32_t seed = 0xabcdef01u, offset = 0xffffff00u;  // counters wrap at element 256
        const auto x = nonzero_values(n, 8, false);
        Tensor state = state_of(*d.ctx, seed, offset);
        Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, DType::f32, x);
        Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, DType::f32);
        dropout(*d.ctx, tx, ty, 0.4f, state, RngAdvance::advance);
        std::size_t value_bad = 0;
        const auto keep = ref::dropout_mask(seed, offset, n, 0.4f);
        CHECK(mask_mismatches(x, ty.to_floats(), keep, 0.4f, false, value_bad) == 0);
        CHECK(value_bad == 0);
        CHECK(state.to_u32() == std::vector<uint32_t>{seed, 744u});
        advance_rng_state(*d.ctx, state, 0);
        CHECK(state.to_u32() == std::vector<uint32_t>{seed, 744u});
        advance_rng_state(*d.ctx, state, 0xffffffffu);
        CHECK(state.to_u32() == std::vector<uint32_t>{seed, 743u});
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("a replayed command list draws a new mask each step, forward and backward alike") {
    // A Program's use: forward (state kept) and backward (state advanced) recorded once, submitted
    // every step; the state on the device moves the masks on.
    for (auto& d : test::devices()) {
        for (DType dtype : {DType::f32, DType::f16}) {
            CAPTURE(d.label);
            CAPTURE(to_string(dtype));
            const bool f16 = dtype == DType::f16;
            const std::size_t n = 4099;
            const float p = 0.25f;
            const uint32_t seed = 31337u, offset = 5u;
            const auto x = nonzero_values(n, 21, f16), dy = nonzero_values(n, 22, f16);
            Tensor state = state_of(*d.ctx, seed, offset);
            Tensor tx = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, x);
            Tensor tdy = Tensor::from_floats(*d.ctx, {int64_t(n)}, dtype, dy);
            Tensor ty = Tensor::empty(*d.ctx, {int64_t(n)}, dtype), tdx = Tensor::empty(*d.ctx, {int64_t(n)}, dtype);
            detail::CommandList cl(d.ctx->impl());
            detail::record_dropout(cl, d.ctx->impl(), tx, ty, p, state, RngAdvance::keep, {});
            detail::record_dropout_backward(cl, d.ctx->impl(), tdy, tdx, p, state, RngAdvance::advance, {});
            std::vector<float> previous;
            for (uint32_t step = 0; step < 3; ++step) {
                CAPTURE(step);
                cl.submit_and_wait();
                const auto keep = ref::dropout_mask(seed, offset + step * uint32_t(n), n, p);
                std::size_t value_bad = 0;
                const auto y = ty.to_floats();
                CHECK(mask_mismatches(x, y, keep, p, f16, value_bad) == 0);
                CHECK(value_bad == 0);
                CHECK(mask_mismatches(dy, tdx.to_floats(), keep, p, f16, value_bad) == 0);
                CHECK(value_bad == 0);
                CHECK(state.to_u32() == std::vector<uint32_t>{seed, offset + (step + 1) * uint32_t(n)});
                CHECK(y != previous);
                previous = y;
            }
            test::check_validation(*d.ctx);
        }
    }
}

TEST_CASE("dropout argument errors") {
    auto& ctx = test::full_device();
    Tensor x = Tensor::empty(ctx, {4, 5}, DType::f16), y = Tensor::empty(ctx, {4, 5}, DType::f16);
    Tensor state = make_rng_state(ctx, 1);
    Tensor f32_state = Tensor::empty(ctx, {2}, DType::f32), long_state = Tensor::empty(ctx, {3}, DType::u32);
    Tensor other = Tensor::empty(ctx, {5, 4}, DType::f16), y32 = Tensor::empty(ctx, {4, 5}, DType::f32);
    CHECK_THROWS_AS(dropout(ctx, x, y, 0.5f, f32_state), DTypeError);
    CHECK_THROWS_WITH(dropout(ctx, x, y, 0.5f, f32_state), doctest::Contains("rng_state is f32 (x is f16)"));
    CHECK_THROWS_AS(dropout(ctx, x, y, 0.5f, long_state), ShapeError);
    CHECK_THROWS_WITH(dropout(ctx, x, y, 0.5f, long_state), doctest::Contains("[3] (x has [4, 5])"));
    CHECK_THROWS_AS(dropout(ctx, x, other, 0.5f, state), ShapeError);
    CHECK_THROWS_AS(dropout_backward(ctx, x, y32, 0.5f, state), DTypeError);
    CHECK_THROWS_WITH(dropout_backward(ctx, x, y32, 0.5f, state), doctest::Contains("dropout_backward"));
    CHECK_THROWS_AS(dropout(ctx, x, y, -0.1f, state), Error);
    CHECK_THROWS_AS(dropout(ctx, x, y, 1.5f, state), Error);
    CHECK_THROWS_AS(dropout(ctx, x, y, std::numeric_limits<float>::quiet_NaN(), state), Error);
    CHECK_THROWS_AS(advance_rng_state(ctx, long_state, 1), ShapeError);
    CHECK_THROWS_AS(dropout(ctx, state, state, 0.5f, state), DTypeError);  // u32 data
    CHECK(state.to_u32() == std::vector<uint32_t>{1u, 0u});
    test::check_validation(ctx);
}

// Softmax, causal softmax and log-softmax over the last axis, and their gradients from the
// device's own y, against fp64; logits of +-1e4 (past fp16's exp range) stay finite.
TEST_CASE("softmax, causal softmax and log-softmax: forward and gradients match fp64 in every tier") {
    const Shape shape{2, 5, 5};  // ten rows of five: attention scores for the causal mask
    const int64_t rows = 10, cols = 5;
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16})
            for (Variant v : test::variants(*d.ctx, dt))
                for (SoftmaxKind kind : {SoftmaxKind::softmax, SoftmaxKind::causal_softmax, SoftmaxKind::log_softmax}) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(int(kind));
                    const bool f16 = dt == DType::f16;
                    auto x = test::random_values(rows * cols, -8, 8, 61, f16);
                    x[7] = 1e4f, x[8] = -1e4f, x[21] = 1e4f;  // exp of these overflows anything unshifted
                    const auto dy = test::random_values(rows * cols, -1, 1, 62, f16);
                    Tensor tx = Tensor::from_floats(*d.ctx, shape, dt, x), ty = Tensor::empty(*d.ctx, shape, dt);
                    Tensor tdy = Tensor::from_floats(*d.ctx, shape, dt, dy), tdx = Tensor::empty(*d.ctx, shape, dt);
                    softmax(*d.ctx, tx, ty, kind, {v});
                    const auto y = ty.to_floats();
                    softmax_backward(*d.ctx, ty, tdy, tdx, kind, {v});
                    const auto dx = tdx.to_floats();
                    std::size_t bad = 0;
                    auto check = [&](const char* what, int64_t i, double got, double want, double scale) {
                        const double tol = f16 ? std::ldexp(std::fabs(want), -10) + 2e-3 * scale
                                               : 1e-6 * std::fabs(want) + 1e-6 * scale;
                        if ((!std::isfinite(got) || std::fabs(got - want) > tol) && bad++ < 5)
                            MESSAGE(what << "[" << i << "] = " << got << ", want " << want);
                    };
                    for (int64_t r = 0; r < rows; ++r) {
                        const int64_t live = kind == SoftmaxKind::causal_softmax ? r % 5 + 1 : cols;
                        double m = x[r * cols];
                        for (int64_t j = 1; j < live; ++j) m = std::max(m, double(x[r * cols + j]));
                        double s = 0;
                        for (int64_t j = 0; j < live; ++j) s += std::exp(double(x[r * cols + j]) - m);
                        double dot = 0;  // from the device's y, as the kernel computes it
                        for (int64_t j = 0; j < live; ++j)
                            dot += kind == SoftmaxKind::log_softmax ? dy[r * cols + j] : double(dy[r * cols + j]) * y[r * cols + j];
                        for (int64_t j = 0; j < cols; ++j) {
                            const int64_t i = r * cols + j;
                            const double z = double(x[i]) - m;
                            const double want = kind == SoftmaxKind::log_softmax ? z - std::log(s)
                                                : j < live ? std::exp(z) / s : 0.0;
                            check("y", i, y[i], want, kind == SoftmaxKind::log_softmax ? std::fabs(z) + 1 : 1);
                            const double want_dx = kind == SoftmaxKind::log_softmax ? dy[i] - std::exp(double(y[i])) * dot
                                                   : j < live ? y[i] * (dy[i] - dot) : 0.0;
                            check("dx", i, dx[i], want_dx, 1);
                        }
                    }
                    CHECK(bad == 0);
                }
    auto& ctx = test::full_device();
    Tensor rect = Tensor::empty(ctx, {2, 3, 4}, DType::f32), out = Tensor::empty(ctx, {2, 3, 4}, DType::f32);
    CHECK_THROWS_WITH_AS(softmax(ctx, rect, out, SoftmaxKind::causal_softmax), doctest::Contains("[.., T, T]"),
                         ShapeError);
    for (auto& d : test::devices()) test::check_validation(*d.ctx);
}

} // TEST_SUITE
