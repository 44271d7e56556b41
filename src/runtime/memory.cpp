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
                                 FaultInjector& faults, Report report)
    : device_(device), faults_(faults), report_(std::move(report)) {
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
            if (checking()) {
                b.live_ranges[start] = size;
                check_block(b, "an allocation");
                for (const auto& [id, ranges] : in_use_)
                    for (const UsedRange& u : ranges)
                        if (u.buffer == b.buffer.get() && u.begin < start + size && start < u.end)
                            report_("handed out " + describe(b, start, size) + ", which submission #" +
                                    std::to_string(id) + " still references (it referenced free memory)");
            }
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
    if (checking()) {
        const auto live = b.live_ranges.find(a.offset);
        if (live == b.live_ranges.end() || live->second != a.size) {
            report_("freed " + describe(b, a.offset, a.size) + ", which is not a live range (freed twice?)");
            return;  // returning it would corrupt the free list
        }
        b.live_ranges.erase(live);
        Held held{&b, a.offset, a.size, {}};
        for (const auto& [id, ranges] : in_use_)
            for (const UsedRange& u : ranges)
                if (u.buffer == b.buffer.get() && u.begin < a.offset + a.size && a.offset < u.end) {
                    held.waiting_for.push_back(id);
                    break;
                }
        if (!held.waiting_for.empty()) {
            report_("freed " + describe(b, a.offset, a.size) + " while submission #" +
                    std::to_string(held.waiting_for.front()) +
                    " still references it; it is held back until that submission is waited for");
            held_.push_back(std::move(held));
            return;
        }
    }
    return_range(b, a.offset, a.size);
}

void MemoryAllocator::return_range(MemoryBlock& b, VkDeviceSize offset, VkDeviceSize size) {
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
    if (checking()) check_block(b, "a free");
    // Return empty dedicated blocks (and surplus empty shared blocks) to the driver at once.
    if (b.free_ranges.size() == 1 && b.free_ranges.begin()->second == b.size) {
        const auto same_kind_blocks = std::count_if(blocks_.begin(), blocks_.end(), [&](const auto& p) {
            return p->kind == b.kind && !p->dedicated;
        });
        if (b.dedicated || same_kind_blocks > 1)
            blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& p) { return p.get() == &b; }));
    }
}

uint64_t MemoryAllocator::begin_use(std::vector<UsedRange> ranges) {
    const uint64_t id = next_use_++;
    in_use_.emplace(id, std::move(ranges));
    return id;
}

void MemoryAllocator::end_use(uint64_t id) {
    in_use_.erase(id);
    // Ranges no submission references any more go back to their blocks, one at a time: the
    // others stay held (and counted by the check) until their turn.
    for (Held& h : held_) std::erase(h.waiting_for, id);
    for (auto it = held_.begin(); it != held_.end();) {
        if (!it->waiting_for.empty()) {
            ++it;
            continue;
        }
        const Held h = *it;
        it = held_.erase(it);
        const std::ptrdiff_t at = it - held_.begin();
        return_range(*h.block, h.offset, h.size);
        it = held_.begin() + at;
    }
}

std::string MemoryAllocator::describe(const MemoryBlock& b, VkDeviceSize offset, VkDeviceSize size) const {
    std::size_t index = 0;
    while (index < blocks_.size() && blocks_[index].get() != &b) ++index;
    return "range [" + std::to_string(offset) + ", " + std::to_string(offset + size) + ") of " +
           (b.kind == MemoryKind::staging ? "staging" : "device") + " block " + std::to_string(index) + " (" +
           mib(b.size) + ")";
}

// Live, held-back and free ranges, in offset order, must cover the block exactly once: an overlap
// is memory handed out twice (or free while in use), a gap is memory lost to the allocator.
std::size_t MemoryAllocator::check_block(const MemoryBlock& b, const char* after) {
    std::vector<std::pair<VkDeviceSize, VkDeviceSize>> ranges(b.live_ranges.begin(), b.live_ranges.end());
    ranges.insert(ranges.end(), b.free_ranges.begin(), b.free_ranges.end());
    for (const Held& h : held_)
        if (h.block == &b) ranges.emplace_back(h.offset, h.size);
    std::sort(ranges.begin(), ranges.end());
    std::size_t findings = 0;
    VkDeviceSize at = 0;
    for (const auto& [offset, size] : ranges) {
        if (offset < at) {
            report_(std::string("after ") + after + ": " + describe(b, offset, size) +
                    " overlaps another live or free range (memory handed out twice)");
            ++findings;
        } else if (offset > at) {
            report_(std::string("after ") + after + ": " + describe(b, at, offset - at) +
                    " is neither live nor free (lost)");
            ++findings;
        }
        at = std::max(at, offset + size);
    }
    if (at != b.size) {
        report_(std::string("after ") + after + ": the ranges end at " + std::to_string(at) + ", not at the end of " +
                describe(b, 0, b.size));
        ++findings;
    }
    return findings;
}

std::size_t MemoryAllocator::check_all() {
    std::size_t findings = 0;
    for (const auto& b : blocks_) findings += check_block(*b, "check_all");
    return findings;
}

} // namespace vkhalf::detail
