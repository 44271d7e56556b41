#pragma once
// Which devices a table entry is for: the key the quirk table (runtime/quirks.hpp) and the GEMM
// tuning table (runtime/gemm_tuning.hpp) share. Every field left empty matches any device.
#include <cstdint>
#include <optional>
#include <string>

#include "vkhalf/device.hpp"

namespace vkhalf::detail {

struct DeviceKey {
    std::optional<uint32_t> vendor_id;
    std::optional<uint32_t> driver_id;             // VkDriverId
    const char* name_contains = nullptr;           // case-sensitive substring of the device name
    const char* unless_name_contains = nullptr;    // entry skipped when the name has this
    std::optional<uint32_t> below_driver_version;  // entry applies to older drivers only
};

inline bool device_matches(const DeviceKey& k, const DeviceCaps& caps) {
    if (k.vendor_id && *k.vendor_id != caps.vendor_id) return false;
    if (k.driver_id && *k.driver_id != caps.driver_id) return false;
    if (k.name_contains && caps.name.find(k.name_contains) == std::string::npos) return false;
    if (k.unless_name_contains && caps.name.find(k.unless_name_contains) != std::string::npos) return false;
    if (k.below_driver_version && caps.driver_version >= *k.below_driver_version) return false;
    return true;
}

// Vendor and driver ids the tables name.
constexpr uint32_t kVendorAmd = 0x1002;
constexpr uint32_t kVendorIntel = 0x8086;
constexpr uint32_t kVendorNvidia = 0x10de;
constexpr uint32_t kDriverAmdProprietary = 1;   // VK_DRIVER_ID_AMD_PROPRIETARY
constexpr uint32_t kDriverAmdOpenSource = 2;    // VK_DRIVER_ID_AMD_OPEN_SOURCE (AMDVLK)
constexpr uint32_t kDriverNvidiaProprietary = 4;  // VK_DRIVER_ID_NVIDIA_PROPRIETARY
constexpr uint32_t kDriverSwiftShader = 10;     // VK_DRIVER_ID_GOOGLE_SWIFTSHADER
constexpr uint32_t kDriverLlvmpipe = 13;        // VK_DRIVER_ID_MESA_LLVMPIPE

} // namespace vkhalf::detail
