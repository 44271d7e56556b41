#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/check.hpp"
#include "runtime/context_impl.hpp"
#include "runtime/pipeline_cache_file.hpp"
#include "runtime/quirks.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf {
namespace detail {

namespace {

constexpr uint64_t kDefaultFenceTimeoutS = 600;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string device_list_text(const std::vector<PhysicalDeviceQuery>& qs) {
    std::string s;
    for (std::size_t i = 0; i < qs.size(); ++i) s += "\n  " + std::to_string(i) + ": " + qs[i].caps.name;
    return s.empty() ? " (none)" : s;
}

uint32_t choose_device(const ContextOptions& o, const std::vector<PhysicalDeviceQuery>& qs) {
    if (qs.empty())
        throw UnsupportedError("no Vulkan device found: install a driver (Debian: mesa-vulkan-drivers gives lavapipe)");
    auto by_name = [&](const std::string& needle) -> uint32_t {
        for (std::size_t i = 0; i < qs.size(); ++i)
            if (lower(qs[i].caps.name).find(lower(needle)) != std::string::npos) return static_cast<uint32_t>(i);
        throw UnsupportedError("no Vulkan device name contains '" + needle + "'; devices:" + device_list_text(qs));
    };
    auto by_index = [&](uint64_t i) -> uint32_t {
        if (i >= qs.size())
            throw UnsupportedError("device index " + std::to_string(i) + " is out of range; devices:" +
                                   device_list_text(qs));
        return static_cast<uint32_t>(i);
    };
    if (o.device_index) return by_index(*o.device_index);
    if (!o.device_name.empty()) return by_name(o.device_name);
    if (const char* env = std::getenv("VKHALF_DEVICE"); env && *env) {
        const std::string v = env;
        if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); }))
            return by_index(std::stoull(v));
        return by_name(v);
    }
    for (std::size_t i = 0; i < qs.size(); ++i)
        if (!qs[i].caps.is_cpu) return static_cast<uint32_t>(i);
    return 0;
}

bool check_allocator(const ContextOptions& options) {
    if (options.check_allocator) return *options.check_allocator;
    if (const char* v = std::getenv("VKHALF_CHECK_ALLOCATOR"); v && *v) return std::strcmp(v, "0") != 0;
#ifdef VKHALF_CHECK_ALLOCATOR_DEFAULT
    return true;
#else
    return false;
#endif
}

bool env_flag_value(const char* name, uint64_t& out) {
    const char* v = std::getenv(name);
    if (!v || !*v) return false;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (end == v || *end != '\0') return false;
    out = n;
    return true;
}

