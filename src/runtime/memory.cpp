#include "runtime/memory.hpp"

#include <algorithm>
#include <string>

#include "runtime/check.hpp"
#include "runtime/context_impl.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr VkDeviceSize kDefaultBlockSize = 64ull << 20;  // 64 MiB: a few blocks hold a small model
constexpr VkDeviceSize kMinAlignment = 16;               // vec4 / uvec4 loads

VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

std::string mib(VkDeviceSize bytes) {
    const uint64_t tenths = bytes * 10 / (1024 * 1024);
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

} // namespace

Allocation::~Allocation() {
    if (owner && block) owner->memory->release(*this);
}

MemoryAllocator::MemoryAllocator(VkDevice device, VkPhysicalDevice physical, const DeviceCaps& caps,
                                 FaultInjector& faults)
    : device_(device), faults_(faults) {
    vkGetPhysicalDeviceMemoryProperties(physical, &props_);
    alignment_ = std::max<VkDeviceSize>(kMinAlignment, caps.min_storage_offset_alignment);
    max_allocation_ = caps.max_memory_allocation ? caps.max_memory_allocation : ~VkDeviceSize(0);
    block_size_ = std::min(kDefaultBlockSize, max_allocation_);
}

MemoryAllocator::~MemoryAllocator() = default;

uint32_t MemoryAllocator::memory_type(MemoryKind kind, uint32_t allowed_bits) const {
    const VkMemoryPropertyFlags required =
        kind == MemoryKind::staging ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT : 0;
    const VkMemoryPropertyFlags preferred =
        kind == MemoryKind::staging ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    int best = -1;
    for (uint32_t i = 0; i < props_.memoryTypeCount; ++i) {
        const auto flags = props_.memoryTypes[i].propertyFlags;
        if (!(allowed_bits & (1u << i)) || (flags & required) != required) continue;
        if (best < 0 || ((flags & preferred) && !(props_.memoryTypes[best].propertyFlags & preferred)))
            best = static_cast<int>(i);
    }
    if (best < 0) throw UnsupportedError("no Vulkan memory type suits a " +
                                         std::string(kind == MemoryKind::staging ? "staging" : "device") + " buffer");
    return static_cast<uint32_t>(best);
}

VkDeviceSize MemoryAllocator::heap_size(MemoryKind kind) const {
    // The heap of the type we would choose for an unrestricted buffer.
    const uint32_t type = memory_type(kind, ~0u);
    return props_.memoryHeaps[props_.memoryTypes[type].heapIndex].size;
}

MemoryBlock& MemoryAllocator::new_block(VkDeviceSize size, MemoryKind kind, bool dedicated) {
    auto block = std::make_unique<MemoryBlock>();
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer buffer = VK_NULL_HANDLE;
    vk_check(vkCreateBuffer(device_, &bi, nullptr, &buffer), "vkCreateBuffer (memory block of " + mib(size) + ")");
    block->buffer = UniqueBuffer(device_, buffer);

    VkMemoryRequirements req{};
    vkGetBufferMemoryRequirements(device_, buffer, &req);
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = memory_type(kind, req.memoryTypeBits);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkResult r = faults_.next(FaultSite::alloc);
    if (r == VK_SUCCESS) r = vkAllocateMemory(device_, &ai, nullptr, &memory);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        throw OutOfMemoryError("vkAllocateMemory of " + mib(req.size) + " for a " +
                                   (kind == MemoryKind::staging ? "staging" : "device") +
                                   " block failed: out of " + (r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host") +
                                   " memory (" + std::to_string(blocks_.size()) + " blocks already allocated)",
                               r == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    vk_check(r, "vkAllocateMemory");
    block->memory = UniqueMemory(device_, memory);
    vk_check(vkBindBufferMemory(device_, buffer, memory, 0), "vkBindBufferMemory");
    if (props_.memoryTypes[ai.memoryTypeIndex].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        void* p = nullptr;
        vk_check(vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
        block->mapped = static_cast<std::byte*>(p);
    }
    block->size = size;
    block->kind = kind;
    block->dedicated = dedicated;
    block->free_ranges[0] = size;
    blocks_.push_back(std::move(block));
    return *blocks_.back();
}

std::shared_ptr<Allocation> MemoryAllocator::allocate(std::shared_ptr<ContextImpl> owner, VkDeviceSize bytes,
                                                      MemoryKind kind) {
    const VkDeviceSize size = align_up(std::max<VkDeviceSize>(bytes, 4), 4);
    const VkDeviceSize heap = heap_size(kind);
    if (size > heap)
        throw OutOfMemoryError("cannot allocate " + mib(size) + ": larger than the whole memory heap (" + mib(heap) + ")",
                               kind == MemoryKind::device);
    if (size > max_allocation_)
        throw OutOfMemoryError("cannot allocate " + mib(size) + ": larger than maxMemoryAllocationSize (" +
                                   mib(max_allocation_) + ")",
                               kind == MemoryKind::device);

    auto take = [&](MemoryBlock& b) -> std::shared_ptr<Allocation> {
        for (auto it = b.free_ranges.begin(); it != b.free_ranges.end(); ++it) {
            const VkDeviceSize start = align_up(it->first, alignment_);
            const VkDeviceSize end = it->first + it->second;
            if (start + size > end) continue;
            const VkDeviceSize range_begin = it->first;
            b.free_ranges.erase(it);
            if (start > range_begin) b.free_ranges[range_begin] = start - range_begin;
            if (start + size < end) b.free_ranges[start + size] = end - (start + size);
            auto a = std::make_shared<Allocation>();
            a->owner = std::move(owner);
            a->block = &b;
            a->offset = start;
            a->size = size;
            return a;
        }
        return nullptr;
    };

    if (size <= block_size_ / 2) {
        for (auto& b : blocks_)
            if (b->kind == kind && !b->dedicated)
                if (auto a = take(*b)) return a;
        return take(new_block(block_size_, kind, false));
    }
    return take(new_block(size, kind, true));  // large tensors get their own block
}

void MemoryAllocator::release(Allocation& a) {
    MemoryBlock& b = *a.block;
    a.block = nullptr;
    VkDeviceSize offset = a.offset, size = a.size;
    auto next = b.free_ranges.lower_bound(offset);
    if (next != b.free_ranges.end() && offset + size == next->first) {
        size += next->second;
        next = b.free_ranges.erase(next);
    }
    if (next != b.free_ranges.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == offset) {
            offset = prev->first;
            size += prev->second;
            b.free_ranges.erase(prev);
        }
    }
    b.free_ranges[offset] = size;
    // Return empty dedicated blocks (and surplus empty shared blocks) to the driver at once.
    if (b.free_ranges.size() == 1 && b.free_ranges.begin()->second == b.size) {
        const auto same_kind_blocks = std::count_if(blocks_.begin(), blocks_.end(), [&](const auto& p) {
            return p->kind == b.kind && !p->dedicated;
        });
        if (b.dedicated || same_kind_blocks > 1)
            blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& p) { return p.get() == &b; }));
    }
}

} // namespace vkhalf::detail
