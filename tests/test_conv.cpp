// conv2d.comp (forward, data gradient, weight gradient) and pool2d.comp (max, average) in every
// tier on both test devices against fp64 references; the references' backward passes against
// central finite differences of their forward passes.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "kernels/record.hpp"
#include "reference/conv.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

struct ConvCase {
    ref::ConvDims d;
    const char* name;
};

// Odd sizes, 1 and 3 channels, padding at borders, stride 2, dilation 2, a rectangular kernel,
// the sample CNN's second layer (32 -> 64, long weight-gradient reduction: split-K), and grids
// past the small device's limit.
const ConvCase kConvCases[] = {
    {{2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1}, "3x3 pad 1, 3 channels"},
    {{1, 1, 6, 5, 4, 2, 3, 2, 2, 0, 0, 1, 1}, "2x3 stride 2, 1 channel"},
    {{2, 2, 9, 8, 3, 3, 3, 2, 1, 1, 2, 2, 1}, "3x3 stride 2x1 pad 1x2 dilation 2x1"},
    {{3, 1, 28, 28, 8, 3, 3}, "mnist-like first layer"},
    {{4, 32, 13, 13, 64, 3, 3}, "sample cnn conv2"},
    // Past the small device's grid of 64 workgroups: im2col/col2im loop over channels and pixels.
    {{1, 70, 6, 5, 66, 3, 3, 1, 1, 1, 1, 1, 1}, "70 channels, 66 outputs"},
    {{1, 1, 140, 131, 2, 3, 3}, "140 x 131 image"},
};

Conv2dParams params_of(const ref::ConvDims& d) {
    return {d.stride_h, d.stride_w, d.pad_h, d.pad_w, d.dil_h, d.dil_w, ConvAlgorithm::automatic, d.groups};
}

bool close(double got, double want, double magnitude, int terms, bool f16) {
    double tol = (terms + 2) * std::ldexp(magnitude, -23) + 1e-30;
    tol += f16 ? std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24) : std::ldexp(std::fabs(want), -22);
    return std::fabs(got - want) <= tol;
}

std::size_t count_bad(std::span<const float> got, std::span<const double> want, std::span<const double> magnitude,
                      int terms, bool f16) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        if (!close(got[i], want[i], magnitude[i], terms, f16) && bad++ < 5)
            MESSAGE("[" << i << "] = " << got[i] << ", want " << want[i]);
    return bad;
}

std::vector<double> abs_of(std::span<const double> v) {
    std::vector<double> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
    return out;
}

std::vector<double> to_double(std::span<const float> v) { return {v.begin(), v.end()}; }

// conv2d (+ bias + ReLU), its data gradient and its weight gradient for one case on one device,
// tier and algorithm (in p), each against fp64 with a bound from its own reduction length (per
// group); random operands from seeds seed .. seed + 3.
// The weight gradient in accumulate mode (the compiler's fold of a convolution weight used twice):
// dw, holding a first gradient, must become that plus the gradient, rounded once.
void check_weight_grad_accumulates(Context& ctx, const Tensor& tdy, const Tensor& tx, Tensor& tdw,
                                   const Conv2dParams& p, const OpOptions& opt, const std::vector<double>& dw,
                                   const std::vector<double>& dw_mag, int terms, bool f16) {
    const auto before = tdw.to_floats();
    detail::CommandList cl(ctx.impl());
    detail::record_conv2d_backward_weight(cl, ctx, tdy, tx, tdw, p, opt, true);
    cl.submit_and_wait();
    std::vector<double> want(dw.size()), mag(dw.size());
    for (std::size_t i = 0; i < dw.size(); ++i) want[i] = before[i] + dw[i], mag[i] = dw_mag[i] + std::fabs(before[i]);
    CHECK(count_bad(tdw.to_floats(), want, mag, terms + 1, f16) == 0);
}

