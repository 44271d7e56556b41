#include "runtime/pipeline_cache.hpp"

#include <cstring>

#include "runtime/check.hpp"
#include "runtime/spirv_modules.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

const spirv::Module* find_module(const std::string& name) {
    for (const auto& m : spirv::all_modules())
        if (name == m.name) return &m;
    return nullptr;
}

} // namespace

bool has_spirv_module(const std::string& name) { return find_module(name) != nullptr; }

std::string PipelineDesc::key() const {
    std::string k = module + "|b" + std::to_string(bindings) + "|p" + std::to_string(push_bytes) + "|wg" +
                    std::to_string(workgroup_size);
    for (const auto& [id, value] : spec) k += "|" + std::to_string(id) + "=" + std::to_string(value);
    if (required_subgroup_size) k += "|sg" + std::to_string(required_subgroup_size);
    return full_subgroups ? k + "|full" : k;
}

PipelineCache::PipelineCache(VkDevice device, bool compute_full_subgroups, const EnabledFeatures& enabled,
                             FaultInjector& faults, std::span<const std::byte> initial_data)
    : device_(device), compute_full_subgroups_(compute_full_subgroups), enabled_(enabled), faults_(faults) {
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = initial_data.size();
    ci.pInitialData = initial_data.data();
    VkPipelineCache cache = VK_NULL_HANDLE;
    vk_check(vkCreatePipelineCache(device_, &ci, nullptr, &cache), "vkCreatePipelineCache");
    cache_ = UniquePipelineCache(device_, cache);
}

std::vector<std::byte> PipelineCache::data() const {
    std::size_t bytes = 0;
    vk_check(vkGetPipelineCacheData(device_, cache_.get(), &bytes, nullptr), "vkGetPipelineCacheData");
    std::vector<std::byte> out(bytes);
    // VK_INCOMPLETE would mean it grew in between: nothing else uses the cache meanwhile.
    vk_check(vkGetPipelineCacheData(device_, cache_.get(), &bytes, out.data()), "vkGetPipelineCacheData");
    out.resize(bytes);
    return out;
}

const Pipeline& PipelineCache::get(const PipelineDesc& desc) {
    const std::string key = desc.key();
    if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;

    const spirv::Module* module = find_module(desc.module);
    if (!module) throw UnsupportedError("shader module '" + desc.module + "' is not part of this vkhalf build");
    if (const auto missing = missing_features({module->words, module->word_count}, enabled_); !missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        throw UnsupportedError("shader module '" + desc.module + "' needs " + list +
                               ", which this device was not created with (a tier or kernel it does not support)");
    }

    auto p = std::make_unique<Pipeline>();
    p->desc = desc;
    const StorageBindings declared = storage_bindings({module->words, module->word_count});
    const uint32_t expected = desc.bindings >= 32 ? ~0u : (1u << desc.bindings) - 1u;
    if (declared.declared != expected)
        throw Error("internal: shader module '" + desc.module + "' declares bindings (bit mask " +
                    std::to_string(declared.declared) + ") other than the " + std::to_string(desc.bindings) +
                    " its host side binds");
    p->writable_bindings = declared.writable;
    if (const uint32_t push = push_constant_bytes({module->words, module->word_count}); push != desc.push_bytes)
        throw Error("internal: shader module '" + desc.module + "' has " + std::to_string(push) +
                    " bytes of push constants, its host side pushes " + std::to_string(desc.push_bytes));

    std::vector<VkDescriptorSetLayoutBinding> bindings(desc.bindings);
    for (uint32_t i = 0; i < desc.bindings; ++i)
        bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo sli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    sli.bindingCount = desc.bindings;
    sli.pBindings = bindings.data();
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    vk_check(vkCreateDescriptorSetLayout(device_, &sli, nullptr, &set_layout), "vkCreateDescriptorSetLayout");
    p->set_layout = UniqueSetLayout(device_, set_layout);

    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_bytes};
    VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pli.setLayoutCount = 1;
    pli.pSetLayouts = &set_layout;
    pli.pushConstantRangeCount = desc.push_bytes ? 1 : 0;
    pli.pPushConstantRanges = &range;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    vk_check(vkCreatePipelineLayout(device_, &pli, nullptr, &layout), "vkCreatePipelineLayout");
    p->layout = UniquePipelineLayout(device_, layout);

    VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smi.codeSize = module->word_count * sizeof(uint32_t);
    smi.pCode = module->words;
    VkShaderModule shader = VK_NULL_HANDLE;
    vk_check(vkCreateShaderModule(device_, &smi, nullptr, &shader), "vkCreateShaderModule(" + desc.module + ")");
    UniqueShaderModule shader_owner(device_, shader);

    std::vector<VkSpecializationMapEntry> entries;
    std::vector<uint32_t> values;
    entries.push_back({0, 0, sizeof(uint32_t)});
    values.push_back(desc.workgroup_size);
    for (const auto& [id, value] : desc.spec) {
        entries.push_back({id, static_cast<uint32_t>(values.size() * sizeof(uint32_t)), sizeof(uint32_t)});
        values.push_back(value);
    }
    VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), values.size() * sizeof(uint32_t),
                              values.data()};

    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    // Where the device offers computeFullSubgroups we require whole subgroups; elsewhere the
    // callers use a workgroup that is a multiple of a fixed subgroup size.
    if (desc.full_subgroups && compute_full_subgroups_)
        ci.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo required{
        VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
    if (desc.required_subgroup_size) {
        required.requiredSubgroupSize = desc.required_subgroup_size;
        ci.stage.pNext = &required;
    }
    ci.stage.module = shader;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = &spec;
    ci.layout = layout;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkResult r = faults_.next(FaultSite::pipeline);
    if (r == VK_SUCCESS) r = vkCreateComputePipelines(device_, cache_.get(), 1, &ci, nullptr, &pipeline);
    vk_check(r, "vkCreateComputePipelines(" + desc.module + ")");
    p->pipeline = UniquePipeline(device_, pipeline);

    return *pipelines_.emplace(key, std::move(p)).first->second;
}

} // namespace vkhalf::detail
