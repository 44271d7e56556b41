#include "runtime/check.hpp"

#include <string>

#include "vkhalf/error.hpp"

namespace vkhalf::detail {

const char* vk_result_name(VkResult r) {
    switch (r) {
#define VKHALF_CASE(x) case x: return #x;
    VKHALF_CASE(VK_SUCCESS)
    VKHALF_CASE(VK_NOT_READY)
    VKHALF_CASE(VK_TIMEOUT)
    VKHALF_CASE(VK_INCOMPLETE)
    VKHALF_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    VKHALF_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    VKHALF_CASE(VK_ERROR_INITIALIZATION_FAILED)
    VKHALF_CASE(VK_ERROR_DEVICE_LOST)
    VKHALF_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    VKHALF_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    VKHALF_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    VKHALF_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    VKHALF_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    VKHALF_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    VKHALF_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    VKHALF_CASE(VK_ERROR_FRAGMENTED_POOL)
    VKHALF_CASE(VK_ERROR_UNKNOWN)
    VKHALF_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef VKHALF_CASE
    default: return "VK_ERROR_(unlisted)";
    }
}

void throw_vk_error(VkResult r, std::string_view call) {
    std::string msg = std::string(call) + " failed: " + vk_result_name(r) + " (" + std::to_string(r) + ")";
    switch (r) {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: throw OutOfMemoryError(msg + ": out of device memory", true);
    case VK_ERROR_OUT_OF_HOST_MEMORY: throw OutOfMemoryError(msg + ": out of host memory", false);
    case VK_ERROR_DEVICE_LOST:
        throw DeviceLostError(msg + ": the device was lost; recreate the Context (and reload the last checkpoint)");
    default: throw VulkanError(msg, r);
    }
}

} // namespace vkhalf::detail