void check_conv_products(Context& ctx, DType dt, Variant v, const ref::ConvDims& d, const Conv2dParams& p,
                         unsigned seed) {
    const bool f16 = dt == DType::f16;
    const Shape xs{d.b, d.cin, d.h, d.w}, ws{d.cout, d.cin_g(), d.kh, d.kw}, ys{d.b, d.cout, d.oh(), d.ow()};
    const auto x = test::random_values(numel(xs), -1, 1, seed, f16);
    const auto w = test::random_values(numel(ws), -1, 1, seed + 1, f16);
    const auto bias = test::random_values(d.cout, -1, 1, seed + 2, f16);
    const auto dy = test::random_values(numel(ys), -1, 1, seed + 3, f16);
    Tensor tx = Tensor::from_floats(ctx, xs, dt, x), tw = Tensor::from_floats(ctx, ws, dt, w);
    Tensor tb = Tensor::from_floats(ctx, {d.cout}, dt, bias);
    Tensor tdy = Tensor::from_floats(ctx, ys, dt, dy);
    Tensor ty = Tensor::empty(ctx, ys, dt), tdx = Tensor::empty(ctx, xs, dt);
    Tensor tdw = Tensor::empty(ctx, ws, dt);
    conv2d(ctx, tx, tw, &tb, ty, p, true, {v});
    conv2d_backward_data(ctx, tdy, tw, tdx, p, {v});
    conv2d_backward_weight(ctx, tdy, tx, tdw, p, {v});

    std::vector<double> mag;
    const auto y = ref::conv2d(d, x, w, bias, true, mag);
    CHECK(count_bad(ty.to_floats(), y, mag, d.cin_g() * d.kh * d.kw, f16) == 0);
    const auto dyd = to_double(dy);
    const auto dx = ref::conv2d_backward_data(d, dyd, w);
    // |dy| against |w| = 1 bounds the magnitude of every term.
    const auto dx_mag = ref::conv2d_backward_data(d, abs_of(dyd), std::vector<float>(w.size(), 1.0f));
    CHECK(count_bad(tdx.to_floats(), dx, dx_mag, d.cout_g() * d.kh * d.kw, f16) == 0);
    const auto dw = ref::conv2d_backward_weight(d, dyd, x);
    const auto dw_mag = ref::conv2d_backward_weight(d, abs_of(dyd), std::vector<float>(x.size(), 1.0f));
    CHECK(count_bad(tdw.to_floats(), dw, dw_mag, d.b * d.oh() * d.ow(), f16) == 0);
    check_weight_grad_accumulates(ctx, tdy, tx, tdw, p, {v}, dw, dw_mag, d.b * d.oh() * d.ow(), f16);
}

} // namespace

TEST_SUITE("conv") {

// Both algorithms: conv2d.comp (implicit GEMM) and im2col.comp + the GEMM kernels (lowered).
TEST_CASE("conv2d forward, data gradient and weight gradient match fp64 in every tier and algorithm") {
    for (auto& dev : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*dev.ctx, dt)) {
                for (const ConvCase& c : kConvCases) {
                  for (ConvAlgorithm algo : {ConvAlgorithm::implicit_gemm, ConvAlgorithm::lowered_gemm}) {
                    CAPTURE(dev.label);
                    CAPTURE(to_string(v));
                    CAPTURE(c.name);
                    CAPTURE(int(algo));
                    Conv2dParams p = params_of(c.d);
                    p.algorithm = algo;
                    check_conv_products(*dev.ctx, dt, v, c.d, p, 1);
                  }
                }
            }
        }
        test::check_validation(*dev.ctx);
    }
}

TEST_CASE("conv2d reference gradients equal central finite differences of the reference forward") {
  // Ungrouped, and two groups of 2 input and 3 output channels.
  for (const ref::ConvDims d : {ref::ConvDims{2, 2, 5, 6, 3, 3, 2, 2, 1, 1, 0, 1, 2},
                                ref::ConvDims{2, 4, 5, 6, 6, 3, 2, 2, 1, 1, 0, 1, 2, 2}}) {
    CAPTURE(d.groups);
    const int64_t nx = int64_t(d.b) * d.cin * d.h * d.w, nw = int64_t(d.cout) * d.cin_g() * d.kh * d.kw;
    auto x = test::random_values(nx, -1, 1, 5, false), w = test::random_values(nw, -1, 1, 6, false);
    const auto r = test::random_values(int64_t(d.b) * d.cout * d.oh() * d.ow(), -1, 1, 7, false);
    auto loss = [&](std::span<const float> xx, std::span<const float> ww) {  // L = sum y * r
        std::vector<double> mag;
        const auto y = ref::conv2d(d, xx, ww, {}, false, mag);
        double s = 0;
        for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
        return s;
    };
    const auto rd = to_double(r);
    const auto dx = ref::conv2d_backward_data(d, rd, w), dw = ref::conv2d_backward_weight(d, rd, x);
    const float h = 1.0f / 64;  // exact in fp32; L is linear in x and in w
    auto l = [&] { return loss(x, w); };
    for (int64_t i = 0; i < nx; i += 7)
        CHECK(test::central_difference(x, std::size_t(i), h, l) == doctest::Approx(dx[i]).epsilon(1e-9));
    for (int64_t i = 0; i < nw; i += 3)
        CHECK(test::central_difference(w, std::size_t(i), h, l) == doctest::Approx(dw[i]).epsilon(1e-9));
  }
}

