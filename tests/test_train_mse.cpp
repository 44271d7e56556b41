// The Trainer's MSE loss, chosen by a dataset with targets (DeviceDataset::upload_regression):
// the first step's gradient against fp64, the targets following the shuffled order, one-hot
// targets as a classifier, and the refusals.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support.hpp"

using namespace vkhalf;

namespace {

struct Regression {
    std::vector<uint8_t> pixels;
    std::vector<float> targets;
};

// count examples of d random bytes; outputs targets each a fixed linear function of the pixels
// (so a linear model can fit them, and only if every example meets its own targets).
Regression linear_targets(int64_t count, int64_t d, int64_t outputs, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::normal_distribution<double> weight(0.0, 1.0);
    std::vector<double> a(std::size_t(outputs * d));
    for (double& w : a) w = weight(rng) / std::sqrt(double(d));
    Regression r;
    r.pixels.resize(std::size_t(count * d));
    for (uint8_t& p : r.pixels) p = uint8_t(byte(rng));
    r.targets.resize(std::size_t(count * outputs));
    for (int64_t i = 0; i < count; ++i)
        for (int64_t o = 0; o < outputs; ++o) {
            double t = 0;
            for (int64_t j = 0; j < d; ++j) t += a[std::size_t(o * d + j)] * (r.pixels[std::size_t(i * d + j)] / 255.0 - 0.5);
            r.targets[std::size_t(i * outputs + o)] = float(4.0 * t);
        }
    return r;
}

} // namespace

