#pragma once
// MemoryAllocator: sub-allocates buffers from large blocks (one VkDeviceMemory and one VkBuffer
// spanning it), so a tensor costs no vkAllocateMemory. Each Allocation is a range of a block's
// buffer, aligned for storage-buffer descriptors and vec4 loads. A block holds one MemoryKind:
// staging and device ranges never share one, even where the memory types coincide (lavapipe).
//
// Self-check (ContextOptions::check_allocator, VKHALF_CHECK_ALLOCATOR=1; on by default in the
// sanitizer build): after every allocation and free, a block's live and free ranges must tile it
// exactly (no range handed out twice, none lost); a free of a range that is not live is reported;
// and a range freed while a submitted command list still references it is reported and held back
// until that submission is waited for, so it is never handed out under the device's feet. Each
// finding goes to the Context's validation log, which fails tests and fuzz inputs like a
// validation-layer message.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
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
    std::map<VkDeviceSize, VkDeviceSize> live_ranges;  // offset -> size; kept only by the self-check
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

// A range of a buffer a submitted command list reads or writes.
struct UsedRange {
    VkBuffer buffer;
    VkDeviceSize begin, end;
};

class MemoryAllocator {
public:
    using Report = std::function<void(const std::string&)>;
    // `faults` (the Context's test hook) may fail vkAllocateMemory on purpose. `report` receives
    // the self-check's findings; an empty one turns the self-check off.
    MemoryAllocator(VkDevice device, VkPhysicalDevice physical, const DeviceCaps& caps, FaultInjector& faults,
                    Report report = {});
    ~MemoryAllocator();
    MemoryAllocator(const MemoryAllocator&) = delete;
    MemoryAllocator& operator=(const MemoryAllocator&) = delete;

    // Throws OutOfMemoryError when the request exceeds the heap or the device runs out.
    std::shared_ptr<Allocation> allocate(std::shared_ptr<ContextImpl> owner, VkDeviceSize bytes, MemoryKind kind);
    void release(Allocation& a);

    std::size_t block_count() const { return blocks_.size(); }
    VkDeviceSize heap_size(MemoryKind kind) const;

    // The self-check's view of submissions (CommandList::submit and wait call these when
    // checking() is on): what the list touches is in use from submit until its wait.
    bool checking() const { return static_cast<bool>(report_); }
    uint64_t begin_use(std::vector<UsedRange> ranges);
    void end_use(uint64_t id);
    // Checks every block now; returns the number of findings (each also reported). For tests.
    std::size_t check_all();
    const std::vector<std::unique_ptr<MemoryBlock>>& blocks() const { return blocks_; }  // for tests
    std::size_t held_back() const { return held_.size(); }  // ranges waiting for a submission

private:
    struct Held {  // a range freed while submissions referenced it
        MemoryBlock* block;
        VkDeviceSize offset, size;
        std::vector<uint64_t> waiting_for;
    };
    MemoryBlock& new_block(VkDeviceSize size, MemoryKind kind, bool dedicated);
    uint32_t memory_type(MemoryKind kind, uint32_t allowed_bits) const;
    void return_range(MemoryBlock& b, VkDeviceSize offset, VkDeviceSize size);
    std::size_t check_block(const MemoryBlock& b, const char* after);
    std::string describe(const MemoryBlock& b, VkDeviceSize offset, VkDeviceSize size) const;

    VkDevice device_;
    FaultInjector& faults_;
    VkPhysicalDeviceMemoryProperties props_{};
    VkDeviceSize alignment_;
    VkDeviceSize block_size_;
    VkDeviceSize max_allocation_;
    std::vector<std::unique_ptr<MemoryBlock>> blocks_;
    Report report_;
    uint64_t next_use_ = 1;
    std::map<uint64_t, std::vector<UsedRange>> in_use_;
    std::vector<Held> held_;
};

} // namespace vkhalf::detail