// Grouped and depthwise convolutions run as the implicit GEMM with one group per workgroup z.
const ConvCase kGroupedCases[] = {
    {{2, 4, 7, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2}, "2 groups of 2 -> 3 channels, 3x3 pad 1"},
    {{2, 5, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5}, "depthwise 5 channels, stride 2"},
    {{1, 3, 8, 7, 6, 5, 5, 1, 1, 2, 2, 1, 1, 3}, "depthwise multiplier 2, 5x5 pad 2"},
    {{1, 3, 9, 9, 3, 3, 3, 1, 1, 2, 2, 2, 2, 3}, "depthwise dilation 2"},
    // Weight gradients long enough to split by images (split-K per group).
    {{4, 4, 13, 13, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2}, "2 groups, split weight gradient"},
    {{4, 3, 13, 13, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3}, "depthwise, split weight gradient"},
    // More groups than the small device's 64 workgroups along z: several dispatches.
    {{1, 70, 6, 5, 70, 3, 3, 1, 1, 1, 1, 1, 1, 70}, "depthwise 70 channels"},
};

TEST_CASE("grouped and depthwise conv2d: forward, data and weight gradients match fp64 in every tier") {
    for (auto& dev : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*dev.ctx, dt)) {
                if (v == Variant::coopmat) continue;  // a grouped convolution has no lowered form
                for (const ConvCase& c : kGroupedCases) {
                    CAPTURE(dev.label);
                    CAPTURE(to_string(v));
                    CAPTURE(c.name);
                    check_conv_products(*dev.ctx, dt, v, c.d, params_of(c.d), 11);
                    if (&c == &kGroupedCases[0]) {  // no lowered form: asking for one is refused by name
                        const ref::ConvDims& d = c.d;
                        Conv2dParams p = params_of(d);
                        p.algorithm = ConvAlgorithm::lowered_gemm;
                        Tensor tx = Tensor::empty(*dev.ctx, {d.b, d.cin, d.h, d.w}, dt);
                        Tensor tw = Tensor::empty(*dev.ctx, {d.cout, d.cin_g(), d.kh, d.kw}, dt);
                        Tensor ty = Tensor::empty(*dev.ctx, {d.b, d.cout, d.oh(), d.ow()}, dt);
                        CHECK_THROWS_WITH_AS(conv2d(*dev.ctx, tx, tw, nullptr, ty, p, false, {v}),
                                             doctest::Contains("implicit_gemm only"), UnsupportedError);
                    }
                }
            }
        }
        test::check_validation(*dev.ctx);
    }
}

