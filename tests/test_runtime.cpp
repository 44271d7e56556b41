// Runtime: device choice, capability gates, memory sub-allocation, staging, barriers, replay,
// timestamps, submission counting.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <unistd.h>

#include "kernels/ops_common.hpp"
#include "runtime/command_list.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/spirv_modules.hpp"
#include "runtime/spirv_requirements.hpp"
#include "vkhalf/build_config.hpp"
#include "runtime/quirks.hpp"
#include "runtime/tensor_range.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

// y = alpha * x recorded into `cl` (a white-box twin of vkhalf::scale without the submit).
void record_scale(detail::CommandList& cl, Context& ctx, const Tensor& x, float alpha, Tensor& y) {
    struct Push {
        uint32_t n;
        float alpha;
    } push{static_cast<uint32_t>(x.numel()), alpha};
    auto& impl = ctx.impl();
    const auto& p = impl.pipelines->get({"elementwise.f32", 3, sizeof(Push), 256, {{1, 2}}});
    const detail::BufferAccess b[] = {detail::read(x), detail::read(x), detail::write(y)};
    cl.dispatch(p, b, &push, sizeof(push), detail::ceil_div(detail::ceil_div(x.numel(), 2), 256), "scale");
}

} // namespace

TEST_SUITE("runtime") {

TEST_CASE("list_devices finds at least one device with sane limits") {
    const auto devices = list_devices();
    REQUIRE(!devices.empty());
    for (const auto& d : devices) {
        CAPTURE(d.caps.name);
        CHECK(d.caps.max_storage_buffer_range >= (1u << 16));
        CHECK(d.caps.max_workgroup_invocations >= 128);
        CHECK(d.caps.max_workgroup_count[0] >= 65535);
        CHECK(d.caps.supports(Variant::f32));
        CHECK(d.caps.supports(Variant::f16p));
    }
}

TEST_CASE("device choice by index and by name; bad choices name the devices") {
    const auto devices = list_devices();
    ContextOptions by_index;
    by_index.device_index = 0;
    Context a(by_index);
    CHECK(a.device_index() == 0);
    ContextOptions by_name;
    by_name.device_name = devices[0].caps.name.substr(0, 4);
    Context b(by_name);
    CHECK(b.caps().name == devices[b.device_index()].caps.name);

    ContextOptions bad;
    bad.device_index = 99;
    CHECK_THROWS_WITH_AS(Context{bad}, doctest::Contains("out of range"), UnsupportedError);
    ContextOptions nobody;
    nobody.device_name = "no-such-gpu-anywhere";
    CHECK_THROWS_WITH_AS(Context{nobody}, doctest::Contains(devices[0].caps.name.c_str()), UnsupportedError);
}

TEST_CASE("a Context with validation outlives an instance made without it (list_devices)") {
    // Found by fuzzing the C API: volk's global extension entry points belonged to the last
    // instance loaded, so destroying this Context's debug messenger called through null.
    ContextOptions o;
    o.validation = Validation::if_available;
    auto ctx = std::make_unique<Context>(o);
    CHECK(!list_devices().empty());
    Tensor a = Tensor::from_floats(*ctx, {4}, DType::f32, std::vector<float>(4, 1.0f));
    a = Tensor();
    test::check_validation(*ctx);
    ctx.reset();  // crashed here
}

TEST_CASE("the small-device options shrink the caps and drop 16-bit storage") {
    const auto& c = test::small_device().caps();
    CHECK_FALSE(c.storage16);
    CHECK_FALSE(c.supports(Variant::f16s));
    CHECK_FALSE(c.supports(Variant::f16a));
    CHECK(c.max_shared_memory <= 16 * 1024);
    CHECK(c.max_storage_buffer_range == (1u << 20));
    CHECK(default_variant(c, DType::f16) == Variant::f16p);
}

TEST_CASE("quirk table: matches by vendor, driver and name, with exceptions") {
    DeviceCaps amd;
    amd.vendor_id = 0x1002;
    amd.driver_id = 1;  // AMD proprietary
    amd.name = "AMD Radeon RX 6800";
    amd.coopmat_extension = true;
    amd.coopmat_shapes = {{16, 16, 16}};
    DeviceCaps rdna3 = amd;
    rdna3.name = "AMD Radeon RX 7900 XTX";
    detail::apply_quirks(amd, detail::quirk_table());
    detail::apply_quirks(rdna3, detail::quirk_table());
    CHECK_FALSE(amd.coopmat_extension);
    CHECK(amd.quirks_applied.size() == 1);
    CHECK(rdna3.coopmat_extension);
    CHECK(rdna3.quirks_applied.empty());

    DeviceCaps cpu;
    cpu.driver_id = 13;  // llvmpipe
    cpu.storage16 = cpu.float16_arith = true;
    detail::apply_quirks(cpu, detail::quirk_table());
    CHECK(cpu.prefer_fp32_math);
    CHECK(default_variant(cpu, DType::f16) == Variant::f16s);
}

TEST_CASE("environment overrides switch tiers off and say so") {
    setenv("VKHALF_DISABLE_F16A", "1", 1);
    setenv("VKHALF_DISABLE_COOPMAT", "1", 1);
    DeviceCaps c;
    c.storage16 = c.float16_arith = true;
    c.coopmat_extension = true;
    c.coopmat_shapes = {{16, 16, 16}};
    detail::apply_env_overrides(c);
    unsetenv("VKHALF_DISABLE_F16A");
    unsetenv("VKHALF_DISABLE_COOPMAT");
    CHECK_FALSE(c.float16_arith);
    CHECK_FALSE(c.coopmat_extension);
    CHECK(c.storage16);
    CHECK(c.quirks_applied.size() == 2);

    setenv("VKHALF_DISABLE_F16S", "1", 1);
    Context ctx;
    unsetenv("VKHALF_DISABLE_F16S");
    CHECK_FALSE(ctx.caps().supports(Variant::f16s));
    CHECK(default_variant(ctx.caps(), DType::f16) == Variant::f16p);
}

TEST_CASE("memory: tensors share blocks, offsets are aligned, freed ranges are reused") {
    auto& ctx = test::full_device();
    auto& mem = *ctx.impl().memory;
    const std::size_t blocks_before = mem.block_count();
    std::vector<Tensor> tensors;
    for (int i = 0; i < 100; ++i) tensors.push_back(Tensor::empty(ctx, {1000 + i}, DType::f16));
    CHECK(mem.block_count() <= blocks_before + 1);  // 100 small tensors: at most one new block
    const uint64_t align = std::max<uint64_t>(16, ctx.caps().min_storage_offset_alignment);
    for (const auto& t : tensors) CHECK(t.allocation().offset % align == 0);
    for (std::size_t i = 1; i < tensors.size(); ++i) {  // no two tensors overlap
        const auto& p = tensors[i - 1].allocation();
        const auto& q = tensors[i].allocation();
        if (p.block == q.block) CHECK((p.offset + p.size <= q.offset || q.offset + q.size <= p.offset));
    }
    const auto first_offset = tensors[0].allocation().offset;
    const auto* first_block = tensors[0].allocation().block;
    tensors.clear();
    Tensor again = Tensor::empty(ctx, {1000}, DType::f16);
    CHECK(again.allocation().block == first_block);
    CHECK(again.allocation().offset == first_offset);
}

TEST_CASE("allocator self-check: live ranges tile every block through allocation, free and reuse") {
    auto& ctx = test::full_device();
    auto& mem = *ctx.impl().memory;
    REQUIRE(mem.checking());  // the suites' Contexts turn it on
    std::mt19937 rng(7);
    std::vector<Tensor> live;
    auto disjoint = [&] {
        for (std::size_t i = 0; i < live.size(); ++i)
            for (std::size_t j = i + 1; j < live.size(); ++j) {
                const auto& p = live[i].allocation();
                const auto& q = live[j].allocation();
                if (p.block == q.block && p.offset < q.offset + q.size && q.offset < p.offset + p.size) return false;
            }
        return true;
    };
    std::size_t findings = 0;
    for (int op = 0; op < 1500; ++op) {
        if (live.size() < 8 || (live.size() < 80 && rng() % 2 == 0)) {
            // Mostly small, now and then past half a block (a dedicated block of its own).
            const int64_t n = rng() % 97 == 0 ? int64_t(9) << 20 : int64_t(1 + rng() % 20000);
            live.push_back(Tensor::empty(ctx, {n}, rng() % 2 ? DType::f16 : DType::f32));
        } else {
            live.erase(live.begin() + std::ptrdiff_t(rng() % live.size()));
        }
        if (op % 50 == 0) CHECK(disjoint());
        findings += mem.check_all();
    }
    CHECK(disjoint());
    CHECK(findings == 0);

    // The check can fail: a free range laid over a live tensor, and a free of a range not live.
    const Tensor& t = live.front();
    detail::MemoryBlock& block = *t.allocation().block;
    block.free_ranges[t.allocation().offset] = 16;
    CHECK(mem.check_all() >= 1);
    block.free_ranges.erase(t.allocation().offset);
    CHECK(mem.check_all() == 0);
    {
        detail::Allocation stale;  // no owner: its destructor frees nothing
        stale.block = &block;
        stale.offset = t.allocation().offset + 4;
        stale.size = 4;
        mem.release(stale);
    }
    const auto messages = test::take_expected_validation_messages(ctx);
    REQUIRE(messages.size() == 2);
    CHECK(messages[0].find("handed out twice") != std::string::npos);
    CHECK(messages[1].find("not a live range") != std::string::npos);
    live.clear();
    CHECK(mem.check_all() == 0);
    test::check_validation(ctx);
}

TEST_CASE("allocator self-check: a range freed under a pending submission is not handed out until it is waited for") {
    auto& ctx = test::full_device();
    auto& mem = *ctx.impl().memory;
    Tensor x = Tensor::from_floats(ctx, {4096}, DType::f32, std::vector<float>(4096, 1.0f));
    auto y = std::make_unique<Tensor>(Tensor::empty(ctx, {4096}, DType::f32));
    const detail::MemoryBlock* y_block = y->allocation().block;
    const uint64_t y_begin = y->allocation().offset, y_end = y_begin + y->allocation().size;
    {
        detail::CommandList cl(ctx.impl());
        record_scale(cl, ctx, x, 2.0f, *y);
        cl.submit();  // no wait: the device may still be writing y
        y.reset();    // the only holder lets go (a bug the self-check exists to catch)
        const auto messages = test::take_expected_validation_messages(ctx);
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].find("still references it") != std::string::npos);
        CHECK(mem.held_back() == 1);
        std::vector<Tensor> during;  // same-size tensors: none lands on y's old range
        for (int i = 0; i < 8; ++i) {
            during.push_back(Tensor::empty(ctx, {4096}, DType::f32));
            const auto& a = during.back().allocation();
            CHECK_FALSE((a.block == y_block && a.offset < y_end && y_begin < a.offset + a.size));
        }
        cl.wait();
        CHECK(mem.held_back() == 0);
        during.clear();
        Tensor after = Tensor::empty(ctx, {4096}, DType::f32);  // first fit: y's range again
        CHECK((after.allocation().block == y_block && after.allocation().offset == y_begin));
    }
    CHECK(mem.check_all() == 0);

    // The library's own holders keep what runs alive: a Program bound to a tensor the caller drops
    // while it runs, and a command list destroyed while its run is in flight (it waits first, then
    // frees its workspace).
    {
        auto out = std::make_unique<Tensor>(Tensor::empty(ctx, {4096}, DType::f32));
        Builder b(ctx);
        Program p(b, {{b.scale(b.input(x, "x"), 3.0f), *out}});
        p.run();
        out.reset();
        std::vector<Tensor> during;
        for (int i = 0; i < 8; ++i) during.push_back(Tensor::empty(ctx, {4096}, DType::f32));
        p.wait();
    }
    {
        detail::CommandList cl(ctx.impl());
        Tensor a = cl.workspace(ctx, {4096}, DType::f32);
        cl.copy(detail::range_of(x), detail::range_of(a), a.bytes());
        cl.submit();
    }
    CHECK(mem.held_back() == 0);
    CHECK(mem.check_all() == 0);
    test::check_validation(ctx);
}

