#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
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
    o.barrier_free_kernels = false;  // the shared-memory forms, as on GPUs (the full device: the policy's)
    return o;
}

namespace {

// Created on first use, destroyed by release_devices() before main returns.
struct SharedContexts {
    std::unique_ptr<vkhalf::Context> full, small;
    std::deque<vkhalf::Context> coopmat;  // one per listed cooperative-matrix shape
    std::optional<std::vector<TestDevice>> coopmat_list;
};

// Every suite runs with the allocator's self-check: a range handed out twice, or freed under a
// submission, is a validation message and fails the test that caused it.
vkhalf::ContextOptions options() {
    vkhalf::ContextOptions o;
    o.check_allocator = true;
    return o;
}

SharedContexts& shared() {
    static SharedContexts s;
    return s;
}

} // namespace

vkhalf::Context& full_device() {
    auto& s = shared();
    if (!s.full) s.full = std::make_unique<vkhalf::Context>(options());
    return *s.full;
}

vkhalf::Context& small_device() {
    auto& s = shared();
    if (!s.small) {
        vkhalf::ContextOptions o = options();
        o.device = small_device_options();
        s.small = std::make_unique<vkhalf::Context>(o);
    }
    return *s.small;
}

void release_devices() {
    auto& s = shared();
    s.coopmat_list.reset();
    s.coopmat.clear();
    s.small.reset();
    s.full.reset();
}

std::vector<TestDevice> devices() { return {{"full", &full_device()}, {"small", &small_device()}}; }

std::vector<TestDevice> coopmat_devices() {
    auto& shared_contexts = shared();
    if (!shared_contexts.coopmat_list) shared_contexts.coopmat_list = [&] {
        auto& contexts = shared_contexts.coopmat;
        std::vector<TestDevice> out;
        const auto& caps = full_device().caps();
        if (!VKHALF_COOPMAT_SHADERS_BUILT || !caps.supports(vkhalf::Variant::coopmat)) return out;
        for (const auto& shape : caps.coopmat_shapes) {
            vkhalf::ContextOptions o = options();
            o.device_index = full_device().device_index();
            o.device.coopmat_shape = shape;
            contexts.emplace_back(o);
            out.push_back({"coopmat " + std::to_string(shape.m) + "x" + std::to_string(shape.n) + "x" +
                               std::to_string(shape.k),
                           &contexts.back()});
        }
        return out;
    }();
    const auto& list = *shared_contexts.coopmat_list;
    const char* expect = std::getenv("VKHALF_EXPECT_COOPMAT");
    if (list.empty()) {
        const bool required = expect && *expect && std::string(expect) != "0";
        const auto& caps = full_device().caps();
        if (required)
            FAIL_CHECK("VKHALF_EXPECT_COOPMAT=1, but " << caps.name << " runs no cooperative matrices ("
                                                       << (VKHALF_COOPMAT_SHADERS_BUILT ? caps.coopmat_off_reason
                                                                                        : "shaders not built")
                                                       << ")");
        else
            MESSAGE("no cooperative matrices on " << caps.name << ": skipped");
    }
    return list;
}

std::vector<vkhalf::Variant> variants(const vkhalf::Context& ctx, vkhalf::DType dtype) {
    using vkhalf::Variant;
    if (dtype == vkhalf::DType::f32) return {Variant::f32};
    std::vector<Variant> out;
    for (Variant v : {Variant::f16p, Variant::f16s, Variant::f16a})
        if (ctx.caps().supports(v)) out.push_back(v);
    return out;
}

namespace {
std::atomic<std::size_t> expected_messages{0};
}

std::vector<std::string> take_expected_validation_messages(vkhalf::Context& ctx) {
    auto messages = ctx.validation_messages();
    expected_messages += messages.size();
    ctx.clear_validation_messages();
    return messages;
}

std::size_t expected_validation_messages() { return expected_messages.load(); }

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

std::vector<float> flat_floats(const vkhalf::ParameterSet& p, vkhalf::Tensor vkhalf::ParameterChunk::*buffer) {
    std::vector<float> all;
    for (const vkhalf::ParameterChunk& c : p.chunks()) {
        const std::vector<float> v = (c.*buffer).to_floats();
        all.insert(all.end(), v.begin(), v.end());
    }
    return all;
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
