// batch_norm.comp (training forward with running statistics, evaluation forward, backward) and
// layer_norm.comp in every tier on both test devices against fp64; the reference backwards against
// central finite differences; the BatchNorm2d and LayerNorm modules.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "kernels/record.hpp"
#include "reference/norm.hpp"
#include "reference/reference.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

bool close(double got, double want, double scale, bool f16) {
    if (f16) return ref::close_f16(got, want) || std::fabs(got - want) <= 1e-3 * scale;
    return std::fabs(got - want) <= 1e-5 * scale + 1e-6;
}

} // namespace

TEST_SUITE("norm") {

TEST_CASE("batch_norm2d training and evaluation forward and backward match fp64 in every tier") {
    const int b = 3, c = 5, h = 7, w = 6, s = h * w;
    for (auto& d : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*d.ctx, dt)) {
                CAPTURE(d.label);
                CAPTURE(to_string(v));
                const bool f16 = dt == DType::f16;
                const auto x = test::random_values(b * c * s, -20, 30, 41, f16);  // offset mean, wide spread
                const auto gamma = test::random_values(c, 0.5f, 2.0f, 42, f16);
                const auto beta = test::random_values(c, -1, 1, 43, f16);
                const auto dy = test::random_values(b * c * s, -1, 1, 44, f16);
                Tensor tx = Tensor::from_floats(*d.ctx, {b, c, h, w}, dt, x), ty = Tensor::empty(*d.ctx, {b, c, h, w}, dt);
                Tensor tg = Tensor::from_floats(*d.ctx, {c}, dt, gamma), tb = Tensor::from_floats(*d.ctx, {c}, dt, beta);
                BatchNormStats stats = BatchNormStats::create(*d.ctx, c);
                batch_norm2d(*d.ctx, tx, tg, tb, stats, ty, true, {}, {v});
                const auto want = ref::batch_norm_train(x, b, c, s, gamma, beta, 1e-5);
                auto got = ty.to_floats();
                std::size_t bad = 0;
                for (std::size_t i = 0; i < want.y.size(); ++i) bad += !close(got[i], want.y[i], 4.0, f16);
                CHECK(bad == 0);
                // Running statistics: (1 - 0.1) * (0, 1) + 0.1 * (mean, unbiased var)
                const auto rm = stats.running_mean().to_floats(), rv = stats.running_var().to_floats();
                const double n = double(b) * s;
                std::vector<double> run_mean(c), run_var(c);
                for (int ch = 0; ch < c; ++ch) {
                    run_mean[ch] = 0.1 * want.mean[ch];
                    run_var[ch] = 0.9 + 0.1 * want.var[ch] * n / (n - 1);
                    CHECK(rm[ch] == doctest::Approx(run_mean[ch]).epsilon(1e-4));
                    CHECK(rv[ch] == doctest::Approx(run_var[ch]).epsilon(1e-4));
                }
                // Evaluation uses the running statistics.
                batch_norm2d(*d.ctx, tx, tg, tb, stats, ty, false, {}, {v});
                const auto eval = ref::batch_norm_eval(x, b, c, s, gamma, beta, run_mean, run_var, 1e-5);
                got = ty.to_floats();
                bad = 0;
                for (std::size_t i = 0; i < eval.size(); ++i) bad += !close(got[i], eval[i], 20.0, f16);
                CHECK(bad == 0);
                // Backward of the training forward (the saved statistics).
                batch_norm2d(*d.ctx, tx, tg, tb, stats, ty, true, {}, {v});
                Tensor tdy = Tensor::from_floats(*d.ctx, {b, c, h, w}, dt, dy), tdx = Tensor::empty(*d.ctx, {b, c, h, w}, dt);
                Tensor tdg = Tensor::empty(*d.ctx, {c}, dt), tdb = Tensor::empty(*d.ctx, {c}, dt);
                batch_norm2d_backward(*d.ctx, tdy, tx, tg, stats, tdx, tdg, tdb, {}, {v});
                std::vector<double> dx, dg, db;
                ref::batch_norm_backward(x, std::vector<double>(dy.begin(), dy.end()), b, c, s, gamma, 1e-5, dx, dg, db);
                got = tdx.to_floats();
                bad = 0;
                for (std::size_t i = 0; i < dx.size(); ++i) bad += !close(got[i], dx[i], 0.1, f16);
                CHECK(bad == 0);
                const auto g = tdg.to_floats(), bt = tdb.to_floats();
                for (int ch = 0; ch < c; ++ch) {
                    CHECK(close(g[ch], dg[ch], 10.0, f16));
                    CHECK(close(bt[ch], db[ch], 10.0, f16));
                }
                // Accumulate modes (the compiler's fold of a gradient sum): dgamma alone adds to what
                // its buffer holds, then dbeta alone; dx is written anew each time.
                for (const detail::ParamGradAccumulate acc : {detail::ParamGradAccumulate{true, false},
                                                              detail::ParamGradAccumulate{false, true}}) {
                    const auto g0 = tdg.to_floats(), b0 = tdb.to_floats();
                    detail::CommandList cl(d.ctx->impl());
                    detail::record_batch_norm2d_backward(cl, d.ctx->impl(), tdy, tx, tg, stats, tdx, tdg, tdb, {}, {v},
                                                         acc);
                    cl.submit_and_wait();
                    const auto g1 = tdg.to_floats(), b1 = tdb.to_floats();
                    for (int ch = 0; ch < c; ++ch) {
                        CHECK(close(g1[ch], acc.dgamma ? g0[ch] + dg[ch] : dg[ch], 10.0, f16));
                        CHECK(close(b1[ch], acc.dbeta ? b0[ch] + db[ch] : db[ch], 10.0, f16));
                    }
                }
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("batch_norm reference gradients equal central finite differences") {
    const int b = 2, c = 2, s = 5;
    auto x = test::random_values(b * c * s, -2, 2, 45, false);
    auto gamma = test::random_values(c, 0.5f, 2.0f, 46, false);
    const auto beta = test::random_values(c, -1, 1, 47, false), r = test::random_values(b * c * s, -1, 1, 48, false);
    auto loss = [&] {
        const auto y = ref::batch_norm_train(x, b, c, s, gamma, beta, 1e-5).y;
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
        return l;
    };
    std::vector<double> dx, dg, db;
    ref::batch_norm_backward(x, std::vector<double>(r.begin(), r.end()), b, c, s, gamma, 1e-5, dx, dg, db);
    const float h = 1.0f / 512;
    for (std::size_t i = 0; i < x.size(); ++i) {
        CHECK(test::central_difference(x, std::size_t(i), h, loss) == doctest::Approx(dx[i]).epsilon(1e-4).scale(1.0));
    }
    for (int ch = 0; ch < c; ++ch) {
        CHECK(test::central_difference(gamma, std::size_t(ch), h, loss) == doctest::Approx(dg[ch]).epsilon(1e-6));
    }
}

TEST_CASE("a CNN with BatchNorm2d learns; evaluation uses running statistics; checkpoints keep them") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 5);
    auto make = [] {
        auto m = std::make_unique<Sequential>();
        m->emplace<Unflatten>(Shape{1, 8, 8})
            .emplace<Conv2d>(1, 8, 3, Conv2dParams{1, 1, 1, 1})
            .emplace<BatchNorm2d>(8)
            .emplace<ReLU>()
            .emplace<Flatten>()
            .emplace<Linear>(8 * 64, 10);
        return m;
    };
    auto model = make();
    TrainerOptions o;
    o.batch = 64;
    Trainer tr(ctx, *model, data, o);
    test::train_epochs(tr, 2);
    const Metrics eval = tr.evaluate(data);
    CHECK(eval.accuracy() > 0.9);
    CHECK(tr.evaluate(data).loss_sum == eval.loss_sum);  // evaluation does not move the statistics
    const auto state = tr.state_tensors();
    REQUIRE(state.size() == 2);
    CHECK(state[0].first == "2.running_mean");
    const auto rv = state[1].second.to_floats();
    CHECK(rv[0] != 1.0f);  // moved from its initial value

    // Unique per process: ctest runs this suite twice at once (norm, sync-validation).
    const std::string path =
        (std::filesystem::temp_directory_path() / ("vkhalf_bn_" + std::to_string(::getpid()) + ".safetensors")).string();
    save_checkpoint(tr, path);
    auto model2 = make();
    Trainer resumed(ctx, *model2, data, o);
    load_checkpoint(resumed, path);
    CHECK(resumed.state_tensors()[1].second.to_floats() == rv);
    CHECK(resumed.evaluate(data).loss_sum == eval.loss_sum);
    std::filesystem::remove(path);
    test::check_validation(ctx);
}