TEST_CASE("upload and download round-trip through mapped memory and through chunked staging") {
    for (auto& d : test::devices()) {
        CAPTURE(d.label);
        // The small device stages through 64 KiB: 1 MiB crosses 16 chunks.
        const std::size_t n = 262144;
        std::vector<float> x(n);
        std::iota(x.begin(), x.end(), 0.0f);
        Tensor t = Tensor::from_floats(*d.ctx, {int64_t(n)}, DType::f32, x);
        CHECK(t.to_floats() == x);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("barriers only where buffers conflict") {
    auto& ctx = test::full_device();
    Tensor x = Tensor::from_floats(ctx, {1000}, DType::f32, std::vector<float>(1000, 1.0f));
    Tensor y = Tensor::empty(ctx, {1000}, DType::f32), z = Tensor::empty(ctx, {1000}, DType::f32);
    {
        detail::CommandList cl(ctx.impl());
        record_scale(cl, ctx, x, 2.0f, y);  // reads x, writes y
        record_scale(cl, ctx, x, 3.0f, z);  // reads x, writes z: independent
        CHECK(cl.barrier_count() == 0);
        record_scale(cl, ctx, y, 5.0f, x);  // reads y (written above), writes x (read above)
        CHECK(cl.barrier_count() == 1);
        cl.submit_and_wait();
    }
    CHECK(x.to_floats()[999] == 10.0f);
    CHECK(z.to_floats()[0] == 3.0f);
    test::check_validation(ctx);
}

TEST_CASE("a recorded command list replays: three replays of x <- 2x give 8x") {
    auto& ctx = test::full_device();
    Tensor x = Tensor::from_floats(ctx, {257}, DType::f32, std::vector<float>(257, 1.5f));
    Tensor tmp = Tensor::empty(ctx, {257}, DType::f32);
    detail::CommandList cl(ctx.impl());
    record_scale(cl, ctx, x, 2.0f, tmp);
    record_scale(cl, ctx, tmp, 1.0f, x);
    const uint64_t before = ctx.impl().submissions;
    for (int i = 0; i < 3; ++i) cl.submit_and_wait();
    CHECK(ctx.impl().submissions - before == 3);
    const auto out = x.to_floats();
    CHECK(out[0] == 12.0f);
    CHECK(out[256] == 12.0f);
    test::check_validation(ctx);
}

TEST_CASE("an eager op is exactly one queue submission") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::from_floats(ctx, {64}, DType::f16, std::vector<float>(64, 1.0f));
    Tensor y = Tensor::empty(ctx, {64}, DType::f16);
    const uint64_t before = ctx.impl().submissions;
    add(ctx, a, a, y);
    CHECK(ctx.impl().submissions - before == 1);
}

TEST_CASE("GPU timestamps time each dispatch when profiling") {
    auto& ctx = test::full_device();
    if (!ctx.caps().timestamps) {
        MESSAGE("device has no timestamps; skipped");
        return;
    }
    Tensor x = Tensor::from_floats(ctx, {1 << 16}, DType::f32, std::vector<float>(1 << 16, 1.0f));
    Tensor y = Tensor::empty(ctx, {1 << 16}, DType::f32);
    detail::CommandList cl(ctx.impl(), /*profile=*/true);
    record_scale(cl, ctx, x, 2.0f, y);
    record_scale(cl, ctx, y, 2.0f, x);
    cl.submit_and_wait();
    const auto t = cl.timings();
    REQUIRE(t.size() == 2);
    for (const auto& op : t) {
        CHECK(op.label == "scale");
        CHECK(op.milliseconds >= 0.0);
        CHECK(op.milliseconds < 10000.0);
    }
    test::check_validation(ctx);
}

TEST_CASE("the pipeline cache is saved with the Context and loaded by the next; a bad file is an empty cache") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("vkhalf-pipeline-cache-" + std::to_string(getpid()));
    fs::remove_all(dir);
    ContextOptions o;
    o.pipeline_cache_dir = dir.string();
    std::string path;
    {
        Context ctx(o);
        path = ctx.pipeline_cache_path();
        CHECK(path.rfind(dir.string() + "/pipelines-", 0) == 0);
        CHECK(ctx.pipeline_cache_loaded_bytes() == 0);  // nothing there yet
        Tensor a = Tensor::from_floats(ctx, {64}, DType::f32, std::vector<float>(64, 1.0f));
        Tensor y = Tensor::empty(ctx, {64}, DType::f32);
        add(ctx, a, a, y);
        test::check_validation(ctx);
    }  // saved here
    REQUIRE(fs::exists(path));
    const auto saved = fs::file_size(path);
    CHECK(saved > 24);
    {
        Context ctx(o);
        CHECK(ctx.pipeline_cache_loaded_bytes() == saved - 24);  // everything after the header
        test::check_validation(ctx);
    }
    {  // one flipped byte in the driver's data: refused by the CRC, and the run goes on
        std::ifstream in(path, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        in.close();
        bytes.back() = char(bytes.back() ^ 0x5a);
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    }
    {
        Context ctx(o);
        CHECK(ctx.pipeline_cache_loaded_bytes() == 0);
        Tensor a = Tensor::from_floats(ctx, {64}, DType::f32, std::vector<float>(64, 1.5f));
        Tensor y = Tensor::empty(ctx, {64}, DType::f32);
        add(ctx, a, a, y);
        CHECK(y.to_floats()[63] == 3.0f);
        ctx.save_pipeline_cache();  // and the file is whole again
        test::check_validation(ctx);
    }
    {
        Context ctx(o);
        CHECK(ctx.pipeline_cache_loaded_bytes() > 0);
    }
    ContextOptions none;
    none.pipeline_cache_dir = "";
    Context ctx(none);
    CHECK(ctx.pipeline_cache_path().empty());
    CHECK_THROWS_AS(ctx.save_pipeline_cache(), IoError);
    fs::remove_all(dir);
}

// Every embedded module declares only what the Context enabled for the tiers it supports, so no
// shader reaches the driver needing a feature the device was created without (the validation
// layer's VUID-RuntimeSpirv-* and "feature was not enabled" messages, before they happen).
TEST_CASE("every SPIR-V module of a supported tier needs only features the Context enabled") {
    for (auto& d : test::devices()) {
        const DeviceCaps& caps = d.ctx->caps();
        const detail::EnabledFeatures& enabled = d.ctx->impl().enabled;
        std::size_t checked = 0;
        for (const auto& m : spirv::all_modules()) {
            const std::string name = m.name, tier = name.substr(name.rfind('.') + 1);
            const bool supported = tier == "f32" || tier == "f16p" || (tier == "f16s" && caps.supports(Variant::f16s)) ||
                                   (tier == "f16a" && caps.supports(Variant::f16a)) ||
                                   (tier == "coopmat" && caps.supports(Variant::coopmat));
            const bool kernel_ok = name.rfind("gemm_regblock.", 0) != 0 || caps.subgroup_shuffle;
            if (!supported || !kernel_ok) continue;
            CAPTURE(d.label);
            CAPTURE(name);
            const auto missing = detail::missing_features({m.words, m.word_count}, enabled);
            for (const auto& f : missing) MESSAGE("needs " << f);
            CHECK(missing.empty());
            ++checked;
        }
        CHECK(checked >= 30);  // every shader has at least its f32 and f16p modules
    }
}

// The reflection CommandList checks every dispatch against: a binding the shader may write must
// be declared written, or the hazard tracker skips a barrier the synchronization validation wants.
TEST_CASE("shader interface reflection: bindings (readonly, writeonly, plain) and push-constant sizes") {
    auto bindings_of = [](const std::string& name) {
        for (const auto& m : spirv::all_modules())
            if (name == m.name) return detail::storage_bindings({m.words, m.word_count});
        FAIL("no module " << name);
        return detail::StorageBindings{};
    };
    // dropout: 0 readonly x, 1 the rng state (read and written), 2 writeonly y.
    const auto dropout = bindings_of("dropout.f32");
    CHECK(dropout.declared == 0b111u);
    CHECK(dropout.writable == 0b110u);
    // conv2d: 0-3 readonly operands, 4 the output, 5 the split-K partials.
    const auto conv = bindings_of("conv2d.f16s");
    CHECK(conv.declared == 0b111111u);
    CHECK(conv.writable == 0b110000u);
    // gather_batch reads the training state (TRAIN_STATE_READONLY), writes x and the labels.
    const auto gather = bindings_of("gather_batch.f32");
    CHECK(gather.declared == 0b111111u);
    CHECK(gather.writable == 0b101000u);
    // Every module: at least one binding, and something written.
    for (const auto& m : spirv::all_modules()) {
        CAPTURE(m.name);
        const auto b = detail::storage_bindings({m.words, m.word_count});
        CHECK(b.declared != 0);
        CHECK(b.writable != 0);
        CHECK((b.writable & ~b.declared) == 0);
    }
    // Push-constant blocks: dropout's four words; conv2d's twenty (shape, stride, padding,
    // dilation, k_chunk, groups, splits, group_z0, group_x0).
    auto push_of = [](const std::string& name) {
        for (const auto& m : spirv::all_modules())
            if (name == m.name) return detail::push_constant_bytes({m.words, m.word_count});
        return ~0u;
    };
    CHECK(push_of("dropout.f32") == 16);
    CHECK(push_of("conv2d.f32") == 80);
    // A host side that disagrees with its shader on the bindings or the push constants is refused
    // when the pipeline is made, naming the module.
    auto& ctx = test::full_device();
    CHECK_THROWS_WITH_AS(ctx.impl().pipelines->get({"dropout.f32", 3, 12, 64, {{1, 0u}}}),
                         doctest::Contains("16 bytes of push constants, its host side pushes 12"), Error);
    CHECK_THROWS_WITH_AS(ctx.impl().pipelines->get({"dropout.f32", 2, 16, 64, {{1, 0u}}}),
                         doctest::Contains("other than the 2"), Error);
    // A dispatch that binds a writable binding as read-only is refused before it is recorded.
    const auto& pipe = ctx.impl().pipelines->get({"dropout.f32", 3, 16, 64, {{1, 0u}}});
    Tensor t = Tensor::empty(ctx, {4}, DType::f32), state = Tensor::empty(ctx, {2}, DType::u32);
    detail::CommandList cl(ctx.impl());
    const detail::BufferAccess wrong[] = {detail::read(t), detail::read(state), detail::write(t)};
    const uint32_t push[4] = {};
    CHECK_THROWS_WITH_AS(cl.dispatch(pipe, wrong, push, sizeof(push), 1, "dropout"),
                         doctest::Contains("binding 1"), Error);
    test::check_validation(ctx);
}

TEST_CASE("a module that needs a feature the device was created without is refused by name") {
    auto& small = test::small_device();  // no 16-bit storage
    const detail::PipelineDesc desc{"elementwise.f16s", 3, 16, 64, {}};
    CHECK_THROWS_WITH_AS(small.impl().pipelines->get(desc), doctest::Contains("storageBuffer16BitAccess"),
                         UnsupportedError);
    // A hand-made module: Shader, Float16, a capability vkhalf does not know, LocalSizeId.
    const uint32_t words[] = {0x07230203, 0x00010300, 0, 10, 0,
                              (2u << 16) | 17, 1,     (2u << 16) | 17, 9, (2u << 16) | 17, 4242,
                              (6u << 16) | 331, 4, 38, 5, 6, 7};
    detail::EnabledFeatures none;
    const auto missing = detail::missing_features(words, none);
    REQUIRE(missing.size() == 3);
    CHECK(missing[0].find("shaderFloat16") != std::string::npos);
    CHECK(missing[1].find("4242") != std::string::npos);
    CHECK(missing[2].find("maintenance4") != std::string::npos);
    detail::EnabledFeatures f16;
    f16.float16 = f16.maintenance4 = true;
    CHECK(detail::missing_features(words, f16).size() == 1);
    const uint32_t truncated[] = {0x07230203, 0x00010300, 0, 10, 0, (5u << 16) | 17, 1};
    CHECK_THROWS_AS(detail::missing_features(truncated, none), Error);
    test::check_validation(small);
}

} // TEST_SUITE