TEST_CASE("max and average pooling, forward and backward, match fp64 in every tier") {
    const ref::PoolDims cases[] = {
        {6, 7, 9, 2, 2, 2, 2},        // odd sizes: the last row and column are dropped
        {4, 8, 8, 3, 3, 2, 2, 1, 1},  // overlapping windows with padding
        {3, 5, 6, 5, 6, 1, 1},        // global pooling: one window of the whole image
        {2, 7, 7, 2, 2, 2, 2, 1, 1},  // windows tiling the plane (stride = window) from the padding
        {2, 10, 11, 3, 3, 3, 3, 1, 1},
    };
    for (auto& dev : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*dev.ctx, dt)) {
                for (const auto& d : cases) {
                    CAPTURE(dev.label);
                    CAPTURE(to_string(v));
                    CAPTURE(d.kh);
                    const bool f16 = dt == DType::f16;
                    const Shape xs{1, d.planes, d.h, d.w}, ys{1, d.planes, d.oh(), d.ow()};
                    const auto x = test::random_values(numel(xs), -4, 4, 11, f16);
                    const auto dy = test::random_values(numel(ys), -1, 1, 12, f16);
                    const Pool2dParams p{d.kh, d.kw, d.stride_h, d.stride_w, d.pad_h, d.pad_w};
                    Tensor tx = Tensor::from_floats(*dev.ctx, xs, dt, x), tdy = Tensor::from_floats(*dev.ctx, ys, dt, dy);
                    Tensor ty = Tensor::empty(*dev.ctx, ys, dt), targ = Tensor::empty(*dev.ctx, ys, DType::u32);
                    Tensor tdx = Tensor::empty(*dev.ctx, xs, dt);
                    std::vector<uint32_t> arg;
                    const auto y = ref::max_pool2d(d, x, arg);
                    max_pool2d(*dev.ctx, tx, ty, targ, p, {v});
                    CHECK(ty.to_floats() == std::vector<float>(y.begin(), y.end()));  // a max is exact
                    CHECK(targ.to_u32() == arg);
                    max_pool2d_backward(*dev.ctx, tdy, targ, tdx, p, {v});
                    const auto dyd = to_double(dy);
                    const auto dx = ref::max_pool2d_backward(d, dyd, arg);
                    const auto dx_mag = ref::max_pool2d_backward(d, abs_of(dyd), arg);
                    CHECK(count_bad(tdx.to_floats(), dx, dx_mag, 9, f16) == 0);

                    avg_pool2d(*dev.ctx, tx, ty, p, {v});
                    const auto xd = to_double(x);
                    CHECK(count_bad(ty.to_floats(), ref::avg_pool2d(d, xd), ref::avg_pool2d(d, abs_of(xd)), d.kh * d.kw, f16) == 0);
                    avg_pool2d_backward(*dev.ctx, tdy, tdx, p, {v});
                    CHECK(count_bad(tdx.to_floats(), ref::avg_pool2d_backward(d, dyd),
                                    ref::avg_pool2d_backward(d, abs_of(dyd)), 9, f16) == 0);
                }
            }
        }
        test::check_validation(*dev.ctx);
    }
}

TEST_CASE("pooling reference gradients equal central finite differences (no ties)") {
    const ref::PoolDims d{2, 7, 6, 3, 3, 2, 2, 1, 1};
    std::vector<float> x(std::size_t(d.planes) * d.h * d.w);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 37) % x.size()) / 8.0f;  // distinct values
    const auto r = test::random_values(int64_t(d.planes) * d.oh() * d.ow(), -1, 1, 13, false);
    const auto rd = to_double(r);
    std::vector<uint32_t> arg;
    ref::max_pool2d(d, x, arg);
    const auto dmax = ref::max_pool2d_backward(d, rd, arg), davg = ref::avg_pool2d_backward(d, rd);
    auto loss = [&](bool max) {
        std::vector<uint32_t> a;
        const auto y = max ? ref::max_pool2d(d, x, a) : ref::avg_pool2d(d, to_double(x));
        double s = 0;
        for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
        return s;
    };
    const float h = 1.0f / 256;  // smaller than half the gap between distinct values (1/8)
    for (std::size_t i = 0; i < x.size(); ++i) {
        for (bool max : {true, false})
            CHECK(test::central_difference(x, i, h, [&] { return loss(max); }) ==
                  doctest::Approx(max ? dmax[i] : davg[i]).epsilon(1e-9));
    }
}

TEST_CASE("per-channel bias gradient of an NCHW tensor") {
    auto& ctx = test::full_device();
    for (DType dt : {DType::f32, DType::f16}) {
        const auto dy = test::random_values(3 * 5 * 7 * 6, -1, 1, 14, dt == DType::f16);
        Tensor tdy = Tensor::from_floats(ctx, {3, 5, 7, 6}, dt, dy);
        Tensor db = Tensor::empty(ctx, {5}, DType::f32);
        bias_grad(ctx, tdy, db, BiasMode::per_channel);
        const auto got = db.to_floats();
        for (int c = 0; c < 5; ++c) {
            double want = 0;
            for (int b = 0; b < 3; ++b)
                for (int s = 0; s < 42; ++s) want += dy[(b * 5 + c) * 42 + s];
            CHECK(got[c] == doctest::Approx(want).epsilon(1e-5));
        }
    }
    test::check_validation(ctx);
}

