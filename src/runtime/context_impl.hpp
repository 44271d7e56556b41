#pragma once
// ContextImpl: the state behind a Context. Members are declared in construction order and torn
// down in reverse: pipelines and memory before the device, the device before the instance.
#include <memory>
#include <string>

#include "runtime/device_caps.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/handle.hpp"
#include "runtime/instance.hpp"
#include "runtime/memory.hpp"
#include "runtime/pipeline_cache.hpp"
#include "runtime/spirv_requirements.hpp"
#include "vkhalf/context.hpp"

namespace vkhalf::detail {

class DeviceOwner {
public:
    DeviceOwner() = default;
    explicit DeviceOwner(VkDevice d) : device_(d) {}
    ~DeviceOwner() {
        if (device_) vkDestroyDevice(device_, nullptr);
    }
    DeviceOwner(const DeviceOwner&) = delete;
    DeviceOwner& operator=(const DeviceOwner&) = delete;
    VkDevice get() const { return device_; }
    void adopt(VkDevice d) { device_ = d; }

private:
    VkDevice device_ = VK_NULL_HANDLE;
};

struct ContextImpl : std::enable_shared_from_this<ContextImpl> {
    ContextImpl(const ContextOptions& options);
    ~ContextImpl();

    // Waits with a timeout (VKHALF_TIMEOUT_S, default 600 s) so a hung device is reported, not
    // waited on forever.
    void wait_fence(VkFence fence, const char* what);
    // Waits until nothing submitted to the queue runs any more (a replayed Program included).
    void wait_queue_idle(const char* what);
    void wait_device_idle(const char* what);
    void submit(const VkSubmitInfo& info, VkFence fence);

    // A lost device stays lost: once a call reported VK_ERROR_DEVICE_LOST (or a wait timed out),
    // every later submit or wait throws DeviceLostError at once instead of touching the device.
    void throw_if_lost(const char* what) const;
    // vk_check for calls that can report a lost device: remembers the loss before throwing.
    void check_device(VkResult r, const char* what);

    ContextOptions options;
    FaultInjector faults = FaultInjector::from_environment();  // test hook, see fault_injection.hpp
    std::string lost;  // the first device-lost message; empty while the device works
    std::unique_ptr<Instance> instance;
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    uint32_t index = 0;
    PhysicalDeviceQuery query;
    DeviceCaps& caps = query.caps;
    uint32_t timestamp_valid_bits = 0;
    EnabledFeatures enabled;  // what vkCreateDevice enabled: the pipeline cache checks modules against it
    DeviceOwner device_owner;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    UniqueCommandPool command_pool;
    std::unique_ptr<MemoryAllocator> memory;
    std::unique_ptr<PipelineCache> pipelines;
    std::string pipeline_cache_path;     // "" when the cache is not kept on disk
    std::size_t pipeline_cache_loaded = 0;
    std::shared_ptr<Allocation> staging;   // reused for every upload/download through staging
    uint64_t submissions = 0;              // queue submissions so far (tests count them)
    uint64_t fence_timeout_ns = 0;
};

// The staging buffer (DeviceOptions::staging_buffer_bytes), created on first use.
Allocation& staging_buffer(ContextImpl& ctx);

} // namespace vkhalf::detail
