#include "runtime/command_list.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "runtime/check.hpp"
#include "runtime/context_impl.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr uint32_t kSetsPerPool = 64;
constexpr uint32_t kMaxTimedDispatches = 1024;
// Every barrier orders compute and transfer work against both: simple, and execution-dependency
// chains never break between a copy and a dispatch.
constexpr VkPipelineStageFlags kWorkStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;

void memory_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags src_access,
                    VkPipelineStageFlags dst, VkAccessFlags dst_access) {
    VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    b.srcAccessMask = src_access;
    b.dstAccessMask = dst_access;
    vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &b, 0, nullptr, 0, nullptr);
}

bool overlaps(VkBuffer buffer, VkDeviceSize begin, VkDeviceSize end, const auto& ranges) {
    return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) {
        return r.buffer == buffer && r.begin < end && begin < r.end;
    });
}

} // namespace

CommandList::CommandList(ContextImpl& ctx, bool profile, bool submit_per_dispatch)
    : ctx_(ctx), split_(submit_per_dispatch) {
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence = VK_NULL_HANDLE;
    vk_check(vkCreateFence(ctx_.device, &fi, nullptr, &fence), "vkCreateFence");
    fence_ = UniqueFence(ctx_.device, fence);
    begin_buffer();

    if (profile && !split_ && ctx_.caps.timestamps) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 2 * kMaxTimedDispatches;
        VkQueryPool pool = VK_NULL_HANDLE;
        vk_check(vkCreateQueryPool(ctx_.device, &qi, nullptr, &pool), "vkCreateQueryPool");
        queries_ = UniqueQueryPool(ctx_.device, pool);
        query_capacity_ = kMaxTimedDispatches;
        vkCmdResetQueryPool(cmd_, pool, 0, qi.queryCount);
    }
}

CommandList::~CommandList() {
    // A list destroyed while its work runs (an exception unwinding, say) must not free what the
    // device still reads: wait, but never throw from here.
    if (pending_) vkWaitForFences(ctx_.device, 1, &fence_.get_ref(), VK_TRUE, ctx_.fence_timeout_ns);
    end_use();
    if (!buffers_.empty())
        vkFreeCommandBuffers(ctx_.device, ctx_.command_pool.get(), uint32_t(buffers_.size()), buffers_.data());
}

