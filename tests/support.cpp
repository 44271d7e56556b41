#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

namespace test {

vkhalf::DeviceOptions small_device_options() {
    vkhalf::DeviceOptions o;
    o.disable_storage16 = true;
    o.max_shared_memory = 16 * 1024;
    o.max_storage_buffer_range = 1u << 20;
    o.max_workgroup_count = 64;
    o.force_staging = true;
    o.staging_buffer_bytes = 64 * 1024;
    return o;
}

vkhalf::Context& full_device() {
    static vkhalf::Context ctx{vkhalf::ContextOptions{}};
    return ctx;
}

vkhalf::Context& small_device() {
    static vkhalf::Context ctx{[] {
        vkhalf::ContextOptions o;
        o.device = small_device_options();
        return o;
    }()};
    return ctx;
}

std::vector<TestDevice> devices() { return {{"full", &full_device()}, {"small", &small_device()}}; }

std::vector<vkhalf::Variant> variants(const vkhalf::Context& ctx, vkhalf::DType dtype) {
    using vkhalf::Variant;
    if (dtype == vkhalf::DType::f32) return {Variant::f32};
    std::vector<Variant> out;
    for (Variant v : {Variant::f16p, Variant::f16s, Variant::f16a})
        if (ctx.caps().supports(v)) out.push_back(v);
    return out;
}

void check_validation(vkhalf::Context& ctx) {
    const auto messages = ctx.validation_messages();
    for (const auto& m : messages) MESSAGE("validation: " << m);
    CHECK_MESSAGE(messages.empty(), messages.size() << " validation message(s)");
    ctx.clear_validation_messages();
}

std::vector<float> random_values(std::size_t n, float lo, float hi, unsigned seed, bool f16) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = f16 ? vkhalf::round_to_f16(dist(rng)) : dist(rng);
    return v;
}

vkhalf::DeviceDataset synthetic(vkhalf::Context& ctx, int n, int d, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> u(0, 255);
    std::normal_distribution<float> noise(0, 40);
    std::vector<std::vector<int>> proto(10, std::vector<int>(d));
    for (auto& p : proto)
        for (auto& x : p) x = u(rng);
    std::vector<uint8_t> px(std::size_t(n) * d), lb(n);
    for (int i = 0; i < n; ++i) {
        lb[i] = uint8_t(i % 10);
        for (int j = 0; j < d; ++j) px[std::size_t(i) * d + j] = uint8_t(std::clamp(proto[i % 10][j] + int(noise(rng)), 0, 255));
    }
    return vkhalf::DeviceDataset::upload(ctx, px, lb, n, d, 10);
}

void train_epoch(vkhalf::Trainer& tr, int epoch) {
    tr.shuffle(epoch);
    for (int64_t s = 0; s < tr.steps_per_epoch(); ++s) tr.step();
}

void train_epochs(vkhalf::Trainer& tr, int n) {
    for (int epoch = 0; epoch < n; ++epoch) train_epoch(tr, epoch);
}

} // namespace test