VkDevice create_device(const ContextImpl& ctx, EnabledFeatures& enabled) {
    const PhysicalDeviceQuery& q = ctx.query;
    const DeviceCaps& c = ctx.caps;
    const bool v12 = c.api_version >= VK_API_VERSION_1_2, v13 = c.api_version >= VK_API_VERSION_1_3;
    std::vector<const char*> exts;

    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDevice16BitStorageFeatures storage16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures size_control{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkanMemoryModelFeatures memory_model{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
    void** tail = &features.pNext;
    // Only what the (gated) caps allow is enabled, so the validation layer catches any kernel
    // that uses a tier the Context did not choose.
    if (c.storage16) {
        storage16.storageBuffer16BitAccess = VK_TRUE;
        *tail = &storage16;
        tail = &storage16.pNext;
    }
    if (c.float16_arith) {
        f16.shaderFloat16 = VK_TRUE;
        *tail = &f16;
        tail = &f16.pNext;
        if (!v12) exts.push_back("VK_KHR_shader_float16_int8");
    }
    if (c.subgroup_size_control) {
        size_control.subgroupSizeControl = VK_TRUE;
        size_control.computeFullSubgroups = c.compute_full_subgroups ? VK_TRUE : VK_FALSE;
        *tail = &size_control;
        tail = &size_control.pNext;
        if (!v13) exts.push_back("VK_EXT_subgroup_size_control");
    }
    if (c.coopmat_extension) {
        // The query made both a condition of coopmat_extension. Device scope: with the memory
        // model enabled, the other shaders' Device-scope atomics and barriers require it.
        memory_model.vulkanMemoryModel = VK_TRUE;
        memory_model.vulkanMemoryModelDeviceScope = VK_TRUE;
        *tail = &memory_model;
        tail = &memory_model.pNext;
        if (!v12) exts.push_back("VK_KHR_vulkan_memory_model");
        coopmat.cooperativeMatrix = VK_TRUE;
        *tail = &coopmat;
        tail = &coopmat.pNext;
        exts.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    }
    if (q.has_memory_budget) exts.push_back("VK_EXT_memory_budget");
    if (q.has_portability_subset) exts.push_back("VK_KHR_portability_subset");

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = q.compute_queue_family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &priority;

    VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    di.pNext = &features;
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    di.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    di.ppEnabledExtensionNames = exts.data();
    VkDevice device = VK_NULL_HANDLE;
    vk_check(vkCreateDevice(ctx.physical, &di, nullptr, &device), "vkCreateDevice(" + c.name + ")");
    enabled.storage16 = storage16.storageBuffer16BitAccess == VK_TRUE;
    enabled.float16 = f16.shaderFloat16 == VK_TRUE;
    enabled.memory_model = memory_model.vulkanMemoryModel == VK_TRUE;
    enabled.memory_model_device_scope = memory_model.vulkanMemoryModelDeviceScope == VK_TRUE;
    enabled.cooperative_matrix = coopmat.cooperativeMatrix == VK_TRUE;
    enabled.maintenance4 = false;  // no module uses LocalSizeId (cmake/Shaders.cmake)
    enabled.subgroup_operations = q.subgroup_operations;
    return device;
}

} // namespace

ContextImpl::ContextImpl(const ContextOptions& opts) : options(opts) {
    instance = std::make_unique<Instance>(resolve_validation(options.validation), options.synchronization_validation);
    const auto physicals = instance->physical_devices();
    std::vector<PhysicalDeviceQuery> queries;
    for (VkPhysicalDevice pd : physicals) queries.push_back(query_physical_device(instance->get(), pd, instance->api_version()));
    index = choose_device(options, queries);
    physical = physicals[index];
    query = std::move(queries[index]);
    if (!query.has_compute_queue) throw UnsupportedError(caps.name + " has no compute queue");
    if (caps.api_version < VK_API_VERSION_1_1)
        throw UnsupportedError(caps.name + " supports only Vulkan " + format_api_version(caps.api_version) +
                               "; vkhalf needs Vulkan 1.1");
    apply_capability_gates(caps, options.device);
    timestamp_valid_bits = query.timestamp_valid_bits;

    device_owner.adopt(create_device(*this, enabled));
    device = device_owner.get();
    vkGetDeviceQueue(device, query.compute_queue_family, 0, &queue);

    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = query.compute_queue_family;
    VkCommandPool pool = VK_NULL_HANDLE;
    vk_check(vkCreateCommandPool(device, &pi, nullptr, &pool), "vkCreateCommandPool");
    command_pool = UniqueCommandPool(device, pool);
    MemoryAllocator::Report report;
    if (check_allocator(options)) {
        report = [&log = instance->log()](const std::string& finding) {
            std::fprintf(stderr, "vkhalf: allocator check: %s\n", finding.c_str());
            log.add("allocator check: " + finding);
        };
    }
    memory = std::make_unique<MemoryAllocator>(device, physical, caps, faults, std::move(report));
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(physical, &props);
    pipeline_cache_path = pipeline_cache_file(pipeline_cache_dir(options.pipeline_cache_dir), props);
    const std::vector<std::byte> cached = read_pipeline_cache(pipeline_cache_path);
    pipelines = std::make_unique<PipelineCache>(device, caps.compute_full_subgroups, enabled, faults, cached);
    pipeline_cache_loaded = cached.size();

    uint64_t timeout_s = kDefaultFenceTimeoutS;
    env_flag_value("VKHALF_TIMEOUT_S", timeout_s);
    fence_timeout_ns = timeout_s * 1'000'000'000ull;
}

ContextImpl::~ContextImpl() {
    if (device) vkDeviceWaitIdle(device);
    if (pipelines && lost.empty() && pipelines->size() > 0) {
        try {
            write_pipeline_cache(pipeline_cache_path, pipelines->data());
        } catch (const std::exception&) {  // a cache that cannot be saved costs the next run time, nothing else
        }
    }
    staging.reset();
    pipelines.reset();
    memory.reset();
    command_pool.reset();
}

void ContextImpl::throw_if_lost(const char* what) const {
    if (!lost.empty())
        throw DeviceLostError(std::string(what) + ": the device was lost earlier (" + lost +
                              "); recreate the Context (and reload the last checkpoint)");
}

void ContextImpl::check_device(VkResult r, const char* what) {
    if (r == VK_SUCCESS) return;
    try {
        throw_vk_error(r, what);
    } catch (const DeviceLostError& e) {
        lost = e.what();
        throw;
    }
}

void ContextImpl::submit(const VkSubmitInfo& info, VkFence fence) {
    throw_if_lost("vkQueueSubmit");
    VkResult r = faults.next(FaultSite::submit);
    if (r == VK_SUCCESS) r = vkQueueSubmit(queue, 1, &info, fence);
    check_device(r, "vkQueueSubmit");
    ++submissions;
}

void ContextImpl::wait_fence(VkFence fence, const char* what) {
    throw_if_lost(what);
    VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, fence_timeout_ns);
    if (r == VK_TIMEOUT) {
        lost = std::string(what) + ": the device did not finish within " +
               std::to_string(fence_timeout_ns / 1'000'000'000ull) + " s (VKHALF_TIMEOUT_S); treating it as hung";
        throw DeviceLostError(lost);
    }
    if (r == VK_SUCCESS) r = faults.next(FaultSite::wait);
    check_device(r, (std::string(what) + " (vkWaitForFences)").c_str());
}

void ContextImpl::wait_queue_idle(const char* what) {
    throw_if_lost(what);
    VkResult r = vkQueueWaitIdle(queue);
    if (r == VK_SUCCESS) r = faults.next(FaultSite::wait);
    check_device(r, what);
}

void ContextImpl::wait_device_idle(const char* what) {
    throw_if_lost(what);
    VkResult r = vkDeviceWaitIdle(device);
    if (r == VK_SUCCESS) r = faults.next(FaultSite::wait);
    check_device(r, what);
}

Allocation& staging_buffer(ContextImpl& ctx) {
    // No owner: the Context owns its staging buffer (an owner would be a reference cycle).
    if (!ctx.staging) ctx.staging = ctx.memory->allocate(nullptr, std::max<uint64_t>(ctx.options.device.staging_buffer_bytes, 4096), MemoryKind::staging);
    return *ctx.staging;
}

} // namespace detail

