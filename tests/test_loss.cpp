// mse_loss.comp against the fp64 reference in every tier (the fused softmax cross-entropy is
// tested with the training step, tests/test_train.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "kernels/record.hpp"
#include "reference/reference.hpp"
#include "runtime/command_list.hpp"
#include "support.hpp"
#include "kernels/training_ops.hpp"

using namespace vkhalf;

TEST_SUITE("loss") {

TEST_CASE("mse_loss: fp32 mean of squares and the scaled gradient match fp64 in every tier") {
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                for (int64_t n : {1, 3, 1000, 100001}) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(n);
                    const bool f16 = dt == DType::f16;
                    const auto y = test::random_values(n, -3, 3, 31, f16), t = test::random_values(n, -3, 3, 32, f16);
                    Tensor ty = Tensor::from_floats(*d.ctx, {n}, dt, y), tt = Tensor::from_floats(*d.ctx, {n}, dt, t);
                    Tensor loss = Tensor::empty(*d.ctx, {1}, DType::f32), dy = Tensor::empty(*d.ctx, {n}, dt);
                    const float scale = 256.0f;
                    mse_loss(*d.ctx, ty, tt, loss, &dy, scale, {v});
                    double want = 0;
                    for (int64_t i = 0; i < n; ++i) want += (double(y[i]) - t[i]) * (double(y[i]) - t[i]);
                    want /= double(n);
                    CHECK(loss.to_floats()[0] == doctest::Approx(want).epsilon(1e-5));
                    const auto g = dy.to_floats();
                    std::size_t bad = 0;
                    for (int64_t i = 0; i < n; ++i) {
                        const double w = scale * 2.0 * (double(y[i]) - t[i]) / double(n);
                        bad += f16 ? !ref::close_f16(g[i], w) : std::fabs(g[i] - w) > 1e-6 * std::fabs(w) + 1e-30;
                    }
                    CHECK(bad == 0);
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("mse_loss keeps fp16-range errors finite (fp32 squares) and rejects bad shapes") {
    auto& ctx = test::full_device();
    Tensor y = Tensor::from_floats(ctx, {2}, DType::f16, std::vector<float>{60000.0f, -60000.0f});
    Tensor t = Tensor::from_floats(ctx, {2}, DType::f16, std::vector<float>{-60000.0f, 60000.0f});
    Tensor loss = Tensor::empty(ctx, {1}, DType::f32);
    mse_loss(ctx, y, t, loss);
    CHECK(loss.to_floats()[0] == doctest::Approx(1.44e10).epsilon(1e-6));  // 120000^2: far past fp16
    Tensor t3 = Tensor::empty(ctx, {3}, DType::f16), loss2 = Tensor::empty(ctx, {2}, DType::f32);
    CHECK_THROWS_AS(mse_loss(ctx, y, t3, loss), ShapeError);
    CHECK_THROWS_AS(mse_loss(ctx, y, t, loss2), ShapeError);
    test::check_validation(ctx);
}

TEST_CASE("mse_loss with a training state: the loss scale seeds the gradient, the metrics grow, in every tier") {
    // y [rows, cols] against targets one-hot in most rows (so row agreement counts), the mean over
    // mean_over rows (a micro-batch of a larger batch), S = 1024 read from the state on the device.
    struct Case {
        int64_t rows, cols;
        uint32_t mean_over;
    };
    for (auto& d : test::devices())
        for (DType dt : {DType::f32, DType::f16})
            for (Variant v : test::variants(*d.ctx, dt))
                for (Case c : {Case{1, 1, 0}, Case{5, 3, 0}, Case{64, 10, 128}, Case{33, 7, 33}}) {
                    CAPTURE(d.label);
                    CAPTURE(to_string(v));
                    CAPTURE(c.rows);
                    CAPTURE(c.cols);
                    const bool f16 = dt == DType::f16;
                    const int64_t n = c.rows * c.cols;
                    const auto y = test::random_values(std::size_t(n), -2, 2, 71, f16);
                    std::vector<float> t(std::size_t(n), 0.0f);
                    const auto noise = test::random_values(std::size_t(n), -0.5f, 0.5f, 72, f16);
                    for (int64_t r = 0; r < c.rows; ++r)
                        for (int64_t k = 0; k < c.cols; ++k)  // every third row not one-hot: any target works
                            t[r * c.cols + k] = r % 3 == 2 ? noise[r * c.cols + k] : float(k == (r * 5) % c.cols);
                    Tensor ty = Tensor::from_floats(*d.ctx, {c.rows, c.cols}, dt, y);
                    Tensor tt = Tensor::from_floats(*d.ctx, {c.rows, c.cols}, dt, t);
                    Tensor loss = Tensor::empty(*d.ctx, {1}, DType::f32), dy = Tensor::empty(*d.ctx, {c.rows, c.cols}, dt);
                    LossScaleOptions ls;
                    ls.init_scale = 1024.0f;
                    Tensor state = detail::state_tensor(*d.ctx, detail::initial_state(ls));
                    {
                        detail::CommandList cl(d.ctx->impl());
                        // With the gradient, then metrics only (evaluation): the metrics add up twice.
                        detail::record_mse_loss(cl, *d.ctx, ty, tt, loss, &dy, 0.0f, {v}, &state, c.mean_over);
                        detail::record_mse_loss(cl, *d.ctx, ty, tt, loss, nullptr, 0.0f, {v}, &state, c.mean_over);
                        cl.submit_and_wait();
                    }
                    const detail::TrainState s = detail::read_state(state);
                    double sum = 0;
                    uint32_t agree = 0;
                    for (int64_t r = 0; r < c.rows; ++r) {
                        int64_t best_y = 0, best_t = 0;
                        for (int64_t k = 0; k < c.cols; ++k) {
                            const int64_t i = r * c.cols + k;
                            sum += (double(y[i]) - t[i]) * (double(y[i]) - t[i]);
                            if (y[i] > y[r * c.cols + best_y]) best_y = k;
                            if (t[i] > t[r * c.cols + best_t]) best_t = k;
                        }
                        agree += best_y == best_t;
                    }
                    CHECK(s.seen == uint32_t(2 * c.rows));
                    CHECK(s.correct == 2 * agree);
                    CHECK(s.loss_sum == doctest::Approx(2 * sum / double(c.cols)).epsilon(1e-5));
                    CHECK(loss.to_floats()[0] == doctest::Approx(sum / double(n)).epsilon(1e-5));
                    const double over = double(c.mean_over ? c.mean_over : c.rows) * double(c.cols);
                    const auto g = dy.to_floats();
                    std::size_t bad = 0;
                    for (int64_t i = 0; i < n; ++i) {
                        const double w = 1024.0 * 2.0 * (double(y[i]) - t[i]) / over;
                        bad += f16 ? !ref::close_f16(g[i], w) : std::fabs(g[i] - w) > 1e-6 * std::fabs(w) + 1e-30;
                    }
                    CHECK(bad == 0);
                    test::check_validation(*d.ctx);
                }
}

TEST_CASE("mse_loss with a training state refuses a bad state, a mean over fewer rows, and a bound number") {
    auto& ctx = test::full_device();
    Tensor y = Tensor::empty(ctx, {4, 2}, DType::f32), t = Tensor::empty(ctx, {4, 2}, DType::f32);
    Tensor loss = Tensor::empty(ctx, {1}, DType::f32), bad_state = Tensor::empty(ctx, {3}, DType::u32);
    Tensor state = detail::state_tensor(ctx, detail::initial_state({}));
    detail::CommandList cl(ctx.impl());
    CHECK_THROWS_AS(detail::record_mse_loss(cl, ctx, y, t, loss, nullptr, 1.0f, {}, &bad_state), ShapeError);
    CHECK_THROWS_AS(detail::record_mse_loss(cl, ctx, y, t, loss, nullptr, 1.0f, {}, &state, 3), ShapeError);
    Builder b(ctx);
    const Value yv = b.parameter(y, "y");
    const Value l = b.mse_loss(yv, b.input(t, "t"), state);
    CHECK_THROWS_AS(Program(b, {{l, loss}}), Error);                     // a handle: no number to bind
    CHECK_THROWS_AS(b.grad(l, {yv}, 2.0f), UnsupportedError);           // the state's S seeds it
    CHECK_THROWS_AS(b.mse_loss(yv, b.input(t, "t"), Tensor()), Error);  // no state
    test::check_validation(ctx);
}

TEST_CASE("the loss gradients the kernels compute equal central finite differences of the losses") {
    // Softmax cross-entropy with label smoothing, mean over the batch (what softmax_xent.comp's
    // gradient, divided by the loss scale, must be), and MSE.
    const int batch = 3, classes = 5;
    auto z = test::random_values(batch * classes, -4, 4, 61, false);
    const int labels[batch] = {1, 4, 0};
    for (double eps : {0.0, 0.1}) {
        auto loss = [&] {
            double l = 0;
            for (int r = 0; r < batch; ++r) {
                double zmax = -1e300, sum = 0, mean = 0;
                for (int c = 0; c < classes; ++c) zmax = std::max(zmax, double(z[r * classes + c]));
                for (int c = 0; c < classes; ++c) sum += std::exp(z[r * classes + c] - zmax), mean += z[r * classes + c];
                const double lse = std::log(sum) + zmax;
                l += (1 - eps) * (lse - z[r * classes + labels[r]]) + eps * (lse - mean / classes);
            }
            return l / batch;
        };
        const float h = 1.0f / 1024;
        for (int r = 0; r < batch; ++r)
            for (int c = 0; c < classes; ++c) {
                double zmax = -1e300, sum = 0;
                for (int k = 0; k < classes; ++k) zmax = std::max(zmax, double(z[r * classes + k]));
                for (int k = 0; k < classes; ++k) sum += std::exp(z[r * classes + k] - zmax);
                const double p = std::exp(z[r * classes + c] - zmax) / sum;
                const double q = (c == labels[r] ? 1 - eps : 0.0) + eps / classes;
                const double analytic = (p - q) / batch;  // the kernel's formula with scale 1
                CHECK(test::central_difference(z, std::size_t(r * classes + c), h, loss) ==
                      doctest::Approx(analytic).epsilon(1e-5).scale(1e-3));
            }
    }
    auto y = test::random_values(7, -3, 3, 62, false);
    const auto t = test::random_values(7, -3, 3, 63, false);
    auto mse = [&] {
        double l = 0;
        for (int i = 0; i < 7; ++i) l += (double(y[i]) - t[i]) * (double(y[i]) - t[i]);
        return l / 7;
    };
    const float h = 1.0f / 1024;
    for (int i = 0; i < 7; ++i) {
        const double analytic = 2.0 * (double(y[i]) - t[i]) / 7;  // mse_loss.comp's formula with scale 1
        CHECK(test::central_difference(y, std::size_t(i), h, mse) == doctest::Approx(analytic).epsilon(1e-9));
    }
}

} // TEST_SUITE
