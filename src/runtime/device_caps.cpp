#include "runtime/device_caps.hpp"

#include <algorithm>
#include <cstring>

#include "runtime/check.hpp"

namespace vkhalf::detail {

namespace {

std::vector<std::string> device_extensions(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> props(n);
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, props.data());
    std::vector<std::string> names;
    for (const auto& p : props) names.emplace_back(p.extensionName);
    return names;
}

bool contains(const std::vector<std::string>& v, const char* s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// fp16 x fp16 -> fp32 subgroup-scope shapes, non-saturating: what the GEMM/conv kernels can use.
std::vector<CoopmatShape> query_coopmat_shapes(VkInstance instance, VkPhysicalDevice pd) {
    auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    if (!fn) return {};
    uint32_t n = 0;
    if (fn(pd, &n, nullptr) != VK_SUCCESS) return {};
    std::vector<VkCooperativeMatrixPropertiesKHR> props(n);
    for (auto& p : props) p = {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR};
    if (fn(pd, &n, props.data()) != VK_SUCCESS) return {};
    std::vector<CoopmatShape> shapes;
    for (const auto& p : props) {
        if (p.AType == VK_COMPONENT_TYPE_FLOAT16_KHR && p.BType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
            p.CType == VK_COMPONENT_TYPE_FLOAT32_KHR && p.ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
            p.scope == VK_SCOPE_SUBGROUP_KHR && !p.saturatingAccumulation)
            shapes.push_back({p.MSize, p.NSize, p.KSize});
    }
    return shapes;
}

} // namespace

std::string format_api_version(uint32_t v) {
    return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
           std::to_string(VK_API_VERSION_PATCH(v));
}

PhysicalDeviceQuery query_physical_device(VkInstance instance, VkPhysicalDevice pd, uint32_t instance_api) {
    PhysicalDeviceQuery q;
    DeviceCaps& c = q.caps;
    const auto exts = device_extensions(pd);

    VkPhysicalDeviceProperties base{};
    vkGetPhysicalDeviceProperties(pd, &base);
    const uint32_t api = std::min(base.apiVersion, instance_api);
    const bool v12 = api >= VK_API_VERSION_1_2, v13 = api >= VK_API_VERSION_1_3;
    q.has_float16_int8_ext = contains(exts, "VK_KHR_shader_float16_int8");
    q.has_subgroup_size_control_ext = contains(exts, "VK_EXT_subgroup_size_control");
    q.has_memory_budget = contains(exts, "VK_EXT_memory_budget");
    q.has_portability_subset = contains(exts, "VK_KHR_portability_subset");
    const bool has_driver_props = v12 || contains(exts, "VK_KHR_driver_properties");
    const bool has_float_controls = v12 || contains(exts, "VK_KHR_shader_float_controls");
    const bool has_size_control = v13 || q.has_subgroup_size_control_ext;
    const bool has_coopmat = contains(exts, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    const bool has_coopmat2 = has_coopmat && contains(exts, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
    const bool has_memory_model = v12 || contains(exts, "VK_KHR_vulkan_memory_model");

    // Properties: chain only structures the device's version or extensions define.
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties maint3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceFloatControlsProperties float_controls{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties size_control{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    props.pNext = &subgroup;
    subgroup.pNext = &maint3;
    void** tail = &maint3.pNext;
    if (has_driver_props) { *tail = &driver; tail = &driver.pNext; }
    if (has_float_controls) { *tail = &float_controls; tail = &float_controls.pNext; }
    if (has_size_control) { *tail = &size_control; tail = &size_control.pNext; }
    VkPhysicalDeviceCooperativeMatrixPropertiesKHR coopmat_props{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_KHR};
    if (has_coopmat) { *tail = &coopmat_props; tail = &coopmat_props.pNext; }
    vkGetPhysicalDeviceProperties2(pd, &props);

    // Features, likewise.
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDevice16BitStorageFeatures storage16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures size_control_features{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkanMemoryModelFeatures memory_model{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
    features.pNext = &storage16;
    tail = &storage16.pNext;
    if (v12 || q.has_float16_int8_ext) { *tail = &f16; tail = &f16.pNext; }
    if (has_size_control) { *tail = &size_control_features; tail = &size_control_features.pNext; }
    if (has_memory_model) { *tail = &memory_model; tail = &memory_model.pNext; }
    if (has_coopmat) { *tail = &coopmat; tail = &coopmat.pNext; }
    VkPhysicalDeviceCooperativeMatrix2FeaturesNV coopmat2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
    if (has_coopmat2) { *tail = &coopmat2; tail = &coopmat2.pNext; }
    vkGetPhysicalDeviceFeatures2(pd, &features);

    c.name = base.deviceName;
    c.vendor_id = base.vendorID;
    c.device_id = base.deviceID;
    c.driver_version = base.driverVersion;
    c.api_version = api;
    c.is_cpu = base.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (has_driver_props) {
        c.driver_id = static_cast<uint32_t>(driver.driverID);
        c.driver = std::string(driver.driverName) + " " + driver.driverInfo;
    } else {
        c.driver = "driver version " + std::to_string(base.driverVersion);
    }

    c.storage16 = storage16.storageBuffer16BitAccess == VK_TRUE;
    c.float16_arith = (v12 || q.has_float16_int8_ext) && f16.shaderFloat16 == VK_TRUE;
    c.denorm_preserve_f16 = has_float_controls && float_controls.shaderDenormPreserveFloat16 == VK_TRUE;

    c.subgroup_size = subgroup.subgroupSize;
    if (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) q.subgroup_operations = subgroup.supportedOperations;
    c.subgroup_arithmetic = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                            (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
    c.subgroup_shuffle = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
                        (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
    c.min_subgroup_size = c.max_subgroup_size = subgroup.subgroupSize;
    if (has_size_control && size_control_features.subgroupSizeControl &&
        (size_control.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT)) {
        c.subgroup_size_control = true;
        c.compute_full_subgroups = size_control_features.computeFullSubgroups == VK_TRUE;
        c.min_subgroup_size = size_control.minSubgroupSize;
        c.max_subgroup_size = size_control.maxSubgroupSize;
    }

    const VkPhysicalDeviceLimits& lim = base.limits;
    c.max_shared_memory = lim.maxComputeSharedMemorySize;
    c.max_workgroup_invocations = lim.maxComputeWorkGroupInvocations;
    c.max_workgroup_size_x = lim.maxComputeWorkGroupSize[0];
    for (int i = 0; i < 3; ++i) c.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
    c.max_push_constants = lim.maxPushConstantsSize;
    c.max_storage_buffer_range = lim.maxStorageBufferRange;
    c.max_memory_allocation = maint3.maxMemoryAllocationSize;
    c.min_storage_offset_alignment = lim.minStorageBufferOffsetAlignment;

    VkPhysicalDeviceMemoryProperties mem{};
    vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            c.device_local_heap = std::max<uint64_t>(c.device_local_heap, mem.memoryHeaps[i].size);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> families(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, families.data());
    // Prefer a compute-only family (async compute on discrete GPUs), else any with compute.
    int chosen = -1;
    for (uint32_t i = 0; i < nq; ++i) {
        if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (chosen < 0 || !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) chosen = static_cast<int>(i);
        if (!(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) break;
    }
    if (chosen >= 0) {
        q.has_compute_queue = true;
        q.compute_queue_family = static_cast<uint32_t>(chosen);
        q.timestamp_valid_bits = families[static_cast<uint32_t>(chosen)].timestampValidBits;
    }
    c.timestamps = q.timestamp_valid_bits > 0 && lim.timestampPeriod > 0;
    c.timestamp_period_ns = lim.timestampPeriod;

    q.vulkan_memory_model = has_memory_model && memory_model.vulkanMemoryModel == VK_TRUE;
    q.vulkan_memory_model_device_scope = q.vulkan_memory_model && memory_model.vulkanMemoryModelDeviceScope == VK_TRUE;
    if (has_coopmat) {
        // Every feature gemm_coopmat.comp's SPIR-V declares or relies on, checked one by one: a
        // device that lacks one runs the portable kernels, and says why (vkhalf-info).
        std::vector<std::string> missing;
        if (coopmat.cooperativeMatrix != VK_TRUE) missing.emplace_back("the cooperativeMatrix feature");
        if (!(coopmat_props.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
            missing.emplace_back("the compute stage");
        if (!q.vulkan_memory_model) missing.emplace_back("vulkanMemoryModel");
        if (!q.vulkan_memory_model_device_scope) missing.emplace_back("vulkanMemoryModelDeviceScope");
        if (c.min_subgroup_size != c.max_subgroup_size && !c.subgroup_size_control)
            missing.emplace_back("a fixed subgroup size (subgroupSizeControl)");
        c.coopmat_shapes = query_coopmat_shapes(instance, pd);
        if (c.coopmat_shapes.empty()) missing.emplace_back("an fp16 x fp16 -> fp32 subgroup-scope shape");
        c.coopmat_extension = missing.empty();
        if (!missing.empty()) {
            c.coopmat_shapes.clear();
            c.coopmat_off_reason = "VK_KHR_cooperative_matrix without";
            for (std::size_t i = 0; i < missing.size(); ++i)
                c.coopmat_off_reason += (i == 0 ? " " : i + 1 == missing.size() ? " and " : ", ") + missing[i];
        }
    }
    if (has_coopmat2) {
        c.coopmat2.extension = true;
        c.coopmat2.workgroup_scope = coopmat2.cooperativeMatrixWorkgroupScope == VK_TRUE;
        c.coopmat2.flexible_dimensions = coopmat2.cooperativeMatrixFlexibleDimensions == VK_TRUE;
        c.coopmat2.reductions = coopmat2.cooperativeMatrixReductions == VK_TRUE;
        c.coopmat2.conversions = coopmat2.cooperativeMatrixConversions == VK_TRUE;
        c.coopmat2.per_element_operations = coopmat2.cooperativeMatrixPerElementOperations == VK_TRUE;
        c.coopmat2.tensor_addressing = coopmat2.cooperativeMatrixTensorAddressing == VK_TRUE;
        c.coopmat2.block_loads = coopmat2.cooperativeMatrixBlockLoads == VK_TRUE;
    }
    return q;
}

} // namespace vkhalf::detail
