// Bad input gets a clear vkhalf::Error subclass, never a crash or a device loss.
#include <doctest/doctest.h>

#include "runtime/context_impl.hpp"
#include "support.hpp"

using namespace vkhalf;

TEST_SUITE("errors") {

TEST_CASE("shape and dtype mismatches name both operands") {
    auto& ctx = test::full_device();
    Tensor a = Tensor::empty(ctx, {2, 3}, DType::f16), b = Tensor::empty(ctx, {3, 2}, DType::f16);
    Tensor c = Tensor::empty(ctx, {2, 3}, DType::f32), y = Tensor::empty(ctx, {2, 3}, DType::f16);
    CHECK_THROWS_WITH_AS(add(ctx, a, b, y), doctest::Contains("[2, 3] vs [3, 2]"), ShapeError);
    CHECK_THROWS_WITH_AS(mul(ctx, a, c, y), doctest::Contains("f16 vs f32"), DTypeError);
    CHECK_THROWS_AS(relu_backward(ctx, a, b, y), ShapeError);
    Tensor empty;
    CHECK_THROWS_AS(relu(ctx, empty, y), Error);
    Tensor not_scalar = Tensor::empty(ctx, {2}, DType::f32);
    CHECK_THROWS_AS(sum(ctx, a, not_scalar), ShapeError);
    std::vector<float> three(3);
    CHECK_THROWS_AS(a.upload(three), ShapeError);
    CHECK_THROWS_AS(Tensor::empty(ctx, {4, 0}, DType::f32), ShapeError);
    test::check_validation(ctx);
}

TEST_CASE("a variant that does not suit the dtype or the device is refused") {
    auto& small = test::small_device();
    Tensor a = Tensor::empty(small, {8}, DType::f16), y = Tensor::empty(small, {8}, DType::f16);
    CHECK_THROWS_WITH_AS(add(small, a, a, y, {Variant::f16s}), doctest::Contains("storageBuffer16BitAccess"),
                         UnsupportedError);
    CHECK_THROWS_AS(add(small, a, a, y, {Variant::f16a}), UnsupportedError);
    CHECK_THROWS_AS(add(small, a, a, y, {Variant::f32}), DTypeError);
    CHECK_THROWS_AS(add(small, a, a, y, {Variant::coopmat}), DTypeError);
    test::check_validation(small);
}

TEST_CASE("a shape whose element count overflows int64 is a ShapeError, not a wrapped-around size") {
    // Found by fuzzing the C API (tests/fuzz/corpus/capi/seed-odd-arguments): 2^40 x 2^40 wrapped.
    auto& ctx = test::full_device();
    const int64_t big = int64_t(1) << 40;
    CHECK_THROWS_AS(Tensor::empty(ctx, {big, big}, DType::f32), ShapeError);
    CHECK_THROWS_AS(numel({big, big, big}), ShapeError);
    CHECK(numel({big, 1 << 20}) == int64_t(1) << 60);
}

TEST_CASE("a tensor beyond maxStorageBufferRange is a LimitError naming the limit, not a device loss") {
    auto& small = test::small_device();
    CHECK_THROWS_WITH_AS(Tensor::empty(small, {1 << 19}, DType::f32),  // 2 MiB > 1 MiB
                         doctest::Contains("maxStorageBufferRange"), LimitError);
    auto& full = test::full_device();
    CHECK_THROWS_AS(Tensor::empty(full, {int64_t(1) << 40}, DType::f32), LimitError);
    // The device still works afterwards.
    Tensor ok = Tensor::from_floats(small, {4}, DType::f32, std::vector<float>{1, 2, 3, 4});
    CHECK(sum(small, ok) == 10.0f);
    test::check_validation(small);
}

TEST_CASE("an allocation beyond the memory heap is an OutOfMemoryError before any Vulkan call") {
    auto& ctx = test::full_device();
    auto& mem = *ctx.impl().memory;
    const uint64_t heap = mem.heap_size(detail::MemoryKind::device);
    try {
        mem.allocate(nullptr, heap * 2, detail::MemoryKind::device);
        FAIL("expected OutOfMemoryError");
    } catch (const OutOfMemoryError& e) {
        CHECK(e.device_memory());
        CHECK(std::string(e.what()).find("heap") != std::string::npos);
    }
    test::check_validation(ctx);
}

} // TEST_SUITE
