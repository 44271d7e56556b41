// Reliability: injected Vulkan failures (the Context's FaultInjector test hook) become their
// vkhalf::Error and leave nothing half-done; a lost device stays lost; damaged checkpoints are
// refused with the trainer untouched; numerical faults (inputs normalising to inf, diverging
// updates, a loss scale stuck at its floor) stop training with NumericalError.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include <unistd.h>

#include "runtime/command_list.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/tensor_range.hpp"
#include "support.hpp"
#include "kernels/train_state.hpp"
#include "kernels/training_ops.hpp"

using namespace vkhalf;
using detail::FaultInjector;
using detail::FaultSite;
namespace fs = std::filesystem;

namespace {

// A Context of its own: an injected device loss must not poison the suites' shared devices.
Context fresh_context() { return Context(ContextOptions{}); }

std::unique_ptr<Sequential> mlp(int d, int hidden = 32) {
    auto m = std::make_unique<Sequential>();
    m->emplace<Linear>(d, hidden).emplace<ReLU>().emplace<Linear>(hidden, 10);
    return m;
}

TrainerOptions small_options() {
    TrainerOptions o;
    o.batch = 64;
    o.mean = 0.5f;
    o.std = 0.25f;
    return o;
}

std::string error_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

std::vector<char> file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// Unique per process: ctest runs this suite twice at once (faults, sync-validation).
std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / ("vkhalf_faults_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<uint32_t> words(const Tensor& t) {
    std::vector<uint32_t> out(t.bytes() / 4);
    t.download_bytes(std::as_writable_bytes(std::span(out)));
    return out;
}

detail::TrainState device_state(Trainer& tr) {
    tr.wait();
    return detail::read_state(tr.state());
}

// Every byte a checkpoint load could change: weights, working copy, moments, training state.
std::vector<std::vector<uint32_t>> snapshot(Trainer& tr) {
    tr.wait();
    ParameterSet& p = tr.parameters();
    std::vector<std::vector<uint32_t>> all;
    for (const ParameterChunk& c : p.chunks())
        for (const Tensor* t : {&c.master, &c.work, &c.moment1, &c.moment2}) all.push_back(words(*t));
    all.push_back(words(tr.state()));
    return all;
}

bool all_finite(const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

} // namespace

TEST_SUITE("faults") {

TEST_CASE("VKHALF_FAULT syntax: sites, call numbers, optional results; malformed values name the entry") {
    FaultInjector f = FaultInjector::parse("alloc:2,submit:1,pipeline:3:VK_ERROR_OUT_OF_HOST_MEMORY");
    CHECK(f.armed());
    CHECK(f.next(FaultSite::submit) == VK_ERROR_DEVICE_LOST);
    CHECK(f.next(FaultSite::submit) == VK_SUCCESS);  // only the planned call fails
    CHECK(f.next(FaultSite::alloc) == VK_SUCCESS);
    CHECK(f.next(FaultSite::alloc) == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(f.next(FaultSite::pipeline) == VK_SUCCESS);
    CHECK(f.next(FaultSite::pipeline) == VK_SUCCESS);
    CHECK(f.next(FaultSite::pipeline) == VK_ERROR_OUT_OF_HOST_MEMORY);
    CHECK(f.next(FaultSite::wait) == VK_SUCCESS);
    CHECK(f.calls(FaultSite::pipeline) == 3);
    // arm() counts from now on.
    f.arm(FaultSite::wait, 2);
    CHECK(f.next(FaultSite::wait) == VK_SUCCESS);
    CHECK(f.next(FaultSite::wait) == VK_ERROR_DEVICE_LOST);
    f.disarm();
    CHECK_FALSE(f.armed());
    CHECK(f.next(FaultSite::wait) == VK_SUCCESS);
    CHECK(f.calls(FaultSite::wait) == 0);  // unarmed: not even counted
    CHECK_FALSE(FaultInjector::parse("").armed());

    const std::pair<const char*, const char*> bad[] = {
        {"alloc", "'alloc' has no ':N'"},
        {"alloc:0", "'alloc:0' has a bad call number"},
        {"alloc:x", "'alloc:x' has a bad call number"},
        {"alloc:", "'alloc:' has a bad call number"},
        {"free:1", "'free:1' names no fault site"},
        {"submit:1:VK_SUCCESS", "names no VkResult error"},
        {"submit:1,wait", "'wait' has no ':N'"},
    };
    for (const auto& entry : bad) {  // no structured binding: CAPTURE's lambda cannot name one before Clang 16
        const auto& spec = entry.first;
        const auto& want = entry.second;
        CAPTURE(spec);
        const std::string message = error_message([&] { FaultInjector::parse(spec); });
        CHECK_MESSAGE(message.find(want) != std::string::npos, message);
        CHECK(message.find("VKHALF_FAULT") != std::string::npos);
    }
}

TEST_CASE("an injected vkAllocateMemory failure is an OutOfMemoryError naming the call; the next allocation works") {
    Context ctx = fresh_context();
    Tensor warm = Tensor::empty(ctx, {16}, DType::f32);  // the first block exists; a big tensor needs its own
    const int64_t big = 25ll << 20;                       // 100 MiB of f32: a dedicated block
    for (const auto& entry : {std::pair{VK_ERROR_OUT_OF_DEVICE_MEMORY, true},
                              std::pair{VK_ERROR_OUT_OF_HOST_MEMORY, false}}) {
        const VkResult result = entry.first;  // not a structured binding: see above
        const bool device = entry.second;
        CAPTURE(device);
        const std::size_t blocks = ctx.impl().memory->block_count();
        ctx.impl().faults.arm(FaultSite::alloc, 1, result);
        try {
            Tensor t = Tensor::empty(ctx, {big}, DType::f32);
            FAIL("no OutOfMemoryError");
        } catch (const OutOfMemoryError& e) {
            const std::string m = e.what();
            CHECK_MESSAGE(m.find("vkAllocateMemory of 100.0 MiB") != std::string::npos, m);
            CHECK_MESSAGE(m.find(device ? "out of device memory" : "out of host memory") != std::string::npos, m);
            CHECK(e.device_memory() == device);
        }
        CHECK(ctx.impl().memory->block_count() == blocks);  // nothing half-made is kept
        Tensor t = Tensor::empty(ctx, {big}, DType::f32);   // the next call reaches the driver
        CHECK(t.numel() == big);
    }
    // The Context still computes.
    Tensor a = Tensor::from_floats(ctx, {4}, DType::f32, std::vector<float>{1, 2, 3, 4});
    Tensor y = Tensor::empty(ctx, {4}, DType::f32);
    add(ctx, a, a, y);
    CHECK(y.to_floats() == std::vector<float>{2, 4, 6, 8});
    test::check_validation(ctx);
}

TEST_CASE("an injected pipeline failure is a VulkanError (or OutOfMemoryError) naming the shader; a retry builds it") {
    Context ctx = fresh_context();
    Tensor a = Tensor::from_floats(ctx, {4}, DType::f32, std::vector<float>{1, 2, 3, 4});
    Tensor y = Tensor::empty(ctx, {4}, DType::f32);
    ctx.impl().faults.arm(FaultSite::pipeline, 1);
    try {
        relu(ctx, a, y);
        FAIL("no VulkanError");
    } catch (const VulkanError& e) {
        const std::string m = e.what();
        CHECK_MESSAGE(m.find("vkCreateComputePipelines(elementwise") != std::string::npos, m);
        CHECK_MESSAGE(m.find("VK_ERROR_UNKNOWN") != std::string::npos, m);
        CHECK(e.vk_result() == VK_ERROR_UNKNOWN);
    }
    ctx.impl().faults.arm(FaultSite::pipeline, 1, VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK_THROWS_WITH_AS(relu(ctx, a, y), doctest::Contains("vkCreateComputePipelines(elementwise"), OutOfMemoryError);
    relu(ctx, a, y);  // not cached while failing: built now
    CHECK(y.to_floats() == std::vector<float>{1, 2, 3, 4});
    test::check_validation(ctx);
}

TEST_CASE("device lost at submit or at wait: DeviceLostError naming the call, then every use refuses, nothing hangs") {
    for (FaultSite site : {FaultSite::submit, FaultSite::wait}) {
        CAPTURE(FaultInjector::site_name(site));
        Context ctx = fresh_context();
        Tensor a = Tensor::from_floats(ctx, {256}, DType::f32, std::vector<float>(256, 1.0f));
        Tensor y = Tensor::empty(ctx, {256}, DType::f32);
        detail::CommandList g(ctx.impl());
        g.copy(detail::range_of(a), detail::range_of(y), a.bytes());
        ctx.impl().faults.arm(site, 1);
        try {
            g.submit();
            g.wait();
            FAIL("no DeviceLostError");
        } catch (const DeviceLostError& e) {
            const std::string m = e.what();
            CHECK_MESSAGE(m.find(site == FaultSite::submit ? "vkQueueSubmit" : "vkWaitForFences") != std::string::npos, m);
            CHECK_MESSAGE(m.find("VK_ERROR_DEVICE_LOST") != std::string::npos, m);
            CHECK_MESSAGE(m.find("recreate the Context") != std::string::npos, m);
        }
        CHECK_FALSE(g.pending());
        // From now on every submit, wait and transfer refuses at once, naming the first loss.
        CHECK_THROWS_WITH_AS(g.submit(), doctest::Contains("the device was lost earlier"), DeviceLostError);
        CHECK_THROWS_WITH_AS(add(ctx, a, a, y), doctest::Contains("the device was lost earlier"), DeviceLostError);
        CHECK_THROWS_AS(y.to_floats(), DeviceLostError);
        CHECK_THROWS_AS(a.upload(std::vector<float>(256, 2.0f)), DeviceLostError);
        CHECK_THROWS_AS(ctx.wait_idle(), DeviceLostError);
        test::check_validation(ctx);
    }  // the Context, its lists and tensors are destroyed without a hang or a validation message
}

TEST_CASE("faults while building a Trainer (allocation, pipeline) are reported; the Context still trains after") {
    Context ctx = fresh_context();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 11);
    auto model = mlp(64);
    ctx.impl().faults.arm(FaultSite::pipeline, 3);
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model, data, small_options()), doctest::Contains("vkCreateComputePipelines("),
                         VulkanError);
    // Wide enough that its flat buffers (~19 MB each for master, moments) need a second block.
    auto wide = mlp(64, 65536);
    ctx.impl().faults.arm(FaultSite::alloc, 1);
    CHECK_THROWS_WITH_AS(Trainer(ctx, *wide, data, small_options()), doctest::Contains("vkAllocateMemory"),
                         OutOfMemoryError);
    auto model2 = mlp(64);
    Trainer tr(ctx, *model2, data, small_options());
    for (int i = 0; i < 8; ++i) tr.step();
    CHECK(tr.metrics().optimizer_step == 8);
    test::check_validation(ctx);
}

TEST_CASE("device lost while training: nothing is saved over the last checkpoint, which a new Context resumes") {
    const std::string path = temp_path("lost.safetensors");
    std::vector<float> saved_weights;
    {
        Context ctx = fresh_context();
        const DeviceDataset data = test::synthetic(ctx, 512, 64, 12);
        auto model = mlp(64);
        Trainer tr(ctx, *model, data, small_options());
        for (int i = 0; i < 5; ++i) tr.step();
        save_checkpoint(tr, path);
        saved_weights = tr.parameters().get_master(0);
        const auto before = file_bytes(path);
        tr.step();
        ctx.impl().faults.arm(FaultSite::submit, 1);
        CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("vkQueueSubmit"), DeviceLostError);
        CHECK_THROWS_AS(save_checkpoint(tr, path), DeviceLostError);
        CHECK_THROWS_AS(tr.metrics(), DeviceLostError);
        CHECK(file_bytes(path) == before);  // the last complete checkpoint, byte for byte
        CHECK_FALSE(fs::exists(path + ".tmp"));
        test::check_validation(ctx);
    }
    Context ctx = fresh_context();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 12);
    auto model = mlp(64);
    Trainer tr(ctx, *model, data, small_options());
    load_checkpoint(tr, path);
    CHECK(tr.parameters().get_master(0) == saved_weights);
    CHECK(tr.metrics().step == 5);
    for (int i = 0; i < 3; ++i) tr.step();
    CHECK(tr.metrics().optimizer_step == 8);
    fs::remove(path);
    test::check_validation(ctx);
}