TEST_CASE("layer_norm forward and backward match fp64 in every tier; its reference matches finite differences") {
    const int rows = 13, d = 37;
    for (auto& dev : test::devices()) {
        for (DType dt : {DType::f32, DType::f16}) {
            for (Variant v : test::variants(*dev.ctx, dt)) {
                CAPTURE(dev.label);
                CAPTURE(to_string(v));
                const bool f16 = dt == DType::f16;
                const auto x = test::random_values(rows * d, -10, 20, 51, f16);
                const auto gamma = test::random_values(d, 0.5f, 2.0f, 52, f16), beta = test::random_values(d, -1, 1, 53, f16);
                const auto dy = test::random_values(rows * d, -1, 1, 54, f16);
                Tensor tx = Tensor::from_floats(*dev.ctx, {rows, d}, dt, x), ty = Tensor::empty(*dev.ctx, {rows, d}, dt);
                Tensor tg = Tensor::from_floats(*dev.ctx, {d}, dt, gamma), tb = Tensor::from_floats(*dev.ctx, {d}, dt, beta);
                Tensor stats = Tensor::empty(*dev.ctx, {2 * rows}, DType::f32);
                layer_norm(*dev.ctx, tx, tg, tb, ty, stats, 1e-5f, {v});
                const auto want = ref::layer_norm(x, rows, d, gamma, beta, 1e-5);
                auto got = ty.to_floats();
                std::size_t bad = 0;
                for (std::size_t i = 0; i < want.size(); ++i) bad += !close(got[i], want[i], 4.0, f16);
                CHECK(bad == 0);
                Tensor tdy = Tensor::from_floats(*dev.ctx, {rows, d}, dt, dy), tdx = Tensor::empty(*dev.ctx, {rows, d}, dt);
                Tensor tdg = Tensor::empty(*dev.ctx, {d}, dt), tdb = Tensor::empty(*dev.ctx, {d}, dt);
                layer_norm_backward(*dev.ctx, tdy, tx, tg, stats, tdx, tdg, tdb, {v});
                std::vector<double> dx, dg, db;
                ref::layer_norm_backward(x, std::vector<double>(dy.begin(), dy.end()), rows, d, gamma, 1e-5, dx, dg, db);
                got = tdx.to_floats();
                bad = 0;
                for (std::size_t i = 0; i < dx.size(); ++i) bad += !close(got[i], dx[i], 0.5, f16);
                CHECK(bad == 0);
                const auto g = tdg.to_floats(), b = tdb.to_floats();
                for (int j = 0; j < d; ++j) {
                    CHECK(close(g[j], dg[j], 10.0, f16));
                    CHECK(close(b[j], db[j], 10.0, f16));
                }
                // Accumulate modes, as for batch_norm2d above.
                for (const detail::ParamGradAccumulate acc : {detail::ParamGradAccumulate{true, false},
                                                              detail::ParamGradAccumulate{false, true}}) {
                    const auto g0 = tdg.to_floats(), b0 = tdb.to_floats();
                    detail::CommandList cl(dev.ctx->impl());
                    detail::record_layer_norm_backward(cl, dev.ctx->impl(), tdy, tx, tg, stats, tdx, tdg, tdb, {v}, acc);
                    cl.submit_and_wait();
                    const auto g1 = tdg.to_floats(), b1 = tdb.to_floats();
                    for (int j = 0; j < d; ++j) {
                        CHECK(close(g1[j], acc.dgamma ? g0[j] + dg[j] : dg[j], 10.0, f16));
                        CHECK(close(b1[j], acc.dbeta ? b0[j] + db[j] : db[j], 10.0, f16));
                    }
                }
            }
        }
        test::check_validation(*dev.ctx);
    }
    // The reference backward against central finite differences of L = sum y * r.
    auto x = test::random_values(3 * 7, -2, 2, 55, false);
    const auto gamma = test::random_values(7, 0.5f, 2.0f, 56, false), beta = test::random_values(7, -1, 1, 57, false);
    const auto r = test::random_values(3 * 7, -1, 1, 58, false);
    std::vector<double> dx, dg, db;
    ref::layer_norm_backward(x, std::vector<double>(r.begin(), r.end()), 3, 7, gamma, 1e-5, dx, dg, db);
    auto loss = [&] {
        const auto y = ref::layer_norm(x, 3, 7, gamma, beta, 1e-5);
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
        return l;
    };
    const float h = 1.0f / 512;
    for (std::size_t i = 0; i < x.size(); ++i) {
        CHECK(test::central_difference(x, std::size_t(i), h, loss) == doctest::Approx(dx[i]).epsilon(1e-4).scale(1.0));
    }
}

TEST_CASE("an MLP with LayerNorm learns") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 32, 6);
    Sequential model;
    model.emplace<Linear>(32, 48).emplace<LayerNorm>(48).emplace<ReLU>().emplace<Linear>(48, 10);
    TrainerOptions o;
    o.batch = 64;
    Trainer tr(ctx, model, data, o);
    test::train_epochs(tr, 3);
    CHECK(tr.evaluate(data).accuracy() > 0.9);
    CHECK(tr.parameters().infos()[2].name == "1.weight");
    test::check_validation(ctx);
}

} // TEST_SUITE