void CommandList::begin_buffer() {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = ctx_.command_pool.get();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    vk_check(vkAllocateCommandBuffers(ctx_.device, &ai, &cmd_), "vkAllocateCommandBuffers");
    buffers_.push_back(cmd_);
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vk_check(vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
    // Earlier submissions (and earlier replays of this list) wrote buffers this one may touch.
    memory_barrier(cmd_, kWorkStages, VK_ACCESS_MEMORY_WRITE_BIT, kWorkStages,
                   VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
    current_used_ = false;
    pending_reads_.clear();
    pending_writes_.clear();
}

void CommandList::before_command() {
    if (split_ && current_used_) {
        memory_barrier(cmd_, kWorkStages, VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                       VK_ACCESS_HOST_READ_BIT);
        vk_check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
        begin_buffer();
    }
    current_used_ = true;
}

void CommandList::note_accesses(std::span<const Range> reads, std::span<const Range> writes) {
    bool hazard = false;
    for (const Range& r : reads) hazard = hazard || overlaps(r.buffer, r.begin, r.end, pending_writes_);
    for (const Range& w : writes)
        hazard = hazard || overlaps(w.buffer, w.begin, w.end, pending_writes_) ||
                 overlaps(w.buffer, w.begin, w.end, pending_reads_);
    if (hazard) {
        memory_barrier(cmd_, kWorkStages, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, kWorkStages,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                           VK_ACCESS_TRANSFER_WRITE_BIT);
        ++barriers_;
        pending_reads_.clear();
        pending_writes_.clear();
    }
    pending_reads_.insert(pending_reads_.end(), reads.begin(), reads.end());
    pending_writes_.insert(pending_writes_.end(), writes.begin(), writes.end());
    if (ctx_.memory->checking()) {
        for (const Range& r : reads) used_.push_back({r.buffer, r.begin, r.end});
        for (const Range& w : writes) used_.push_back({w.buffer, w.begin, w.end});
    }
}

VkDescriptorSet CommandList::allocate_set(VkDescriptorSetLayout layout) {
    // Pools are sized so that no allocation can fail for lack of room: a new pool is made when
    // the last one has handed out all its sets (each set has at most kMaxBindings descriptors).
    if (pools_.empty() || sets_in_last_pool_ == kSetsPerPool) {
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
        VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        pi.maxSets = kSetsPerPool;
        pi.poolSizeCount = 1;
        pi.pPoolSizes = &size;
        VkDescriptorPool pool = VK_NULL_HANDLE;
        vk_check(vkCreateDescriptorPool(ctx_.device, &pi, nullptr, &pool), "vkCreateDescriptorPool");
        pools_.emplace_back(ctx_.device, pool);
        sets_in_last_pool_ = 0;
    }
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools_.back().get();
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    vk_check(vkAllocateDescriptorSets(ctx_.device, &ai, &set), "vkAllocateDescriptorSets");
    ++sets_in_last_pool_;
    return set;
}

void CommandList::dispatch(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                           uint32_t push_bytes, uint64_t groups, std::string label) {
    if (groups == 0) return;
    const uint64_t max_x = ctx_.caps.max_workgroup_count[0];
    const uint64_t gx = std::min<uint64_t>(groups, max_x);
    const uint64_t grid[3] = {gx, (groups + gx - 1) / gx, 1};
    dispatch_grid(pipeline, buffers, push, push_bytes, grid, std::move(label));
}

void CommandList::dispatch_grid(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                                uint32_t push_bytes, const uint64_t (&grid)[3], std::string label) {
    if (ended_) throw Error("CommandList: cannot record '" + label + "' after submission");
    if (buffers.size() != pipeline.desc.bindings || buffers.size() > kMaxBindings)
        throw Error("internal: " + label + " binds " + std::to_string(buffers.size()) + " buffers, pipeline expects " +
                    std::to_string(pipeline.desc.bindings));
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return;
    for (int d = 0; d < 3; ++d)
        if (grid[d] > ctx_.caps.max_workgroup_count[d])
            throw LimitError(label + ": " + std::to_string(grid[d]) + " workgroups in dimension " + std::to_string(d) +
                             " exceed the device's limit of " + std::to_string(ctx_.caps.max_workgroup_count[d]));

    std::vector<Range> reads, writes;
    std::vector<VkDescriptorBufferInfo> infos(buffers.size());
    std::vector<VkWriteDescriptorSet> writes_desc(buffers.size());
    const VkDescriptorSet set = allocate_set(pipeline.set_layout.get());
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        const BufferRange& a = buffers[i].range;
        const Range r{a.buffer, a.offset, a.offset + a.size};
        if (buffers[i].access == Access::read && (pipeline.writable_bindings >> i & 1u))
            throw Error("internal: " + label + " binds a tensor as read-only at binding " + std::to_string(i) +
                        ", which the shader declares writable: declare it written, or the hazard tracker and the "
                        "synchronization validation disagree");
        if (buffers[i].access != Access::write) reads.push_back(r);
        if (buffers[i].access != Access::read) writes.push_back(r);
        infos[i] = {a.buffer, a.offset, a.size};
        writes_desc[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes_desc[i].dstSet = set;
        writes_desc[i].dstBinding = static_cast<uint32_t>(i);
        writes_desc[i].descriptorCount = 1;
        writes_desc[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes_desc[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(ctx_.device, static_cast<uint32_t>(writes_desc.size()), writes_desc.data(), 0, nullptr);
    before_command();
    note_accesses(reads, writes);

    const bool timed = queries_ && labels_.size() < query_capacity_;
    const auto q = static_cast<uint32_t>(2 * labels_.size());
    if (timed) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_.get(), q);
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline.get());
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout.get(), 0, 1, &set, 0, nullptr);
    if (push_bytes) vkCmdPushConstants(cmd_, pipeline.layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(cmd_, static_cast<uint32_t>(grid[0]), static_cast<uint32_t>(grid[1]), static_cast<uint32_t>(grid[2]));
    if (timed) {
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), q + 1);
        labels_.push_back(std::move(label));
    }
    ++dispatches_;
}

namespace {
constexpr uint32_t kMaxPushBytes = 128;  // every device's minimum maxPushConstantsSize
} // namespace

void CommandList::dispatch_tiles(const Pipeline& pipeline, std::span<const BufferAccess> buffers, const void* push,
                                 uint32_t push_bytes, const uint64_t (&grid)[3], const std::string& label) {
    if (push_bytes < sizeof(uint32_t) || push_bytes > kMaxPushBytes)
        throw Error("internal: " + label + " has no room for its first x group in its push constants");
    std::array<std::byte, kMaxPushBytes> block{};
    std::memcpy(block.data(), push, push_bytes);
    const uint64_t limit = ctx_.caps.max_workgroup_count[0];
    for (uint64_t x0 = 0; x0 < grid[0]; x0 += limit) {
        const auto first = static_cast<uint32_t>(x0);
        std::memcpy(block.data() + push_bytes - sizeof(first), &first, sizeof(first));
        const uint64_t part[3] = {std::min(limit, grid[0] - x0), grid[1], grid[2]};
        dispatch_grid(pipeline, buffers, block.data(), push_bytes, part, label);
    }
}

void CommandList::copy(const BufferRange& src, const BufferRange& dst, VkDeviceSize bytes) {
    if (ended_) throw Error("CommandList: cannot record a copy after submission");
    if (bytes == 0) return;
    const Range r{src.buffer, src.offset, src.offset + bytes};
    const Range w{dst.buffer, dst.offset, dst.offset + bytes};
    // Overlapping regions are undefined behaviour (the bytes that land depend on the copy engine);
    // callers copy through a staging range or skip a copy onto itself.
    if (src.buffer == dst.buffer && r.begin < w.end && w.begin < r.end)
        throw Error("internal: CommandList::copy between overlapping ranges [" + std::to_string(r.begin) + ", " +
                    std::to_string(r.end) + ") and [" + std::to_string(w.begin) + ", " + std::to_string(w.end) +
                    ") of one buffer");
    before_command();
    note_accesses({&r, 1}, {&w, 1});
    VkBufferCopy region{r.begin, w.begin, bytes};
    vkCmdCopyBuffer(cmd_, src.buffer, dst.buffer, 1, &region);
}

void CommandList::end() {
    if (ended_) return;
    // Make every write available to the host: downloads read mapped memory after the fence.
    memory_barrier(cmd_, kWorkStages, VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    vk_check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    ended_ = true;
}

void CommandList::submit() {
    end();
    wait();  // a command buffer cannot be pending twice
    for (std::size_t i = 0; i < buffers_.size(); ++i) {
        if (i > 0) wait();  // eager mode: the host waits for every op
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &buffers_[i];
        VkFence fence = fence_.get();
        vk_check(vkResetFences(ctx_.device, 1, &fence), "vkResetFences");
        ctx_.submit(si, fence);
        pending_ = true;
        if (ctx_.memory->checking()) use_ = ctx_.memory->begin_use(used_);
    }
}

void CommandList::wait() {
    if (!pending_) return;
    pending_ = false;
    ctx_.wait_fence(fence_.get(), "CommandList::wait");
    end_use();
}

void CommandList::end_use() {
    if (use_ != 0) ctx_.memory->end_use(use_);
    use_ = 0;
}

std::vector<OpTiming> CommandList::timings() const {
    std::vector<OpTiming> out;
    if (!queries_ || labels_.empty()) return out;
    std::vector<uint64_t> ticks(2 * labels_.size());
    vk_check(vkGetQueryPoolResults(ctx_.device, queries_.get(), 0, static_cast<uint32_t>(ticks.size()),
                                   ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
             "vkGetQueryPoolResults");
    const uint32_t bits = ctx_.timestamp_valid_bits;
    const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
    for (std::size_t i = 0; i < labels_.size(); ++i) {
        const uint64_t t = ((ticks[2 * i + 1] & mask) - (ticks[2 * i] & mask)) & mask;
        out.push_back({labels_[i], static_cast<double>(t) * ctx_.caps.timestamp_period_ns * 1e-6});
    }
    return out;
}

Tensor CommandList::workspace(Context& ctx, Shape shape, DType dtype) {
    if (workspace_provider_) return workspace_provider_(std::move(shape), dtype);
    Tensor t = Tensor::empty(ctx, std::move(shape), dtype);
    kept_.push_back(t);
    return t;
}

} // namespace vkhalf::detail