TEST_SUITE("train") {

TEST_CASE("MSE training: the first step's gradient of a linear model matches fp64, whole batch or micro-batches") {
    // y = x W^T + b over the first batch (no shuffle: examples 0..B-1); dL/dW = 2/(B O) sum_r
    // (y_r - t_r) x_r^T. After one SGD step with momentum the momentum buffer holds the gradient
    // itself (unscaled: in fp16 the device seeded it with the loss scale and divided it out).
    auto& ctx = test::full_device();
    const int64_t count = 96, d = 16, outputs = 3, batch = 32;
    const Regression r = linear_targets(count, d, outputs, 5);
    const DeviceDataset data = DeviceDataset::upload_regression(ctx, r.pixels, r.targets, count, d, int(outputs));
    for (Precision p : {Precision::fp32, Precision::fp16})
        for (uint32_t micro : {1u, 2u}) {
            CAPTURE(int(p));
            CAPTURE(micro);
            const bool f16 = p == Precision::fp16;
            Sequential model;
            model.emplace<Linear>(d, outputs);
            TrainerOptions o;
            o.precision = p;
            o.batch = batch;
            o.micro_batches = micro;
            o.mean = 0.5f;
            o.std = 0.25f;
            o.optimizer.kind = OptimizerKind::sgd;
            o.optimizer.lr = 1e-3f;
            o.optimizer.momentum = 0.9f;
            o.optimizer.weight_decay = 0.0f;
            Trainer tr(ctx, model, data, o);
            const std::vector<float> w = tr.parameters().get_master(0), b = tr.parameters().get_master(1);
            tr.step();
            const Metrics m = tr.metrics();
            // fp64 from what the device computes with: inputs and weights rounded as stored.
            auto stored = [&](float v) { return f16 ? round_to_f16(v) : v; };
            std::vector<double> dw(std::size_t(outputs * d), 0.0), db(std::size_t(outputs), 0.0);
            double loss_sum = 0;
            for (int64_t i = 0; i < batch; ++i) {
                std::vector<double> x(static_cast<std::size_t>(d));
                for (int64_t j = 0; j < d; ++j)
                    x[std::size_t(j)] = stored((float(r.pixels[std::size_t(i * d + j)]) / 255.0f - o.mean) * (1.0f / o.std));
                for (int64_t k = 0; k < outputs; ++k) {
                    double y = stored(b[std::size_t(k)]);
                    for (int64_t j = 0; j < d; ++j) y += double(stored(w[std::size_t(k * d + j)])) * x[std::size_t(j)];
                    const double diff = y - stored(r.targets[std::size_t(i * outputs + k)]);
                    loss_sum += diff * diff / double(outputs);
                    const double g = 2.0 * diff / double(batch * outputs);
                    db[std::size_t(k)] += g;
                    for (int64_t j = 0; j < d; ++j) dw[std::size_t(k * d + j)] += g * x[std::size_t(j)];
                }
            }
            CHECK(m.seen == uint64_t(batch));
            CHECK(m.skipped == 0);
            CHECK(m.loss_sum == doctest::Approx(loss_sum).epsilon(f16 ? 5e-3 : 1e-5));
            const std::vector<float> gw = tr.parameters().moment1(0).to_floats(), gb = tr.parameters().moment1(1).to_floats();
            const double tol = f16 ? 1e-2 : 1e-5;  // fp16: y and dy stored in fp16, the products summed in fp32
            double scale = 0;
            for (double g : dw) scale = std::max(scale, std::fabs(g));
            std::size_t bad = 0;
            for (std::size_t i = 0; i < dw.size(); ++i)
                if (std::fabs(gw[i] - dw[i]) > tol * scale && bad++ < 5) MESSAGE("dW[" << i << "] " << gw[i] << ", want " << dw[i]);
            for (std::size_t k = 0; k < db.size(); ++k)
                if (std::fabs(gb[k] - db[k]) > tol * scale && bad++ < 5) MESSAGE("db[" << k << "] " << gb[k] << ", want " << db[k]);
            CHECK(bad == 0);
        }
    test::check_validation(ctx);
}

TEST_CASE("MSE training: a linear model fits targets that follow each example through the shuffled order") {
    // The targets are a linear function of the pixels: only a run that pairs every example with its
    // own targets (looked up by example index after the shuffle) can drive the loss near zero.
    auto& ctx = test::full_device();
    const int64_t d = 16, outputs = 3;
    const Regression train = linear_targets(512, d, outputs, 7), test_set = linear_targets(128, d, outputs, 7);
    const DeviceDataset train_data = DeviceDataset::upload_regression(ctx, train.pixels, train.targets, 512, d, 3);
    const DeviceDataset test_data =
        DeviceDataset::upload_regression(ctx, test_set.pixels, test_set.targets, 128, d, int(outputs));
    double variance = 0;
    for (float t : test_set.targets) variance += double(t) * t;
    variance /= double(test_set.targets.size());
    for (Precision p : {Precision::fp32, Precision::fp16}) {
        CAPTURE(int(p));
        Sequential model;
        model.emplace<Linear>(d, outputs);
        TrainerOptions o;
        o.precision = p;
        o.batch = 32;
        o.mean = 0.5f;
        o.std = 0.25f;
        o.optimizer.lr = 2e-2f;
        o.optimizer.weight_decay = 0.0f;
        Trainer tr(ctx, model, train_data, o);
        const double before = tr.evaluate(test_data).mean_loss();
        test::train_epochs(tr, 8);
        const Metrics m = tr.evaluate(test_data);
        MESSAGE("test MSE " << before << " -> " << m.mean_loss() << " (target variance " << variance << ")");
        CHECK(m.seen == 128);
        CHECK(m.mean_loss() < 0.02 * variance);
        CHECK(tr.metrics().skipped == 0);
    }
    test::check_validation(ctx);
}

TEST_CASE("MSE training on one-hot targets classifies: the metrics' accuracy is argmax agreement") {
    auto& ctx = test::full_device();
    const int n = 1024, d = 64;
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> u(0, 255);
    std::normal_distribution<float> noise(0, 40);
    std::vector<std::vector<int>> proto(10, std::vector<int>(d));
    for (auto& p : proto)
        for (auto& x : p) x = u(rng);
    std::vector<uint8_t> px(std::size_t(n) * d);
    std::vector<float> onehot(std::size_t(n) * 10, 0.0f);
    for (int i = 0; i < n; ++i) {
        onehot[std::size_t(i) * 10 + std::size_t(i % 10)] = 1.0f;
        for (int j = 0; j < d; ++j)
            px[std::size_t(i) * d + j] = uint8_t(std::clamp(proto[std::size_t(i % 10)][std::size_t(j)] + int(noise(rng)), 0, 255));
    }
    const DeviceDataset data = DeviceDataset::upload_regression(ctx, px, onehot, n, d, 10);
    Sequential model;
    model.emplace<Linear>(d, 32).emplace<ReLU>().emplace<Linear>(32, 10);
    TrainerOptions o;
    o.batch = 64;
    o.mean = 0.5f;
    o.std = 0.25f;
    Trainer tr(ctx, model, data, o);
    const double chance = tr.evaluate(data).accuracy();
    test::train_epochs(tr, 6);
    const Metrics m = tr.evaluate(data);
    MESSAGE("argmax agreement " << chance << " -> " << m.accuracy() << ", MSE " << m.mean_loss());
    CHECK(m.accuracy() > 0.95);
    CHECK(m.mean_loss() < 0.05);
    test::check_validation(ctx);
}

TEST_CASE("MSE training refuses bad targets, label smoothing, a misshapen model and evaluation data of another kind") {
    auto& ctx = test::full_device();
    const Regression r = linear_targets(8, 4, 2, 1);
    CHECK_THROWS_AS(DeviceDataset::upload_regression(ctx, r.pixels, std::span(r.targets).first(15), 8, 4, 2), ShapeError);
    std::vector<float> nan_target = r.targets;
    nan_target[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(DeviceDataset::upload_regression(ctx, r.pixels, nan_target, 8, 4, 2),
                         doctest::Contains("target 1 of example 2"), NumericalError);
    std::vector<float> huge = r.targets;
    huge[3] = 1e5f;  // finite in fp32, inf in fp16
    const DeviceDataset huge_data = DeviceDataset::upload_regression(ctx, r.pixels, huge, 8, 4, 2);
    const DeviceDataset data = DeviceDataset::upload_regression(ctx, r.pixels, r.targets, 8, 4, 2);
    TrainerOptions o;
    o.batch = 4;
    {
        Sequential model;
        model.emplace<Linear>(4, 2);
        CHECK_THROWS_WITH_AS(Trainer(ctx, model, huge_data, o), doctest::Contains("beyond fp16's range"), NumericalError);
        TrainerOptions fp32 = o;
        fp32.precision = Precision::fp32;
        Trainer fine(ctx, model, huge_data, fp32);  // fp32 holds 1e5
        fine.step();
        CHECK(fine.metrics().seen == 4);
    }
    {
        Sequential model;
        model.emplace<Linear>(4, 2);
        TrainerOptions smooth = o;
        smooth.label_smoothing = 0.1f;
        CHECK_THROWS_AS(Trainer(ctx, model, data, smooth), Error);
    }
    {
        Sequential model;
        model.emplace<Linear>(4, 3);  // three outputs for two targets
        CHECK_THROWS_AS(Trainer(ctx, model, data, o), ShapeError);
    }
    {
        Sequential model;
        model.emplace<Linear>(4, 2);
        Trainer tr(ctx, model, data, o);
        const std::vector<uint8_t> labels(8, 1);
        const DeviceDataset classes = DeviceDataset::upload(ctx, r.pixels, labels, 8, 4, 2);
        CHECK_THROWS_AS(tr.evaluate(classes), ShapeError);
    }
    test::check_validation(ctx);
}

} // TEST_SUITE