Context::Context(const ContextOptions& options) : impl_(std::make_shared<detail::ContextImpl>(options)) {}
Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

const DeviceCaps& Context::caps() const { return impl_->caps; }
uint32_t Context::device_index() const { return impl_->index; }
bool Context::validation_enabled() const { return impl_->instance->validation_enabled(); }
std::size_t Context::validation_message_count() const { return impl_->instance->log().count(); }
std::vector<std::string> Context::validation_messages() const { return impl_->instance->log().messages(); }
void Context::clear_validation_messages() { impl_->instance->log().clear(); }
void Context::wait_idle() { impl_->wait_device_idle("vkDeviceWaitIdle"); }

const std::string& Context::pipeline_cache_path() const { return impl_->pipeline_cache_path; }
std::size_t Context::pipeline_cache_loaded_bytes() const { return impl_->pipeline_cache_loaded; }

void Context::save_pipeline_cache() {
    impl_->throw_if_lost("save_pipeline_cache");
    if (impl_->pipeline_cache_path.empty())
        throw IoError("save_pipeline_cache: no pipeline cache directory (ContextOptions::pipeline_cache_dir is empty, "
                      "VKHALF_PIPELINE_CACHE=0, or neither XDG_CACHE_HOME nor HOME is set)");
    detail::write_pipeline_cache(impl_->pipeline_cache_path, impl_->pipelines->data());
}

std::vector<DeviceInfo> list_devices() {
    detail::Instance instance(Validation::off, false);
    std::vector<DeviceInfo> out;
    const auto physicals = instance.physical_devices();
    for (std::size_t i = 0; i < physicals.size(); ++i) {
        auto q = detail::query_physical_device(instance.get(), physicals[i], instance.api_version());
        try {
            detail::apply_capability_gates(q.caps, DeviceOptions{});
        } catch (const Error& e) {
            // An environment override this device cannot honour (VKHALF_GEMM_KERNEL=coopmat on a
            // device without cooperative matrices, say) fails its Contexts, not the listing.
            q.caps.gemm_policy = std::string("a Context here would fail: ") + e.what();
        }
        out.push_back({static_cast<uint32_t>(i), std::move(q.caps)});
    }
    return out;
}

} // namespace vkhalf
