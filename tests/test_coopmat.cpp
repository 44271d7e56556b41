// gemm_coopmat.comp forced on every cooperative-matrix shape the device lists, one Context per
// shape (test::coopmat_devices), against the fp64 reference: every transpose over odd shapes
// (1, primes, non-multiples of the tile), batches (a shared 2-D operand too), alpha/beta, bias per
// row and per column, ReLU, split-K, fp16 and fp32 outputs, views with leading dimensions and NaN
// pads, fp32 accumulation. Each case checks through describe_gemm that the cooperative-matrix
// kernel is the one that ran, so a silent fall-back fails. The convolution lowered onto it is in
// test_conv.cpp (same suite). Runs where the device has cooperative matrices: lavapipe from
// Mesa 26.1 (scripts/run-mesa26.sh, CI's second driver) and GPUs.
#include <doctest/doctest.h>

#include <algorithm>

#include "gemm_cases.hpp"
#include "kernels/gemm.hpp"
#include "runtime/gemm_tuning.hpp"
#include "vkhalf/build_config.hpp"
#include "support.hpp"

using namespace vkhalf;

namespace {

// The shape the Context was restricted to appears in the plan: "coopmat.coopmat 32x32 (8x8x8)".
void check_shape(Context& ctx, const std::string& plan) {
    const CoopmatShape s = ctx.caps().coopmat_shapes.at(0);
    const std::string want = "(" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + ")";
    CHECK_MESSAGE(plan.find(want) != std::string::npos, "plan " << plan << " does not use " << want);
}

// A GPU as the planner sees it: every limit set, no device needed.
DeviceCaps planning_caps(uint32_t shared_bytes, uint32_t subgroup, uint32_t invocations) {
    DeviceCaps c;
    c.vendor_id = 0x10de;
    c.driver_id = 4;
    c.name = "planning test GPU";
    c.storage16 = c.float16_arith = c.coopmat_extension = true;
    c.coopmat_shapes = {{16, 8, 16}, {16, 16, 16}};
    c.subgroup_size = c.min_subgroup_size = c.max_subgroup_size = subgroup;
    c.max_shared_memory = shared_bytes;
    c.max_workgroup_invocations = c.max_workgroup_size_x = invocations;
    return c;
}

uint64_t groups(const detail::GemmPlan& p, uint32_t m, uint32_t n) {
    return uint64_t((m + p.bm - 1) / p.bm) * ((n + p.bn - 1) / p.bn);
}

} // namespace

