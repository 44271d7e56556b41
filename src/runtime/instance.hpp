#pragma once
// Instance: volk initialisation, the VkInstance (with the validation layer on request) and the
// debug messenger that collects validation messages.
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/vk.hpp"
#include "vkhalf/context.hpp"

namespace vkhalf::detail {

// Validation messages (warnings and errors) the layer reported.
class ValidationLog {
public:
    void add(std::string message);
    std::size_t count() const { return count_.load(); }
    std::vector<std::string> messages() const;
    void clear();

private:
    std::atomic<std::size_t> count_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> messages_;
};

// Validation mode from options and the environment (VKHALF_REQUIRE_VALIDATION, VKHALF_VALIDATION).
Validation resolve_validation(const std::optional<Validation>& requested);

class Instance {
public:
    Instance(Validation validation, bool sync_validation);
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    VkInstance get() const { return instance_; }
    uint32_t api_version() const { return api_version_; }
    bool validation_enabled() const { return validation_; }
    ValidationLog& log() { return log_; }
    std::vector<VkPhysicalDevice> physical_devices() const;

private:
    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    // This instance's own entry point: volk's global vkDestroyDebugUtilsMessengerEXT is whatever the
    // last instance loaded, null when that one had no validation (e.g. list_devices()).
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger_ = nullptr;
    uint32_t api_version_ = VK_API_VERSION_1_1;
    bool validation_ = false;
    ValidationLog log_;
};

} // namespace vkhalf::detail