TEST_CASE("a checkpoint with a wrong checksum, truncated data, other shapes or inf weights is refused; trainer untouched") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 13);
    const std::string good = temp_path("good.safetensors"), bad = temp_path("bad.safetensors");
    {
        auto model = mlp(64);
        Trainer tr(ctx, *model, data, small_options());
        for (int i = 0; i < 4; ++i) tr.step();
        save_checkpoint(tr, good, {{"vkhalf.model", "mlp"}});
    }
    const std::vector<char> bytes = file_bytes(good);
    auto model = mlp(64);
    TrainerOptions o = small_options();
    o.seed = 99;  // other weights than the checkpoint's
    Trainer tr(ctx, *model, data, o);
    tr.step();
    const auto before = snapshot(tr);
    auto refused = [&](const std::string& want) {
        const std::string message = error_message([&] { load_checkpoint(tr, bad); });
        CHECK_MESSAGE(message.find(want) != std::string::npos, message);
        CHECK_MESSAGE(message.find(bad) != std::string::npos, message);  // names the file
        CHECK(snapshot(tr) == before);                                    // not one byte loaded
    };

    SUBCASE("wrong checksum: one flipped bit in the data") {
        for (std::size_t at : {bytes.size() - 1, bytes.size() / 2, bytes.size() - 4000}) {
            std::vector<char> b = bytes;
            b[at] = char(b[at] ^ 0x10);
            write_bytes(bad, b);
            refused("checksum mismatch");
        }
    }
    SUBCASE("truncated: in the length, in the header, in the data, by one byte") {
        for (std::size_t n : {std::size_t(5), std::size_t(100), bytes.size() / 2, bytes.size() - 1}) {
            CAPTURE(n);
            write_bytes(bad, std::vector<char>(bytes.begin(), bytes.begin() + std::ptrdiff_t(n)));
            const std::string message = error_message([&] { load_checkpoint(tr, bad); });
            CHECK_MESSAGE(message.find(bad) != std::string::npos, message);
            CHECK_THROWS_AS(load_checkpoint(tr, bad), IoError);
            CHECK(snapshot(tr) == before);
        }
    }
    SUBCASE("mismatched shapes: a checkpoint of a wider model") {
        auto wide = mlp(64, 48);
        Trainer other(ctx, *wide, data, small_options());
        save_checkpoint(other, bad);
        refused("tensor '0.weight' is F32 [48, 64], the model needs F32 [32, 64]");
        CHECK_THROWS_AS(load_checkpoint(tr, bad), ShapeError);
    }
    SUBCASE("a missing tensor, and an inf weight under a valid checksum") {
        SafetensorsFile f = read_safetensors(good);
        std::vector<SafeTensor> kept;
        for (auto& t : f.tensors)
            if (t.name != "optimizer.2.bias.exp_avg_sq") kept.push_back(t);
        write_safetensors(bad, kept, f.metadata);
        refused("checkpoint has no tensor 'optimizer.2.bias.exp_avg_sq'");

        for (auto& t : f.tensors)
            if (t.name == "2.weight") {
                const float inf = INFINITY;
                std::memcpy(t.data.data() + 8, &inf, 4);
            }
        write_safetensors(bad, f.tensors, f.metadata);
        CHECK_NOTHROW(read_safetensors(bad));  // the file itself is sound
        refused("parameter '2.weight' holds inf or NaN");
    }
    // The good file still loads into the same trainer.
    load_checkpoint(tr, good);
    CHECK(snapshot(tr) != before);
    CHECK(tr.metrics().step == 4);
    fs::remove(good);
    fs::remove(bad);
    test::check_validation(ctx);
}

