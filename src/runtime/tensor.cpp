#include "vkhalf/tensor.hpp"

#include <cstring>
#include <limits>

#include "runtime/command_list.hpp"
#include "runtime/tensor_range.hpp"
#include "runtime/context_impl.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/half.hpp"

namespace vkhalf {

std::string to_string(const Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

int64_t numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        // Shapes come from users and files: a product past int64 is a bad shape, not wraparound.
        if (d > 0 && n > std::numeric_limits<int64_t>::max() / d)
            throw ShapeError("shape " + to_string(shape) + " has more than 2^63 elements");
        n *= d;
    }
    return n;
}

namespace {

// Copies through the staging buffer in chunks; `to_device` picks the direction.
void staged_transfer(detail::ContextImpl& ctx, const detail::BufferRange& tensor, std::byte* host, std::size_t bytes,
                     bool to_device) {
    detail::Allocation& staging = detail::staging_buffer(ctx);
    const detail::BufferRange stage{staging.buffer(), staging.offset, staging.size};
    for (std::size_t done = 0; done < bytes;) {
        const std::size_t chunk = std::min<std::size_t>(bytes - done, staging.size);
        if (to_device) std::memcpy(staging.mapped(), host + done, chunk);
        detail::CommandList cl(ctx);
        const detail::BufferRange part{tensor.buffer, tensor.offset + done, chunk};
        if (to_device)
            cl.copy(stage, part, chunk);
        else
            cl.copy(part, stage, chunk);
        cl.submit_and_wait();
        if (!to_device) std::memcpy(host + done, staging.mapped(), chunk);
        done += chunk;
    }
}

void transfer(detail::ContextImpl& ctx, const Tensor& t, std::byte* host, std::size_t bytes, bool to_device) {
    const detail::Allocation& a = t.allocation();
    if (a.mapped() && !ctx.options.device.force_staging) {
        // Host-visible device memory (integrated GPUs, lavapipe, ReBAR): no copy on the queue.
        // A Program's run() does not wait, so work may still be touching the tensor: let the queue
        // drain first (the staged path is ordered by its own command buffer instead).
        ctx.wait_queue_idle("Tensor transfer (vkQueueWaitIdle)");
        std::byte* mapped = a.mapped() + t.byte_offset();
        if (to_device)
            std::memcpy(mapped, host, bytes);
        else
            std::memcpy(host, mapped, bytes);
        return;
    }
    staged_transfer(ctx, detail::range_of(t), host, bytes, to_device);
}

} // namespace

Tensor Tensor::empty(Context& ctx, Shape shape, DType dtype) {
    for (int64_t d : shape)
        if (d <= 0) throw ShapeError("Tensor::empty: every dimension must be positive, got " + to_string(shape));
    const uint64_t bytes = static_cast<uint64_t>(vkhalf::numel(shape)) * dtype_size(dtype);
    const uint64_t limit = ctx.caps().max_storage_buffer_range;
    if (bytes > limit)
        throw LimitError("Tensor::empty: " + to_string(shape) + " " + std::string(to_string(dtype)) + " needs " +
                         std::to_string(bytes) + " bytes, more than this device's maxStorageBufferRange (" +
                         std::to_string(limit) + " bytes); split the tensor");
    Tensor t;
    t.shape_ = std::move(shape);
    t.dtype_ = dtype;
    t.alloc_ = ctx.impl().memory->allocate(ctx.shared_impl(), bytes, detail::MemoryKind::device);
    return t;
}

Tensor Tensor::from_floats(Context& ctx, Shape shape, DType dtype, std::span<const float> values) {
    Tensor t = empty(ctx, std::move(shape), dtype);
    t.upload(values);
    return t;
}

