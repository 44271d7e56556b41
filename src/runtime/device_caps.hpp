#pragma once
// Reading a physical device: what it reports (DeviceCaps) and which extensions and feature bits the
// logical device must enable to use what DeviceCaps says is available.
#include <string>
#include <vector>

#include "runtime/vk.hpp"
#include "vkhalf/device.hpp"

namespace vkhalf::detail {

struct PhysicalDeviceQuery {
    DeviceCaps caps;
    bool has_compute_queue = false;
    uint32_t compute_queue_family = 0;
    uint32_t timestamp_valid_bits = 0;
    bool has_memory_budget = false;
    bool has_portability_subset = false;
    bool has_float16_int8_ext = false;
    bool has_subgroup_size_control_ext = false;
    // The cooperative-matrix shaders use the Vulkan memory model; once it is enabled, every
    // other shader's Device-scope atomics and barriers need its device scope too.
    bool vulkan_memory_model = false;
    bool vulkan_memory_model_device_scope = false;
    uint32_t subgroup_operations = 0;  // VkSubgroupFeatureFlags, when the compute stage has them
};

// Everything the device reports, before quirks, overrides and options.
PhysicalDeviceQuery query_physical_device(VkInstance instance, VkPhysicalDevice pd, uint32_t instance_api);

std::string format_api_version(uint32_t v);

} // namespace vkhalf::detail
