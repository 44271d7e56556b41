#include "runtime/instance.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/check.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

bool has_layer(const char* name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> layers(n);
    vkEnumerateInstanceLayerProperties(&n, layers.data());
    return std::any_of(layers.begin(), layers.end(),
                       [&](const VkLayerProperties& l) { return std::strcmp(l.layerName, name) == 0; });
}

bool has_instance_extension(const char* name) {
    uint32_t n = 0;
    vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> exts(n);
    vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data());
    return std::any_of(exts.begin(), exts.end(),
                       [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                VkDebugUtilsMessageTypeFlagsEXT type,
                                                const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                void* user) {
    const bool counted = (type & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                  VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT)) != 0 &&
                         severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
    const char* text = data && data->pMessage ? data->pMessage : "(no message)";
    if (counted) {
        std::fprintf(stderr, "vkhalf: validation: %s\n", text);
        static_cast<ValidationLog*>(user)->add(text);
    }
    return VK_FALSE;  // never abort the call: we report, the test fails
}

std::once_flag volk_once;
VkResult volk_result = VK_SUCCESS;

void init_loader() {
    std::call_once(volk_once, [] { volk_result = volkInitialize(); });
    if (volk_result != VK_SUCCESS)
        throw UnsupportedError("no Vulkan loader found (libvulkan.so.1; libvulkan.so on Android; vulkan-1.dll): "
                               "install the Vulkan loader and a driver (Debian: libvulkan1 mesa-vulkan-drivers)");
}

} // namespace

void ValidationLog::add(std::string message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
    ++count_;
}

std::vector<std::string> ValidationLog::messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

void ValidationLog::clear() {
    std::lock_guard lock(mutex_);
    messages_.clear();
    count_ = 0;
}

Validation resolve_validation(const std::optional<Validation>& requested) {
    if (requested) return *requested;
    if (env_flag("VKHALF_REQUIRE_VALIDATION")) return Validation::required;
    if (env_flag("VKHALF_VALIDATION")) return Validation::if_available;
    return Validation::off;
}

Instance::Instance(Validation validation, bool sync_validation) {
    init_loader();
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1)
        throw UnsupportedError("the Vulkan loader supports only Vulkan 1.0; vkhalf needs Vulkan 1.1");
    api_version_ = std::min<uint32_t>(loader_version, VK_API_VERSION_1_3);

    std::vector<const char*> layers;
    std::vector<const char*> extensions;
    if (validation != Validation::off) {
        if (has_layer(kValidationLayer)) {
            validation_ = true;
            layers.push_back(kValidationLayer);
            extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        } else if (validation == Validation::required) {
            throw UnsupportedError(std::string(kValidationLayer) +
                                   " is required (VKHALF_REQUIRE_VALIDATION=1) but not installed "
                                   "(Debian: vulkan-validationlayers)");
        } else {
            std::fprintf(stderr, "vkhalf: warning: %s not installed; running without validation\n",
                         kValidationLayer);
        }
    }
    VkInstanceCreateFlags flags = 0;
    if (has_instance_extension("VK_KHR_portability_enumeration")) {
        extensions.push_back("VK_KHR_portability_enumeration");
        flags |= 0x00000001;  // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR (MoltenVK)
    }

    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "vkhalf";
    app.pEngineName = "vkhalf";
    app.apiVersion = api_version_;

    VkValidationFeatureEnableEXT sync_feature = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = &sync_feature;

    VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                     VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    messenger_info.pfnUserCallback = on_debug_message;
    messenger_info.pUserData = &log_;

    VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    info.flags = flags;
    info.pApplicationInfo = &app;
    info.enabledLayerCount = static_cast<uint32_t>(layers.size());
    info.ppEnabledLayerNames = layers.data();
    info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    if (validation_) {
        // The messenger in pNext also catches messages from vkCreateInstance itself.
        info.pNext = &messenger_info;
        if (sync_validation || env_flag("VKHALF_SYNC_VALIDATION")) {
            features.pNext = &messenger_info;
            info.pNext = &features;
        }
    }
    vk_check(vkCreateInstance(&info, nullptr, &instance_), "vkCreateInstance");
    // Loader trampolines for instance and device functions: they dispatch on the handle, so several
    // instances and devices (tests use two Contexts) can coexist in one process.
    volkLoadInstance(instance_);
    if (validation_) {
        vk_check(vkCreateDebugUtilsMessengerEXT(instance_, &messenger_info, nullptr, &messenger_),
                 "vkCreateDebugUtilsMessengerEXT");
        destroy_messenger_ = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    }
}

Instance::~Instance() {
    if (messenger_ && destroy_messenger_) destroy_messenger_(instance_, messenger_, nullptr);
    if (instance_) vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
    uint32_t n = 0;
    vk_check(vkEnumeratePhysicalDevices(instance_, &n, nullptr), "vkEnumeratePhysicalDevices");
    std::vector<VkPhysicalDevice> devices(n);
    vk_check(vkEnumeratePhysicalDevices(instance_, &n, devices.data()), "vkEnumeratePhysicalDevices");
    devices.resize(n);
    return devices;
}

} // namespace vkhalf::detail