TEST_SUITE("coopmat") {

// Runs on every device: the plan is computed from DeviceCaps alone (the tensors only lend their
// offsets), so the tuning table and its fallback are checked where no cooperative matrix exists.
TEST_CASE("coopmat planning: size classes, the catalogue a device holds, the tuning table and its fallback") {
    using detail::GemmSizeClass;
    CHECK(detail::gemm_size_class(128, 256, 1) == GemmSizeClass::small);
    CHECK(detail::gemm_size_class(128, 512, 1) == GemmSizeClass::medium);
    CHECK(detail::gemm_size_class(1023, 1024, 1) == GemmSizeClass::medium);
    CHECK(detail::gemm_size_class(1024, 1024, 1) == GemmSizeClass::large);
    CHECK(detail::gemm_size_class(512, 512, 4) == GemmSizeClass::large);
    const auto catalogue = detail::coopmat_tile_catalogue();
    for (const detail::CoopmatTuning& t : detail::coopmat_tuning_table()) {
        CAPTURE(t.measured);
        CHECK(std::find(catalogue.begin(), catalogue.end(), t.tile) != catalogue.end());
    }

    const DeviceCaps gpu = planning_caps(48 * 1024, 32, 1024);
    const CoopmatShape m16{16, 16, 16};
    REQUIRE(detail::coopmat_matrix_shape(gpu));
    CHECK(detail::coopmat_matrix_shape(gpu)->n == 16);  // 16x16x16 preferred over 16x8x16
    CHECK(detail::runnable_coopmat_tiles(gpu, m16, false, false).size() == catalogue.size());
    const auto small_shared = detail::runnable_coopmat_tiles(planning_caps(16 * 1024, 32, 1024), m16, false, false);
    CHECK(!small_shared.empty());
    CHECK(small_shared.size() < catalogue.size());
    for (const CoopmatTile& t : detail::runnable_coopmat_tiles(planning_caps(64 * 1024, 64, 256), m16, true, true))
        CHECK(t.sg_rows * t.sg_cols * 64 <= 256);  // wave64 with 256 invocations: at most 4 subgroups
    DeviceCaps odd = gpu;
    odd.coopmat_shapes = {{16, 16, 4}};  // no dimension set in multiples of 8: the kernel cannot stage it
    CHECK_FALSE(detail::coopmat_matrix_shape(odd));

    Context& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {8, 8}, DType::f16), c16 = Tensor::empty(ctx, {8, 8}, DType::f16);
    Tensor c32 = Tensor::empty(ctx, {8, 8}, DType::f32);
    GemmOptions o;
    o.kernel = GemmKernel::coopmat;
    o.split_k = 1;
    auto square = [](uint32_t n, uint32_t ld) {
        detail::GemmShape s;
        s.m = s.n = s.k = n;
        s.lda = s.ldb = s.ldc = ld;
        return s;
    };
    if (VKHALF_COOPMAT_SHADERS_BUILT) {
        // No entry for this GPU: the largest tile with enough workgroups.
        const auto big = detail::plan_gemm(gpu, square(4096, 4096), a, a, c16, o);
        CHECK(big.tile_source == "fallback");
        CHECK(big.bm * big.bn == 128 * 128);
        CHECK(big.vec8_a);
        CHECK(big.vec8_b);
        CHECK(big.direct);
        const auto mid = detail::plan_gemm(gpu, square(1024, 1024), a, a, c16, o);
        CHECK(mid.bm * mid.bn < 128 * 128);
        CHECK(groups(mid, 1024, 1024) >= 128);
        // Unaligned rows read scalar; bias, relu and split-K partials go through the scratch.
        const auto ragged = detail::plan_gemm(gpu, square(1001, 1001), a, a, c32, o);
        CHECK_FALSE(ragged.vec8_a);
        CHECK_FALSE(ragged.direct);
        GemmOptions with_bias = o;
        with_bias.bias = &a;
        CHECK_FALSE(detail::plan_gemm(gpu, square(1024, 1024), a, a, c16, with_bias).direct);
        GemmOptions split = o;
        split.split_k = 4;
        CHECK_FALSE(detail::plan_gemm(gpu, square(1024, 1024), a, a, c16, split).direct);
        CHECK(detail::plan_gemm(gpu, square(1024, 1028), a, a, c32, o).direct);  // fp32 C: rows of 4 floats suffice
        CHECK_FALSE(detail::plan_gemm(gpu, square(1024, 1028), a, a, c16, o).direct);

        // lavapipe's entries: taken where they fit, else the fallback.
        DeviceCaps lavapipe = planning_caps(32 * 1024, 8, 1024);
        lavapipe.vendor_id = 0x10005;
        lavapipe.driver_id = 13;
        lavapipe.is_cpu = true;
        lavapipe.coopmat_shapes = {{8, 8, 8}};
        const auto* entry = detail::find_coopmat_tuning(lavapipe, {8, 8, 8}, GemmSizeClass::large);
        REQUIRE(entry);
        const auto tuned = detail::plan_gemm(lavapipe, square(1024, 1024), a, a, c16, o);
        CHECK(tuned.tile_source == "tuned");
        CHECK(tuned.tile == entry->tile);
        lavapipe.max_shared_memory = 2048;  // too small for the entry, enough for a one-matrix tile
        const auto squeezed = detail::plan_gemm(lavapipe, square(1024, 1024), a, a, c16, o);
        CHECK(squeezed.tile_source == "fallback");
        CHECK(squeezed.tile == CoopmatTile{1, 1, 1, 1, 2, 1});
        CHECK_FALSE(detail::find_coopmat_tuning(lavapipe, {16, 16, 16}, GemmSizeClass::large));  // other matrix shape
        lavapipe.driver_id = 4;
        CHECK_FALSE(detail::find_coopmat_tuning(lavapipe, {8, 8, 8}, GemmSizeClass::large));  // other driver
    }
}

TEST_CASE("coopmat gemm: every transpose over odd shapes matches fp64, on every listed shape") {
    for (auto& d : test::coopmat_devices()) {
        for (int tr = 0; tr < 4; ++tr) {
            for (const test::Case& s : test::kShapes) {
                test::Case t = s;
                t.trans_a = tr & 1;
                t.trans_b = tr & 2;
                CAPTURE(d.label);
                CAPTURE(tr);
                CAPTURE(t.m);
                CAPTURE(t.n);
                CAPTURE(t.k);
                check_shape(*d.ctx, test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, unsigned(t.m * 31 + t.n * 7 + t.k + tr)));
            }
        }
        test::check_validation(*d.ctx);
    }
}

