#pragma once
// RAII for device-owned Vulkan handles: DeviceHandle<VkBuffer, vkDestroyBuffer> destroys its handle
// with the device it was created on. Move-only.
#include <utility>

#include "runtime/vk.hpp"

namespace vkhalf::detail {

template <typename H, auto& destroy>
class DeviceHandle {
public:
    DeviceHandle() = default;
    DeviceHandle(VkDevice device, H handle) : device_(device), handle_(handle) {}
    ~DeviceHandle() { reset(); }
    DeviceHandle(DeviceHandle&& o) noexcept
        : device_(o.device_), handle_(std::exchange(o.handle_, H(VK_NULL_HANDLE))) {}
    DeviceHandle& operator=(DeviceHandle&& o) noexcept {
        if (this != &o) {
            reset();
            device_ = o.device_;
            handle_ = std::exchange(o.handle_, H(VK_NULL_HANDLE));
        }
        return *this;
    }
    DeviceHandle(const DeviceHandle&) = delete;
    DeviceHandle& operator=(const DeviceHandle&) = delete;

    void reset() {
        if (handle_ != H(VK_NULL_HANDLE)) destroy(device_, handle_, nullptr);
        handle_ = H(VK_NULL_HANDLE);
    }
    H get() const { return handle_; }
    const H& get_ref() const { return handle_; }
    explicit operator bool() const { return handle_ != H(VK_NULL_HANDLE); }

private:
    VkDevice device_ = VK_NULL_HANDLE;
    H handle_ = H(VK_NULL_HANDLE);
};

using UniqueBuffer = DeviceHandle<VkBuffer, vkDestroyBuffer>;
using UniqueMemory = DeviceHandle<VkDeviceMemory, vkFreeMemory>;
using UniqueShaderModule = DeviceHandle<VkShaderModule, vkDestroyShaderModule>;
using UniquePipeline = DeviceHandle<VkPipeline, vkDestroyPipeline>;
using UniquePipelineLayout = DeviceHandle<VkPipelineLayout, vkDestroyPipelineLayout>;
using UniqueSetLayout = DeviceHandle<VkDescriptorSetLayout, vkDestroyDescriptorSetLayout>;
using UniqueDescriptorPool = DeviceHandle<VkDescriptorPool, vkDestroyDescriptorPool>;
using UniquePipelineCache = DeviceHandle<VkPipelineCache, vkDestroyPipelineCache>;
using UniqueCommandPool = DeviceHandle<VkCommandPool, vkDestroyCommandPool>;
using UniqueFence = DeviceHandle<VkFence, vkDestroyFence>;
using UniqueQueryPool = DeviceHandle<VkQueryPool, vkDestroyQueryPool>;

} // namespace vkhalf::detail
