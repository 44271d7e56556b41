#pragma once
// MemoryAllocator: sub-allocates buffers from large blocks (one VkDeviceMemory and one VkBuffer
// spanning it), so a tensor costs no vkAllocateMemory. Each Allocation is a range of a block's
// buffer, aligned for storage-buffer descriptors and vec4 loads.
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "runtime/fault_injection.hpp"
#include "runtime/handle.hpp"
#include "vkhalf/device.hpp"

namespace vkhalf::detail {

struct ContextImpl;

enum class MemoryKind : uint8_t {
    device,   // device-local preferred: tensors, parameters, activations
    staging,  // host-visible and coherent: upload/download
};

struct MemoryBlock {
    UniqueBuffer buffer;
    UniqueMemory memory;
    VkDeviceSize size = 0;
    std::byte* mapped = nullptr;            // non-null when the memory type is host-visible
    std::map<VkDeviceSize, VkDeviceSize> free_ranges;  // offset -> size, coalesced
    MemoryKind kind = MemoryKind::device;
    bool dedicated = false;
};

// A range of a block. Owned by a Tensor (or a staging user); returns itself to the allocator
// on destruction and keeps the Context alive meanwhile.
struct Allocation {
    std::shared_ptr<ContextImpl> owner;
    MemoryBlock* block = nullptr;
    VkDeviceSize offset = 0;
    VkDeviceSize size = 0;    // requested bytes rounded up to 4

    VkBuffer buffer() const { return block->buffer.get(); }
    std::byte* mapped() const { return block->mapped ? block->mapped + offset : nullptr; }
    ~Allocation();
};

class MemoryAllocator {
public:
    // `faults` (the Context's test hook) may fail vkAllocateMemory on purpose.
    MemoryAllocator(VkDevice device, VkPhysicalDevice physical, const DeviceCaps& caps, FaultInjector& faults);
    ~MemoryAllocator();
    MemoryAllocator(const MemoryAllocator&) = delete;
    MemoryAllocator& operator=(const MemoryAllocator&) = delete;

    // Throws OutOfMemoryError when the request exceeds the heap or the device runs out.
    std::shared_ptr<Allocation> allocate(std::shared_ptr<ContextImpl> owner, VkDeviceSize bytes, MemoryKind kind);
    void release(Allocation& a);

    std::size_t block_count() const { return blocks_.size(); }
    VkDeviceSize heap_size(MemoryKind kind) const;

private:
    MemoryBlock& new_block(VkDeviceSize size, MemoryKind kind, bool dedicated);
    uint32_t memory_type(MemoryKind kind, uint32_t allowed_bits) const;

    VkDevice device_;
    FaultInjector& faults_;
    VkPhysicalDeviceMemoryProperties props_{};
    VkDeviceSize alignment_;
    VkDeviceSize block_size_;
    VkDeviceSize max_allocation_;
    std::vector<std::unique_ptr<MemoryBlock>> blocks_;
};

} // namespace vkhalf::detail