TEST_CASE("inputs that normalise to inf or NaN are refused when the Trainer is built, naming mean, std and pixel") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 256, 64, 14);
    auto model = mlp(64);
    const auto build = [&](float mean, float std, Precision p) {
        TrainerOptions o = small_options();
        o.mean = mean, o.std = std, o.precision = p;
        Trainer tr(ctx, *model, data, o);
    };
    CHECK_THROWS_WITH_AS(build(NAN, 0.25f, Precision::fp16), doctest::Contains("finite mean and a positive finite std"),
                         NumericalError);
    CHECK_THROWS_WITH_AS(build(0.5f, INFINITY, Precision::fp16), doctest::Contains("std=inf"), NumericalError);
    CHECK_THROWS_WITH_AS(build(0.5f, 0.0f, Precision::fp32), doctest::Contains("std=0"), NumericalError);
    // std 1e-6: pixel 255 becomes 5e5, inf in fp16 (largest finite 65504), but finite in fp32.
    const std::string m = error_message([&] { build(0.5f, 1e-6f, Precision::fp16); });
    CHECK_MESSAGE(m.find("turns pixel 0 into -500000, inf in fp16 (largest finite 65504)") != std::string::npos, m);
    CHECK_THROWS_AS(build(0.5f, 1e-6f, Precision::fp16), NumericalError);
    CHECK_NOTHROW(build(0.5f, 1e-6f, Precision::fp32));
    // A denormal std makes 1/std inf in fp32 as well.
    CHECK_THROWS_WITH_AS(build(0.5f, 1e-40f, Precision::fp32), doctest::Contains("not finite"), NumericalError);
    // Just inside fp16's range is fine: |x| <= 0.5 / 7.7e-6 = 64935.
    CHECK_NOTHROW(build(0.5f, 7.7e-6f, Precision::fp16));
    test::check_validation(ctx);
}

