#pragma once
// Context: one Vulkan device and everything that lives on it (memory, pipelines, queue).
// Tensors keep their Context alive; a Context is used from one thread at a time.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkhalf/device.hpp"

namespace vkhalf {

enum class Validation {
    off,
    if_available,   // enable VK_LAYER_KHRONOS_validation when installed, else warn and go on
    required,       // fail when the layer is missing
};

struct ContextOptions {
    // Device choice: index, else a case-insensitive name substring, else VKHALF_DEVICE (index or
    // substring), else the first GPU, else the first device.
    std::optional<uint32_t> device_index;
    std::string device_name;
    // Default: VKHALF_REQUIRE_VALIDATION=1 -> required, VKHALF_VALIDATION=1 -> if_available.
    std::optional<Validation> validation;
    bool synchronization_validation = false;  // or VKHALF_SYNC_VALIDATION=1
    DeviceOptions device;
    // Where compiled pipelines are kept between runs: "" for nowhere; default VKHALF_PIPELINE_CACHE_DIR,
    // else $XDG_CACHE_HOME/vkhalf, else ~/.cache/vkhalf (VKHALF_PIPELINE_CACHE=0: nowhere). Loaded
    // when the Context is created, saved when it is destroyed; a bad file is an empty cache.
    std::optional<std::string> pipeline_cache_dir;
    // The memory allocator's self-check (live ranges disjoint after every allocation and free, no
    // range reused while a submission references it; findings count as validation messages).
    // Default: VKHALF_CHECK_ALLOCATOR (1 or 0), else on in the sanitizer build, off otherwise.
    std::optional<bool> check_allocator;
};

namespace detail { struct ContextImpl; }

class Context {
public:
    explicit Context(const ContextOptions& options = {});
    ~Context();
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    const DeviceCaps& caps() const;
    uint32_t device_index() const;

    bool validation_enabled() const;
    // Validation-layer messages (warnings and errors) received since creation or the last clear.
    std::size_t validation_message_count() const;
    std::vector<std::string> validation_messages() const;
    void clear_validation_messages();

    // Blocks until the device is idle.
    void wait_idle();

    // The pipeline cache file ("" when none) and how many bytes of it were loaded (0: none, or
    // the file was missing, foreign or corrupt).
    const std::string& pipeline_cache_path() const;
    std::size_t pipeline_cache_loaded_bytes() const;
    // Writes the pipeline cache file now (the destructor does too); IoError when it cannot.
    void save_pipeline_cache();

    detail::ContextImpl& impl() const { return *impl_; }
    const std::shared_ptr<detail::ContextImpl>& shared_impl() const { return impl_; }

private:
    std::shared_ptr<detail::ContextImpl> impl_;
};

// Every Vulkan device on this machine with its capabilities (quirks and env overrides applied).
std::vector<DeviceInfo> list_devices();

} // namespace vkhalf
