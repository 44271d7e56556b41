#pragma once
// What an embedded SPIR-V module needs from the device (its OpCapability list, and LocalSizeId),
// checked against what the Context enabled at vkCreateDevice, before the module reaches the
// driver: a module the Context cannot run is an UnsupportedError naming the missing feature,
// never a validation message or undefined behaviour.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vkhalf::detail {

// The features create_device enabled.
struct EnabledFeatures {
    bool storage16 = false;                  // storageBuffer16BitAccess
    bool float16 = false;                    // shaderFloat16
    bool memory_model = false;               // vulkanMemoryModel
    bool memory_model_device_scope = false;  // vulkanMemoryModelDeviceScope
    bool cooperative_matrix = false;         // cooperativeMatrix
    bool maintenance4 = false;               // LocalSizeId
    uint32_t subgroup_operations = 0;        // VkSubgroupFeatureFlags of the compute stage
};

// What the module needs that `enabled` lacks, one readable name each ("shaderFloat16 (Float16)");
// empty when it can run. A capability vkhalf does not know is reported too, so a new shader
// that needs one fails its tests until the Context enables it.
std::vector<std::string> missing_features(std::span<const uint32_t> words, const EnabledFeatures& enabled);

// The storage buffers a module declares, one bit per binding: all of them, and those it may write
// (a block without NonWritable: GLSL's readonly). The hazard tracker must count a writable binding
// as written, whatever a specialised shader does with it, as the synchronization validation does;
// CommandList checks every dispatch against `writable`. Error for a binding past 31.
struct StorageBindings {
    uint32_t declared = 0, writable = 0;
};
StorageBindings storage_bindings(std::span<const uint32_t> words);

// The size in bytes of the module's push-constant block (0: none): its members' offsets plus
// their sizes (scalars, vectors and arrays of them). PipelineCache refuses a host side whose
// push-constant struct has another size, so a field added on one side only fails the first
// dispatch of that kernel (every test that runs it) instead of shifting the fields after it.
uint32_t push_constant_bytes(std::span<const uint32_t> words);

} // namespace vkhalf::detail