TEST_CASE("conv2d and pooling reject bad shapes with messages naming them") {
    auto& ctx = test::full_device();
    Tensor x = Tensor::empty(ctx, {2, 3, 8, 8}, DType::f16), w = Tensor::empty(ctx, {4, 2, 3, 3}, DType::f16);
    Tensor y = Tensor::empty(ctx, {2, 4, 6, 6}, DType::f16);
    CHECK_THROWS_WITH_AS(conv2d(ctx, x, w, nullptr, y), doctest::Contains("channels"), ShapeError);
    Tensor w_ok = Tensor::empty(ctx, {4, 3, 3, 3}, DType::f16), y_bad = Tensor::empty(ctx, {2, 4, 7, 7}, DType::f16);
    CHECK_THROWS_WITH_AS(conv2d(ctx, x, w_ok, nullptr, y_bad), doctest::Contains("[2, 4, 6, 6]"), ShapeError);
    Tensor big = Tensor::empty(ctx, {4, 3, 9, 9}, DType::f16);
    CHECK_THROWS_AS(conv2d(ctx, x, big, nullptr, y), ShapeError);  // kernel larger than the image
    Tensor y32 = Tensor::empty(ctx, {2, 4, 6, 6}, DType::f32);
    CHECK_THROWS_AS(conv2d(ctx, x, w_ok, nullptr, y32), DTypeError);
    Tensor p = Tensor::empty(ctx, {2, 3, 4, 4}, DType::f16), arg = Tensor::empty(ctx, {2, 3, 4, 4}, DType::f32);
    CHECK_THROWS_WITH_AS(max_pool2d(ctx, x, p, arg), doctest::Contains("argmax is f32"), DTypeError);  // must be u32
    // Groups that do not divide the channels, or that w's channels do not match.
    Conv2dParams grouped;
    grouped.groups = 2;
    Tensor x4 = Tensor::empty(ctx, {2, 4, 8, 8}, DType::f16), w3 = Tensor::empty(ctx, {3, 2, 3, 3}, DType::f16);
    Tensor y3 = Tensor::empty(ctx, {2, 3, 6, 6}, DType::f16);
    CHECK_THROWS_WITH_AS(conv2d(ctx, x4, w3, nullptr, y3, grouped), doctest::Contains("groups do not divide"), ShapeError);
    CHECK_THROWS_WITH_AS(conv2d(ctx, x4, w_ok, nullptr, y, grouped), doctest::Contains("per group"), ShapeError);
    grouped.groups = 0;
    CHECK_THROWS_AS(conv2d(ctx, x4, w3, nullptr, y3, grouped), ShapeError);
    grouped.groups = 3;
    CHECK_THROWS_WITH_AS(Conv2d(4, 6, 3, grouped), doctest::Contains("must divide"), ShapeError);
    test::check_validation(ctx);
}

} // TEST_SUITE

