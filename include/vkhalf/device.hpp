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

// VK_NV_cooperative_matrix2's feature bits, one by one. vkhalf has no coopmat2 kernel yet: these
// are reported (vkhalf-info) so that one is chosen from facts. lavapipe 26.1 lists flexible
// dimensions, conversions, reductions and per-element operations, but not the workgroup scope,
// tensor addressing and block loads that make the extension fast on NVIDIA.
struct Coopmat2Features {
    bool extension = false;  // VK_NV_cooperative_matrix2 listed
    bool workgroup_scope = false, flexible_dimensions = false, reductions = false, conversions = false,
         per_element_operations = false, tensor_addressing = false, block_loads = false;
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

    bool coopmat_extension = false;     // VK_KHR_cooperative_matrix usable (and not switched off)
    std::vector<CoopmatShape> coopmat_shapes;  // the listed fp16 x fp16 -> fp32 subgroup shapes in use
    // Why the coopmat tier is off on a device that lists the extension ("" when it is on, or
    // when the device has no such extension): a missing feature bit, a switch, an option.
    std::string coopmat_off_reason;
    Coopmat2Features coopmat2;

    // The GEMM kernel each input dtype gets by default (GemmOptions::kernel overrides per call;
    // DeviceOptions::gemm_kernel and VKHALF_GEMM_KERNEL per Context), and why.
    GemmKernel gemm_f16 = GemmKernel::tiled, gemm_f32 = GemmKernel::tiled;
    std::string gemm_policy;
    // Kernels that have a form without shared memory and workgroup barriers run it (LayerNorm: one
    // invocation per row, not a workgroup; attention: keys read from memory, not staged in
    // tiles): CPU devices, where a barrier switches between the invocations one core runs and
    // costs more than it saves (DeviceOptions::barrier_free_kernels overrides).
    bool barrier_free_kernels = false;

    std::vector<std::string> quirks_applied;  // one line per quirk or override, with its reason

    // Tiers this device can run (after options, quirks and environment overrides).
    bool supports(Variant v) const;
};

// Switches that make a device look smaller than it is, to test fallbacks (e.g. on lavapipe).
struct DeviceOptions {
    bool disable_storage16 = false;      // no f16s / f16a: fp16 tensors use the packed tier
    bool disable_float16_arith = false;  // no f16a
    bool disable_coopmat = false;
    // Use only this listed cooperative-matrix shape (tests force each listed one in turn); one the
    // device does not list is an UnsupportedError. VKHALF_COOPMAT_SHAPE=MxNxK does the same.
    std::optional<CoopmatShape> coopmat_shape;
    // The default GEMM kernel for every dtype it can run (coopmat: f16 inputs only), instead of
    // the device-type policy; VKHALF_GEMM_KERNEL=regblock|tiled|coopmat does the same. A kernel
    // the device cannot run is an UnsupportedError when the Context is created.
    std::optional<GemmKernel> gemm_kernel;
    // DeviceCaps::barrier_free_kernels instead of the device-type policy (tests run both forms).
    std::optional<bool> barrier_free_kernels;
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