TEST_CASE("a learning rate that diverges: no weight becomes inf/NaN, training stops, the last checkpoint stays") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 15);
    struct Case {
        const char* name;
        Precision precision;
        OptimizerKind kind;
        float lr;
        const char* want;
    };
    // fp16: one step takes weights beyond 65504, where the fp16 working copy would be inf: the
    // update is refused at once. fp32: the weights grow huge but finite, the next forward pass
    // overflows, and every step from then on skips until max_consecutive_skips stops the run.
    const char* refused = "would have made a weight or its optimizer state inf/NaN or beyond fp16's range";
    const char* streak = "steps in a row had inf/NaN gradients and were skipped (limit 5)";
    for (const Case& c : {Case{"adamw fp16", Precision::fp16, OptimizerKind::adamw, 1e6f, refused},
                          Case{"sgd fp16", Precision::fp16, OptimizerKind::sgd, 1e8f, refused},
                          Case{"adamw fp32", Precision::fp32, OptimizerKind::adamw, 1e30f, streak},
                          Case{"sgd fp32", Precision::fp32, OptimizerKind::sgd, 1e30f, streak}}) {
        CAPTURE(std::string(c.name));
        auto model = mlp(64);
        TrainerOptions o = small_options();
        o.precision = c.precision;
        o.optimizer.kind = c.kind;
        o.optimizer.lr = c.lr;
        o.optimizer.weight_decay = c.kind == OptimizerKind::sgd ? 0.0f : 0.01f;
        o.max_consecutive_skips = 5;
        Trainer tr(ctx, *model, data, o);
        const std::string path = temp_path("diverged.safetensors");
        save_checkpoint(tr, path);
        const auto before = file_bytes(path);
        for (int i = 0; i < 8; ++i) tr.step();
        const std::string m = error_message([&] { tr.metrics(); });
        CHECK_MESSAGE(m.find(c.want) != std::string::npos, m);
        CHECK_THROWS_AS(tr.metrics(), NumericalError);
        const detail::TrainState s = device_state(tr);
        if (c.precision == Precision::fp16) {
            CHECK(m.find("training diverged by step 8") != std::string::npos);
            CHECK(s.faults == detail::kFaultWeights);
            // A diverged run is not saved: the last checkpoint stays, byte for byte.
            CHECK_THROWS_AS(save_checkpoint(tr, path), NumericalError);
            CHECK(file_bytes(path) == before);
            CHECK_FALSE(fs::exists(path + ".tmp"));
        } else {
            CHECK(s.faults == 0);
            CHECK(s.consecutive_skips >= 5);
        }
        // Nothing non-finite was written: master weights, moments, and the working copy.
        ParameterSet& p = tr.parameters();
        CHECK(all_finite(test::flat_floats(p, &ParameterChunk::master)));
        CHECK(all_finite(test::flat_floats(p, &ParameterChunk::moment1)));
        CHECK(all_finite(test::flat_floats(p, &ParameterChunk::moment2)));
        CHECK(all_finite(test::flat_floats(p, &ParameterChunk::work)));
        fs::remove(path);
    }
    test::check_validation(ctx);
}