// Every tile of the catalogue the device can run (what `vkhalf-bench gemm --sweep` times and the
// tuning table may name), forced one by one. Two products per tile reach every path of the kernel
// (llvmpipe compiles each pipeline in seconds, so each product takes one pipeline):
//   aligned, no transposes, a batch: 128-bit loads, several K tiles through both stages, interior
//   workgroups stored straight from the accumulators with alpha and beta, edge workgroups through
//   the scratch;
//   odd, both transposed (operands staged as they lie, read column-major): scalar loads with
//   edges in M, N and K, split-K partials, bias and relu applied by the reduction.
// The output alternates between fp16 and fp32 from tile to tile and path to path.
TEST_CASE("coopmat gemm: every runnable tile, forced, matches fp64 on each path") {
    for (auto& d : test::coopmat_devices()) {
        const DeviceCaps& caps = d.ctx->caps();
        const auto matrix = detail::coopmat_matrix_shape(caps);
        REQUIRE(matrix);
        const auto tiles = detail::runnable_coopmat_tiles(caps, *matrix, false, false);
        CHECK(tiles.size() >= 4);
        const auto transposed = detail::runnable_coopmat_tiles(caps, *matrix, true, true);
        for (std::size_t i = 0; i < tiles.size(); ++i) {
            const CoopmatTile& tile = tiles[i];
            const int bm = int(tile.sg_rows * tile.tiles_m * matrix->m), bn = int(tile.sg_cols * tile.tiles_n * matrix->n);
            const int bk = int(tile.k_steps * matrix->k);
            CAPTURE(d.label);
            CAPTURE(to_string(tile));
            test::Case aligned{2 * bm + 8, bn + 16, 3 * bk + 8, 2, false, false, true, true, 0.75f, 0.5f};
            aligned.out_f32 = i % 2;
            aligned.split_k = 1;
            aligned.tile = tile;
            const std::string plan = test::run_case(*d.ctx, Variant::coopmat, std::nullopt, aligned, unsigned(20 + i));
            CHECK_MESSAGE(plan.find(to_string(tile) + " forced vec8-A-B direct") != std::string::npos, "plan " << plan);

            if (std::find(transposed.begin(), transposed.end(), tile) == transposed.end()) continue;
            test::Case odd{bm + 3, bn + 5, 5 * bk + 7, 1, true, true, false, false, 1.25f, 0.0f, 1 + int(i % 2), true};
            odd.out_f32 = !(i % 2);
            odd.split_k = 2;
            odd.tile = tile;
            const std::string odd_plan = test::run_case(*d.ctx, Variant::coopmat, std::nullopt, odd, unsigned(40 + i));
            CHECK_MESSAGE(odd_plan.find(to_string(tile) + " forced split-K 2") != std::string::npos, "plan " << odd_plan);
        }
        test::check_validation(*d.ctx);
    }
}

