// vkhalf-bench train-step: steps/s of one MLP training step replayed from its recorded graph
// (one submission, no host wait per step) against the same step submitted op by op with a host
// wait after each (the eager way), measured in the same run.
#include <chrono>
#include <cstdio>
#include <random>

#include "bench.hpp"

using namespace vkhalf;

namespace {

double steps_per_second(Context& ctx, const DeviceDataset& data, TrainerOptions o, double budget) {
    Sequential model;
    model.emplace<Linear>(784, 256).emplace<ReLU>().emplace<Linear>(256, 10);
    Trainer tr(ctx, model, data, o);
    tr.step();  // warm-up: pipelines, first touch
    tr.wait();
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    int steps = 0;
    double elapsed = 0;
    while (steps < 10 || elapsed < budget) {
        for (int i = 0; i < 10; ++i) tr.step();
        steps += 10;
        tr.wait();
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    }
    return steps / elapsed;
}

} // namespace

int bench_train_step(Context& ctx, const BenchArgs& args) {
    const int64_t n = 8192, d = 784;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> u(0, 255);
    std::vector<uint8_t> px(static_cast<std::size_t>(n * d)), lb(static_cast<std::size_t>(n));
    for (auto& p : px) p = uint8_t(u(rng));
    for (std::size_t i = 0; i < lb.size(); ++i) lb[i] = uint8_t(i % 10);
    const DeviceDataset data = DeviceDataset::upload(ctx, px, lb, n, d, 10);
    std::printf("device: %s (%s)\n", ctx.caps().name.c_str(), ctx.caps().driver.c_str());
    std::printf("MLP 784-256-10, batch %lld, AdamW, dynamic loss scaling; steps/s\n", (long long)128);
    double graph_sps = 0, eager_sps = 0;
    for (Precision p : {Precision::fp16, Precision::fp32}) {
        TrainerOptions o;
        o.precision = p;
        o.batch = 128;
        const double g = steps_per_second(ctx, data, o, args.seconds_per_point * 4);
        o.submit_per_op = true;
        const double e = steps_per_second(ctx, data, o, args.seconds_per_point * 4);
        std::printf("%-5s graph replay %8.1f steps/s (%7.0f images/s) | op by op %8.1f steps/s | ratio %.2f\n",
                    p == Precision::fp16 ? "fp16" : "fp32", g, g * 128, e, g / e);
        if (p == Precision::fp16) graph_sps = g, eager_sps = e;
    }
    std::printf("result: bench=train-step device=\"%s\" model=mlp precision=fp16 batch=128 graph_steps_per_s=%.1f "
                "eager_steps_per_s=%.1f ratio=%.2f\n",
                ctx.caps().name.c_str(), graph_sps, eager_sps, graph_sps / eager_sps);
    return 0;
}
