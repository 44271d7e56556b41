#pragma once
// Compute pipelines built from the embedded SPIR-V, one per (module, specialization constants),
// created on first use and kept for the Context's lifetime. All bindings are storage buffers;
// constant_id 0 is always the workgroup size (local_size_x_id = 0).
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/fault_injection.hpp"
#include "runtime/handle.hpp"
#include "runtime/spirv_requirements.hpp"

namespace vkhalf::detail {

struct PipelineDesc {
    std::string module;                                // "<shader>.<variant>"
    uint32_t bindings = 0;                             // storage buffers 0..bindings-1
    uint32_t push_bytes = 0;
    uint32_t workgroup_size = 256;                     // constant_id 0
    std::vector<std::pair<uint32_t, uint32_t>> spec;   // further (constant_id, value) pairs
    bool full_subgroups = false;                       // shader uses gl_SubgroupID: whole subgroups only
    uint32_t required_subgroup_size = 0;               // 0: the driver's choice (needs subgroupSizeControl)

    std::string key() const;
};

struct Pipeline {
    PipelineDesc desc;
    uint32_t writable_bindings = 0;  // bit i: the shader may write binding i (StorageBindings)
    UniqueSetLayout set_layout;
    UniquePipelineLayout layout;
    UniquePipeline pipeline;
};

class PipelineCache {
public:
    // `faults` (the Context's test hook) may fail vkCreateComputePipelines on purpose.
    // initial_data: a previous run's data() for this device (the driver ignores data it does not
    // recognise).
    // `enabled`: what the device was created with; a module that needs more is refused.
    PipelineCache(VkDevice device, bool compute_full_subgroups, const EnabledFeatures& enabled, FaultInjector& faults,
                  std::span<const std::byte> initial_data = {});
    // Throws UnsupportedError when the module is not in this build (e.g. cooperative matrix with
    // an older glslang) or needs a feature the device was not created with (runtime/
    // spirv_requirements.hpp), and VulkanError when the driver rejects it.
    const Pipeline& get(const PipelineDesc& desc);
    std::size_t size() const { return pipelines_.size(); }
    // The driver's serialised cache (vkGetPipelineCacheData).
    std::vector<std::byte> data() const;

private:
    VkDevice device_;
    bool compute_full_subgroups_;
    const EnabledFeatures& enabled_;
    FaultInjector& faults_;
    UniquePipelineCache cache_;
    std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
};

// True when the build embedded this module.
bool has_spirv_module(const std::string& name);

} // namespace vkhalf::detail