TEST_CASE("the loss scale backs off to its minimum, never below, and a run overflowing there stops after N skips") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 1024, 64, 16);
    auto model = mlp(64);
    TrainerOptions o = small_options();
    // The loss gradient is seeded with S / batch: 2^30 / 64 = 2^24 overflows fp16 at any S >= 2^21.
    o.loss_scale.init_scale = 1099511627776.0f;  // 2^40
    o.loss_scale.min_scale = 1073741824.0f;      // 2^30: 10 back-offs down
    o.max_consecutive_skips = 20;
    Trainer tr(ctx, *model, data, o);
    const auto weights = tr.parameters().get_master(0);
    for (int i = 0; i < 15; ++i) tr.step();
    const Metrics m = tr.metrics();  // 15 skips in a row: not yet 20
    CHECK(m.consecutive_skips == 15);
    CHECK(m.loss_scale == 1073741824.0f);  // reached the floor after 10 steps and stayed
    CHECK(device_state(tr).inv_scale == 1.0f / 1073741824.0f);
    CHECK(tr.parameters().get_master(0) == weights);  // every step skipped: untouched
    for (int i = 0; i < 5; ++i) tr.step();
    const std::string message = error_message([&] { tr.metrics(); });
    CHECK_MESSAGE(message.find("20 steps in a row had inf/NaN gradients and were skipped (limit 20)") !=
                      std::string::npos,
                  message);
    CHECK_MESSAGE(message.find("the loss scale is at its minimum 1.07374e+09 and steps still overflow") !=
                      std::string::npos,
                  message);
    CHECK_THROWS_AS(tr.metrics(), NumericalError);

    // max_consecutive_skips 0: the run goes on skipping (safely) and metrics() reports it.
    auto model2 = mlp(64);
    o.max_consecutive_skips = 0;
    Trainer patient(ctx, *model2, data, o);
    for (int i = 0; i < 30; ++i) patient.step();
    CHECK(patient.metrics().consecutive_skips == 30);
    CHECK(patient.metrics().loss_scale == 1073741824.0f);

    // Not dynamic: a static scale that always overflows is named as such.
    auto model3 = mlp(64);
    o.max_consecutive_skips = 4;
    o.loss_scale.mode = LossScaleMode::fixed;
    Trainer fixed(ctx, *model3, data, o);
    for (int i = 0; i < 4; ++i) fixed.step();
    CHECK_THROWS_WITH_AS(fixed.metrics(), doctest::Contains("(not dynamic)"), NumericalError);

    // The floor cannot start above the initial scale.
    o.loss_scale.mode = LossScaleMode::dynamic;
    o.loss_scale.min_scale = 2.0f * o.loss_scale.init_scale;
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model3, data, o), doctest::Contains("exceeds the initial scale"), Error);
    test::check_validation(ctx);
}

