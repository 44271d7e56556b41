#pragma once
// CommandList: records dispatches and copies into one command buffer, inserting a barrier only
// where a buffer range is read after a write, or written after a read or write, since the last
// barrier. Descriptor sets come from the list's own pools and live as long as the list, so a
// recorded list can be submitted again (replayed). Optional per-dispatch GPU timestamps.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/handle.hpp"
#include "runtime/memory.hpp"
#include "runtime/pipeline_cache.hpp"
#include "vkhalf/tensor.hpp"

namespace vkhalf::detail {

struct ContextImpl;

constexpr uint32_t kMaxBindings = 8;  // storage buffers per dispatch

enum class Access : uint8_t { read, write, read_write };

// A byte range of a buffer: what a descriptor binds and what hazards are tracked on.
struct BufferRange {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize offset = 0, size = 0;
};

struct BufferAccess {
    BufferRange range;
    Access access;
};

struct OpTiming {
    std::string label;
    double milliseconds;
};

class CommandList {
public:
    // submit_per_dispatch: the eager way, for comparison: every dispatch gets its own command
    // buffer, and submit() submits and waits for each in turn.
    explicit CommandList(ContextImpl& ctx, bool profile = false, bool submit_per_dispatch = false);
    ~CommandList();
    CommandList(const CommandList&) = delete;
    CommandList& operator=(const CommandList&) = delete;

    // Binds buffers[i] to binding i. `groups` is the total workgroup count; it is spread over a
    // 2-D grid when it exceeds the device's per-dimension limit (shaders use linear_invocation()).
    void dispatch(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                  uint32_t push_bytes, uint64_t groups, std::string label);
    // A 3-D grid as given; LimitError when a dimension exceeds the device's limit.
    void dispatch_grid(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                       uint32_t push_bytes, const uint64_t (&grid)[3], std::string label);
    // A 3-D grid whose x may exceed the device's limit, for kernels whose push constants end with
    // a uint32 they add to gl_WorkGroupID.x (the GEMM and convolution tiles): several dispatches,
    // each told its first x group there. The push block's last four bytes are overwritten.
    void dispatch_tiles(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                        uint32_t push_bytes, const uint64_t (&grid)[3], const std::string& label);
    // Copies `bytes` from the start of src to the start of dst.
    void copy(const BufferRange& src, const BufferRange& dst, VkDeviceSize bytes);

    // Ends recording (once) and submits; a list still running from an earlier submit() is waited
    // for first. Can be called again to replay the same commands.
    void submit();
    // Waits for the last submit() (no-op when nothing is pending).
    void wait();
    void submit_and_wait() {
        submit();
        wait();
    }

    bool pending() const { return pending_; }  // submitted and not yet waited for
    std::size_t dispatch_count() const { return dispatches_; }
    std::size_t barrier_count() const { return barriers_; }
    std::vector<OpTiming> timings() const;  // after submit_and_wait(), when profiling
    // Keeps a temporary (a split-K workspace, say) alive as long as the list can run.
    void keep_alive(Tensor t) { kept_.push_back(std::move(t)); }
    // An op's scratch memory (im2col columns, split-K partials), alive while the list can run and
    // read only by the op that asked: by default a tensor of its own; a compiled Program places
    // every op's workspaces in its memory plan instead (set_workspace_provider).
    using WorkspaceProvider = std::function<Tensor(Shape, DType)>;
    Tensor workspace(Context& ctx, Shape shape, DType dtype);
    void set_workspace_provider(WorkspaceProvider provider) { workspace_provider_ = std::move(provider); }

private:
    struct Range {
        VkBuffer buffer;
        VkDeviceSize begin, end;
    };
    void note_accesses(std::span<const Range> reads, std::span<const Range> writes);
    VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);
    void begin_buffer();
    void end();
    void before_command();  // eager mode: start a new command buffer for each command
    void end_use();         // tells the allocator's self-check the submission is over

    ContextImpl& ctx_;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;   // the one being recorded
    std::vector<VkCommandBuffer> buffers_;   // all of them (one unless submitting per dispatch)
    bool split_ = false;
    bool current_used_ = false;
    UniqueFence fence_;
    std::vector<UniqueDescriptorPool> pools_;
    UniqueQueryPool queries_;
    uint32_t query_capacity_ = 0;
    std::vector<std::string> labels_;
    std::vector<Range> pending_reads_, pending_writes_;
    std::vector<UsedRange> used_;  // every range recorded, for the allocator's self-check
    uint64_t use_ = 0;             // the allocator's id of the submission in flight (self-check)
    uint32_t sets_in_last_pool_ = 0;
    std::size_t dispatches_ = 0, barriers_ = 0;
    std::vector<Tensor> kept_;
    WorkspaceProvider workspace_provider_;
    bool ended_ = false;
    bool pending_ = false;
};

} // namespace vkhalf::detail