Tensor Tensor::view(int64_t offset, Shape shape) const {
    if (!alloc_) throw Error("Tensor::view: tensor is empty");
    for (int64_t d : shape)
        if (d <= 0) throw ShapeError("Tensor::view: every dimension must be positive, got " + to_string(shape));
    const int64_t n = vkhalf::numel(shape);
    if (offset < 0 || offset + n > numel())
        throw ShapeError("Tensor::view: elements [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                         ") lie outside " + to_string(shape_));
    const uint64_t bytes_offset = offset_ + static_cast<uint64_t>(offset) * dtype_size(dtype_);
    const uint64_t align = std::max<uint64_t>(16, alloc_->owner->caps.min_storage_offset_alignment);
    if (bytes_offset % align != 0)
        throw LimitError("Tensor::view: byte offset " + std::to_string(bytes_offset) + " is not a multiple of " +
                         std::to_string(align) + " (storage-buffer offset alignment)");
    Tensor v = *this;
    v.shape_ = std::move(shape);
    v.offset_ = bytes_offset;
    return v;
}

Tensor Tensor::reinterpret(Shape shape, DType dtype) const {
    if (!alloc_) throw Error("Tensor::reinterpret: tensor is empty");
    for (int64_t d : shape)
        if (d <= 0) throw ShapeError("Tensor::reinterpret: every dimension must be positive, got " + to_string(shape));
    if (uint64_t(vkhalf::numel(shape)) * dtype_size(dtype) > bytes())
        throw ShapeError("Tensor::reinterpret: " + to_string(shape) + " " + std::string(to_string(dtype)) +
                         " is larger than " + to_string(shape_) + " " + std::string(to_string(dtype_)));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    t.dtype_ = dtype;
    return t;
}

void Tensor::upload_bytes(std::span<const std::byte> bytes) {
    if (!alloc_) throw Error("Tensor::upload_bytes: tensor is empty");
    if (bytes.size() != this->bytes())
        throw ShapeError("Tensor::upload_bytes: " + std::to_string(bytes.size()) + " bytes given, tensor " +
                         to_string(shape_) + " " + std::string(to_string(dtype_)) + " holds " +
                         std::to_string(this->bytes()));
    transfer(*alloc_->owner, *this, const_cast<std::byte*>(bytes.data()), bytes.size(), true);
}

void Tensor::download_bytes(std::span<std::byte> bytes) const {
    if (!alloc_) throw Error("Tensor::download_bytes: tensor is empty");
    if (bytes.size() != this->bytes())
        throw ShapeError("Tensor::download_bytes: " + std::to_string(bytes.size()) + " bytes of room, tensor " +
                         to_string(shape_) + " holds " + std::to_string(this->bytes()));
    transfer(*alloc_->owner, *this, bytes.data(), bytes.size(), false);
}

std::vector<uint32_t> Tensor::to_u32() const {
    if (dtype_ != DType::u32) throw DTypeError("Tensor::to_u32: tensor is " + std::string(to_string(dtype_)));
    std::vector<uint32_t> out(static_cast<std::size_t>(numel()));
    download_bytes(std::as_writable_bytes(std::span(out)));
    return out;
}

void Tensor::upload(std::span<const float> values) {
    if (static_cast<int64_t>(values.size()) != numel())
        throw ShapeError("Tensor::upload: " + std::to_string(values.size()) + " values given, tensor " +
                         to_string(shape_) + " has " + std::to_string(numel()));
    if (dtype_ == DType::u32) throw DTypeError("Tensor::upload: tensor is u32; use upload_bytes");
    if (dtype_ == DType::f32) {
        upload_bytes(std::as_bytes(values));
    } else {
        const auto bits = vkhalf::to_f16_bits(values);
        upload_bytes(std::as_bytes(std::span(bits)));
    }
}

std::vector<float> Tensor::to_floats() const {
    if (dtype_ == DType::u32) throw DTypeError("Tensor::to_floats: tensor is u32");
    if (dtype_ == DType::f32) {
        std::vector<float> out(static_cast<std::size_t>(numel()));
        download_bytes(std::as_writable_bytes(std::span(out)));
        return out;
    }
    return from_f16_bits(to_f16_bits());
}

std::vector<uint16_t> Tensor::to_f16_bits() const {
    if (dtype_ != DType::f16) throw DTypeError("Tensor::to_f16_bits: tensor is " + std::string(to_string(dtype_)));
    std::vector<uint16_t> out(static_cast<std::size_t>(numel()));
    download_bytes(std::as_writable_bytes(std::span(out)));
    return out;
}

} // namespace vkhalf
