#pragma once
// What a Vulkan device can do (DeviceCaps), how to make it look smaller (DeviceOptions), and the
// list of devices on this machine.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vkhalf/types.hpp"

namespace vkhalf {

// One cooperative-matrix shape the device lists for fp16 x fp16 -> fp32 at subgroup scope.
struct CoopmatShape {
    uint32_t m = 0, n = 0, k = 0;
};

struct DeviceCaps {
    std::string name;
    std::string driver;            // driver name and info string
    uint32_t vendor_id = 0, device_id = 0, driver_id = 0, driver_version = 0;
    uint32_t api_version = 0;
    bool is_cpu = false;           // VK_PHYSICAL_DEVICE_TYPE_CPU (lavapipe, SwiftShader)

    bool storage16 = false;        // storageBuffer16BitAccess: f16s / f16a tiers
    bool float16_arith = false;    // shaderFloat16: f16a tier
    bool denorm_preserve_f16 = false;
    bool prefer_fp32_math = false; // fp16 math is slower than fp32 here (quirk table)

    uint32_t subgroup_size = 0;
    uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
    bool subgroup_size_control = false;
    bool compute_full_subgroups = false;  // pipelines can require whole subgroups
    bool subgroup_arithmetic = false;
    bool subgroup_shuffle = false;  // compute stage: subgroupShuffle

    uint32_t max_shared_memory = 0;
    uint32_t max_workgroup_invocations = 0;
    uint32_t max_workgroup_size_x = 0;
    uint32_t max_workgroup_count[3] = {0, 0, 0};
    uint32_t max_push_constants = 0;
    uint64_t max_storage_buffer_range = 0;
    uint64_t max_memory_allocation = 0;
    uint64_t min_storage_offset_alignment = 0;
    uint64_t device_local_heap = 0;  // bytes of the largest device-local heap

    bool timestamps = false;
    double timestamp_period_ns = 0;

    bool coopmat_extension = false;     // VK_KHR_cooperative_matrix present (and not switched off)
    std::vector<CoopmatShape> coopmat_shapes;

    std::vector<std::string> quirks_applied;  // one line per quirk or override, with its reason

    // Tiers this device can run (after options, quirks and environment overrides).
    bool supports(Variant v) const;
};

// Switches that make a device look smaller than it is, to test fallbacks (e.g. on lavapipe).
struct DeviceOptions {
    bool disable_storage16 = false;      // no f16s / f16a: fp16 tensors use the packed tier
    bool disable_float16_arith = false;  // no f16a
    bool disable_coopmat = false;
    std::optional<uint32_t> max_shared_memory;
    std::optional<uint64_t> max_storage_buffer_range;
    std::optional<uint32_t> max_workgroup_count;  // per dimension
    bool force_staging = false;          // upload/download through staging even if memory is mappable
    uint64_t staging_buffer_bytes = 16ull << 20;  // transfers larger than this go in chunks
    bool apply_quirks = true;
};

struct DeviceInfo {
    uint32_t index = 0;
    DeviceCaps caps;                     // as the device reports it, quirks and env applied
};

} // namespace vkhalf