// A tile the device cannot hold is refused by name, never replaced.
TEST_CASE("coopmat gemm: a forced tile that does not fit is an UnsupportedError naming it") {
    for (auto& d : test::coopmat_devices()) {
        Tensor a = Tensor::empty(*d.ctx, {64, 64}, DType::f16), c = Tensor::empty(*d.ctx, {64, 64}, DType::f16);
        GemmOptions o;
        o.kernel = GemmKernel::coopmat;
        o.coopmat_tile = CoopmatTile{8, 8, 8, 8, 16, 2};  // far past any device's shared memory
        CHECK_THROWS_WITH_AS(gemm(*d.ctx, a, a, c, o), doctest::Contains("sg8x8.t8x8.k16.s2"), UnsupportedError);
        o.coopmat_tile = CoopmatTile{2, 2, 2, 2, 2, 3};  // three stages: not a shape the kernel has
        CHECK_THROWS_AS(gemm(*d.ctx, a, a, c, o), UnsupportedError);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm epilogues: alpha, beta, bias per column and per row, relu, fp16 and fp32 outputs") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        // Linear's forward (Y = X W^T + b, relu); a per-row bias with alpha and beta on the
        // dW-like transposed product; both transposes with beta, relu without bias, K off the tile.
        const test::Case cases[] = {{45, 19, 33, 1, false, true, false, false, 1, 0, 1, true},
                                    {23, 31, 17, 1, true, false, false, false, -0.5f, 2, 2, false},
                                    {29, 11, 70, 1, true, true, false, false, 1.5f, 0.25f, 0, true}};
        for (bool out_f32 : {false, true}) {
            for (const test::Case& c : cases) {
                test::Case t = c;
                t.out_f32 = out_f32;
                CAPTURE(out_f32);
                CAPTURE(t.m);
                test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, unsigned(t.m + out_f32));
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm batches: strided A and B, a shared 2-D B, a shared 2-D A") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {9, 14, 21, 3, false, false, true, true}, 4);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {9, 14, 21, 4, false, true, true, false, 1, 0, 1}, 5);
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, {17, 10, 12, 3, true, false, false, true, 1, 0, 2, true}, 6);
        test::Case big{300, 200, 500, 2, false, true, true, false};
        big.out_f32 = true;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, big, 8);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm split-K: partial sums reduced in fp32 with the epilogue") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::Case t{10, 24, 1000, 1, true, false};
        t.split_k = 4;
        CHECK(test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, 6).find("split-K 4") != std::string::npos);
        t.beta = 1;
        t.bias_mode = 1;
        t.relu = true;
        t.split_k = 3;
        t.out_f32 = true;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, t, 7);
        test::Case aligned{64, 32, 1002, 1, true, false};
        aligned.split_k = 5;
        aligned.bias_mode = 2;
        test::run_case(*d.ctx, Variant::coopmat, std::nullopt, aligned, 8);
        test::Case automatic{12, 40, 4096, 1, true, false};  // few output tiles, long K: split by the planner
        automatic.split_k = 0;
        automatic.out_f32 = true;
        CHECK(test::run_case(*d.ctx, Variant::coopmat, std::nullopt, automatic, 9).find("split-K") != std::string::npos);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm over padded views: leading dimensions and batch strides past the data, NaN in the pads") {
    for (auto& d : test::coopmat_devices()) {
        for (int tr = 0; tr < 4; ++tr) {
            for (const auto& w : test::kPaddedViews) {
                CAPTURE(d.label);
                CAPTURE(tr);
                CAPTURE(w.m);
                test::run_padded_view_case(*d.ctx, Variant::coopmat, std::nullopt, w, tr & 1, tr & 2);
            }
        }
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat gemm accumulates in fp32: partial sums past 65504 cancel exactly") {
    for (auto& d : test::coopmat_devices()) {
        CAPTURE(d.label);
        test::check_fp32_accumulation(*d.ctx, Variant::coopmat, GemmKernel::coopmat);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat requests that cannot run are refused, never silently replaced") {
    for (auto& d : test::coopmat_devices()) {
        Tensor a = Tensor::empty(*d.ctx, {4, 5}, DType::f32), b = Tensor::empty(*d.ctx, {5, 3}, DType::f32);
        Tensor c = Tensor::empty(*d.ctx, {4, 3}, DType::f32);
        GemmOptions o;
        o.kernel = GemmKernel::coopmat;
        CHECK_THROWS_WITH_AS(gemm(*d.ctx, a, b, c, o), doctest::Contains("f16"), DTypeError);
        Tensor h = Tensor::empty(*d.ctx, {4, 5}, DType::f16), hb = Tensor::empty(*d.ctx, {5, 3}, DType::f16);
        o.variant = Variant::f16s;  // the coopmat kernel has no f16s variant
        CHECK_THROWS_AS(gemm(*d.ctx, h, hb, c, o), UnsupportedError);
        GemmOptions conflict;
        conflict.variant = Variant::coopmat;
        conflict.kernel = GemmKernel::tiled;
        CHECK_THROWS_AS(gemm(*d.ctx, h, hb, c, conflict), UnsupportedError);
        test::check_validation(*d.ctx);
    }
}

TEST_CASE("coopmat switched off: a forced request says why, and the device is created without its features") {
    vkhalf::ContextOptions o;
    o.device_index = test::full_device().device_index();
    o.device.disable_coopmat = true;
    Context ctx(o);
    CHECK_FALSE(ctx.caps().supports(Variant::coopmat));
    CHECK(ctx.caps().gemm_f16 != GemmKernel::coopmat);
    Tensor a = Tensor::empty(ctx, {8, 8}, DType::f16), c = Tensor::empty(ctx, {8, 8}, DType::f16);
    GemmOptions forced;
    forced.kernel = GemmKernel::coopmat;
    if (VKHALF_COOPMAT_SHADERS_BUILT && test::full_device().caps().supports(Variant::coopmat))
        CHECK_THROWS_WITH_AS(gemm(ctx, a, a, c, forced), doctest::Contains("DeviceOptions::disable_coopmat"),
                             UnsupportedError);
    else
        CHECK_THROWS_AS(gemm(ctx, a, a, c, forced), UnsupportedError);
    gemm(ctx, a, a, c);  // the portable kernel runs, with no validation message
    vkhalf::ContextOptions shape = o;
    shape.device.disable_coopmat = false;
    shape.device.coopmat_shape = CoopmatShape{3, 5, 7};  // listed by no device
    if (test::full_device().caps().supports(Variant::coopmat))
        CHECK_THROWS_WITH_AS(Context{shape}, doctest::Contains("3x5x7"), UnsupportedError);
    test::check_validation(ctx);
}

} // TEST_SUITE
