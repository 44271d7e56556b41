#pragma once
// FaultInjector: a TEST HOOK that makes chosen Vulkan calls of one Context fail the way a driver
// would, so tests can check that each failure becomes its vkhalf::Error, that a trainer saves
// nothing partial, and that a run resumes afterwards. It lives on the Context (no global state):
// armed from the environment when the Context is created, or by white-box tests through arm().
// Unarmed, a guarded call costs one branch.
//
//   VKHALF_FAULT=site:N[:RESULT][,site:N[:RESULT]...]
//     site      the call that fails                       default RESULT
//     alloc     vkAllocateMemory                          VK_ERROR_OUT_OF_DEVICE_MEMORY
//     submit    vkQueueSubmit                             VK_ERROR_DEVICE_LOST
//     wait      vkWaitForFences, vkQueueWaitIdle,         VK_ERROR_DEVICE_LOST
//               vkDeviceWaitIdle
//     pipeline  vkCreateComputePipelines                  VK_ERROR_UNKNOWN
//     N         the N-th call at that site on this Context fails (1: the first); the others run
//     RESULT    a VkResult name overriding the default, e.g. VK_ERROR_OUT_OF_HOST_MEMORY
//
// A failing alloc, submit or pipeline call never reaches the driver. A failing wait waits for
// real first and then reports the fault, so the work a test abandons has finished before its
// buffers are freed.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/vk.hpp"

namespace vkhalf::detail {

enum class FaultSite : uint8_t { alloc, submit, wait, pipeline };
constexpr std::size_t kFaultSites = 4;

class FaultInjector {
public:
    // Unarmed unless VKHALF_FAULT is set; a malformed value is an Error naming the bad entry.
    static FaultInjector from_environment();
    // The VKHALF_FAULT syntax above ("" gives an unarmed injector).
    static FaultInjector parse(std::string_view spec);

    // The nth call at `site` from now on (1: the next one) fails with `result`. Counting starts
    // when the injector is first armed.
    void arm(FaultSite site, uint64_t nth, VkResult result);
    void arm(FaultSite site, uint64_t nth) { arm(site, nth, default_result(site)); }
    void disarm();

    // Called once per guarded Vulkan call: VK_SUCCESS (go ahead), or the result to fail with.
    VkResult next(FaultSite site) { return armed_ ? next_armed(site) : VK_SUCCESS; }

    bool armed() const { return armed_; }
    // Calls seen at `site` while armed.
    uint64_t calls(FaultSite site) const { return calls_[static_cast<std::size_t>(site)]; }

    static VkResult default_result(FaultSite site);
    static const char* site_name(FaultSite site);

private:
    struct Planned {
        FaultSite site;
        uint64_t call;  // absolute call number at the site
        VkResult result;
    };
    VkResult next_armed(FaultSite site);

    std::vector<Planned> planned_;
    std::array<uint64_t, kFaultSites> calls_{};
    bool armed_ = false;
};

} // namespace vkhalf::detail