// The three products lowered onto gemm_coopmat.comp (im2col/col2im around it), forced through the
// coopmat variant on every listed shape; the recorded dispatches must include the
// cooperative-matrix GEMM, so a fall-back to another kernel fails.
TEST_SUITE("coopmat") {

TEST_CASE("conv2d forward, data and weight gradients on cooperative matrices match fp64, on every listed shape") {
    for (auto& dev : test::coopmat_devices()) {
        Context& ctx = *dev.ctx;
        CAPTURE(dev.label);
        auto run = [&](auto&& record) {  // records one product, runs it, says whether coopmat ran
            detail::CommandList cl(ctx.impl(), ctx.caps().timestamps);
            record(cl);
            cl.submit_and_wait();
            if (!ctx.caps().timestamps) return true;  // no labels to look at
            for (const auto& t : cl.timings())
                if (t.label.rfind("gemm.coopmat", 0) == 0) return true;
            return false;
        };
        const OpOptions coopmat{Variant::coopmat};
        for (const ConvCase& c : kConvCases) {
            const ref::ConvDims& d = c.d;
            CAPTURE(c.name);
            const Shape xs{d.b, d.cin, d.h, d.w}, ws{d.cout, d.cin, d.kh, d.kw}, ys{d.b, d.cout, d.oh(), d.ow()};
            const auto x = test::random_values(numel(xs), -1, 1, 1, true), w = test::random_values(numel(ws), -1, 1, 2, true);
            const auto bias = test::random_values(d.cout, -1, 1, 3, true), dy = test::random_values(numel(ys), -1, 1, 4, true);
            Tensor tx = Tensor::from_floats(ctx, xs, DType::f16, x), tw = Tensor::from_floats(ctx, ws, DType::f16, w);
            Tensor tb = Tensor::from_floats(ctx, {d.cout}, DType::f16, bias), tdy = Tensor::from_floats(ctx, ys, DType::f16, dy);
            Tensor ty = Tensor::empty(ctx, ys, DType::f16), tdx = Tensor::empty(ctx, xs, DType::f16), tdw = Tensor::empty(ctx, ws, DType::f16);
            const Conv2dParams p = params_of(d);
            CHECK(run([&](detail::CommandList& cl) { detail::record_conv2d(cl, ctx, tx, tw, &tb, ty, p, true, coopmat); }));
            CHECK(run([&](detail::CommandList& cl) { detail::record_conv2d_backward_data(cl, ctx, tdy, tw, tdx, p, coopmat); }));
            CHECK(run([&](detail::CommandList& cl) { detail::record_conv2d_backward_weight(cl, ctx, tdy, tx, tdw, p, coopmat); }));
            std::vector<double> mag;  // filled by the reference before count_bad reads it
            const auto want = ref::conv2d(d, x, w, bias, true, mag);
            CHECK(count_bad(ty.to_floats(), want, mag, d.cin * d.kh * d.kw, true) == 0);
            const auto dyd = to_double(dy);
            CHECK(count_bad(tdx.to_floats(), ref::conv2d_backward_data(d, dyd, w),
                            ref::conv2d_backward_data(d, abs_of(dyd), std::vector<float>(w.size(), 1.0f)),
                            d.cout * d.kh * d.kw, true) == 0);
            const auto dw = ref::conv2d_backward_weight(d, dyd, x);
            const auto dw_mag = ref::conv2d_backward_weight(d, abs_of(dyd), std::vector<float>(x.size(), 1.0f));
            CHECK(count_bad(tdw.to_floats(), dw, dw_mag, d.b * d.oh() * d.ow(), true) == 0);
            check_weight_grad_accumulates(ctx, tdy, tx, tdw, p, coopmat, dw, dw_mag, d.b * d.oh() * d.ow(), true);
        }
        // The implicit algorithm has no cooperative-matrix form, and f32 tensors none either.
        const ref::ConvDims& d = kConvCases[0].d;
        Tensor x32 = Tensor::empty(ctx, {d.b, d.cin, d.h, d.w}, DType::f32), w32 = Tensor::empty(ctx, {d.cout, d.cin, d.kh, d.kw}, DType::f32);
        Tensor y32 = Tensor::empty(ctx, {d.b, d.cout, d.oh(), d.ow()}, DType::f32);
        CHECK_THROWS_AS(conv2d(ctx, x32, w32, nullptr, y32, params_of(d), false, coopmat), DTypeError);
        Tensor x16 = Tensor::empty(ctx, {d.b, d.cin, d.h, d.w}, DType::f16), w16 = Tensor::empty(ctx, {d.cout, d.cin, d.kh, d.kw}, DType::f16);
        Tensor y16 = Tensor::empty(ctx, {d.b, d.cout, d.oh(), d.ow()}, DType::f16);
        Conv2dParams implicit = params_of(d);
        implicit.algorithm = ConvAlgorithm::implicit_gemm;
        CHECK_THROWS_AS(conv2d(ctx, x16, w16, nullptr, y16, implicit, false, coopmat), UnsupportedError);
        test::check_validation(ctx);
    }
}

} // TEST_SUITE