TEST_CASE("scale_update: overflow backs S off to the floor exactly (1/S too), never below; clean steps grow it again") {
    auto& ctx = test::full_device();
    for (const float init : {4.0f, 3.0f}) {
        CAPTURE(init);
        LossScaleOptions ls;  // dynamic, floor 1 by default
        ls.init_scale = init;
        ls.growth_interval = 2;
        Tensor state = detail::state_tensor(ctx, detail::initial_state(ls));
        detail::CommandList g(ctx.impl());
        detail::record_scale_update(g, ctx.impl(), ls, state);
        auto step = [&](bool overflow) {
            detail::TrainState s = detail::read_state(state);
            s.found_inf = overflow ? 1u : 0u;
            state.upload_bytes(std::as_bytes(std::span(&s, 1)));
            g.submit_and_wait();
            return detail::read_state(state);
        };
        const detail::TrainState a = step(true);
        CHECK(a.scale == init / 2);
        CHECK(a.inv_scale == float(2.0 / double(init)));
        for (int i = 0; i < 200; ++i) {  // 200 back-offs: without the floor S would reach 0
            const detail::TrainState b = step(true);
            CHECK(b.scale == 1.0f);
            CHECK(b.inv_scale == 1.0f);
            CHECK(b.consecutive_skips == uint32_t(i + 2));
        }
        step(false);
        const detail::TrainState c = step(false);
        CHECK(c.scale == 2.0f);  // grows from the floor after growth_interval clean steps
        CHECK(c.inv_scale == 0.5f);
        CHECK(c.consecutive_skips == 0);
    }
    LossScaleOptions bad;
    bad.min_scale = 0.0f;
    CHECK_THROWS_WITH_AS(detail::initial_state(bad), doctest::Contains("minimum loss scale must be positive"), Error);
    test::check_validation(ctx);
}

} // TEST_SUITE
