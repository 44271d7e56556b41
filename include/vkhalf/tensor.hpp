#pragma once
// Tensor: a dense, row-major array in device memory with a shape and a dtype.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vkhalf/context.hpp"
#include "vkhalf/types.hpp"

namespace vkhalf {

using Shape = std::vector<int64_t>;
std::string to_string(const Shape& shape);
int64_t numel(const Shape& shape);

namespace detail { struct Allocation; }

class Tensor {
public:
    Tensor() = default;
    // Uninitialised device tensor. Throws LimitError past maxStorageBufferRange, OutOfMemoryError
    // past the memory heap.
    static Tensor empty(Context& ctx, Shape shape, DType dtype);
    // From host floats, rounded to nearest even when dtype is f16.
    static Tensor from_floats(Context& ctx, Shape shape, DType dtype, std::span<const float> values);

    // A tensor over elements [offset, offset + numel(shape)) of this one, sharing its memory. The
    // byte offset must be a multiple of the device's storage-buffer offset alignment (LimitError)
    // and the elements must lie inside this tensor (ShapeError). No kernel writes past a view's
    // last element, also in the packed fp16 tier.
    Tensor view(int64_t offset, Shape shape) const;
    // The same memory read as another shape and dtype, no larger than this tensor's bytes.
    Tensor reinterpret(Shape shape, DType dtype) const;

    const Shape& shape() const { return shape_; }
    DType dtype() const { return dtype_; }
    int64_t numel() const { return vkhalf::numel(shape_); }
    std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
    bool defined() const { return alloc_ != nullptr; }

    // Raw element bytes: 4 per f32 element, 2 per f16 element (its IEEE binary16 bits).
    void upload_bytes(std::span<const std::byte> bytes);
    void download_bytes(std::span<std::byte> bytes) const;
    // Host floats in and out, converting to and from fp16 when the tensor is f16.
    void upload(std::span<const float> values);
    std::vector<float> to_floats() const;
    std::vector<uint16_t> to_f16_bits() const;  // f16 tensors only
    std::vector<uint32_t> to_u32() const;       // u32 tensors only

    detail::Allocation& allocation() const { return *alloc_; }
    uint64_t byte_offset() const { return offset_; }  // within allocation()

private:
    Shape shape_;
    DType dtype_ = DType::f32;
    std::shared_ptr<detail::Allocation> alloc_;
    uint64_t offset_ = 0;
};

} // namespace vkhalf
