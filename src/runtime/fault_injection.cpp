// Test hook (see fault_injection.hpp): parsing VKHALF_FAULT and counting calls per site.
#include "runtime/fault_injection.hpp"

#include <cstdlib>

#include "runtime/check.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr const char* kSiteNames[kFaultSites] = {"alloc", "submit", "wait", "pipeline"};

[[noreturn]] void bad_spec(std::string_view entry, const std::string& why) {
    throw Error("VKHALF_FAULT: '" + std::string(entry) + "' " + why +
                " (expected site:N[:RESULT] with site alloc, submit, wait or pipeline and N >= 1)");
}

// The VkResult whose name vk_result_name() gives, among the results check.cpp names.
VkResult result_named(std::string_view entry, std::string_view name) {
    const VkResult candidates[] = {VK_TIMEOUT,
                                   VK_ERROR_OUT_OF_HOST_MEMORY,
                                   VK_ERROR_OUT_OF_DEVICE_MEMORY,
                                   VK_ERROR_INITIALIZATION_FAILED,
                                   VK_ERROR_DEVICE_LOST,
                                   VK_ERROR_MEMORY_MAP_FAILED,
                                   VK_ERROR_TOO_MANY_OBJECTS,
                                   VK_ERROR_FORMAT_NOT_SUPPORTED,
                                   VK_ERROR_FRAGMENTED_POOL,
                                   VK_ERROR_UNKNOWN,
                                   VK_ERROR_OUT_OF_POOL_MEMORY};
    for (VkResult r : candidates)
        if (name == vk_result_name(r)) return r;
    bad_spec(entry, "names no VkResult error this hook knows");
}

} // namespace

const char* FaultInjector::site_name(FaultSite site) { return kSiteNames[static_cast<std::size_t>(site)]; }

VkResult FaultInjector::default_result(FaultSite site) {
    switch (site) {
    case FaultSite::alloc: return VK_ERROR_OUT_OF_DEVICE_MEMORY;
    case FaultSite::submit:
    case FaultSite::wait: return VK_ERROR_DEVICE_LOST;
    case FaultSite::pipeline: return VK_ERROR_UNKNOWN;
    }
    return VK_ERROR_UNKNOWN;
}

FaultInjector FaultInjector::from_environment() {
    const char* spec = std::getenv("VKHALF_FAULT");
    return parse(spec ? spec : "");
}

FaultInjector FaultInjector::parse(std::string_view spec) {
    FaultInjector f;
    while (!spec.empty()) {
        const std::size_t comma = spec.find(',');
        const std::string_view entry = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        const std::size_t colon = entry.find(':');
        if (colon == std::string_view::npos) bad_spec(entry, "has no ':N'");
        const std::string_view site_text = entry.substr(0, colon);
        std::string_view rest = entry.substr(colon + 1);
        const std::size_t colon2 = rest.find(':');
        const std::string_view n_text = rest.substr(0, colon2);

        std::size_t site = 0;
        while (site < kFaultSites && site_text != kSiteNames[site]) ++site;
        if (site == kFaultSites) bad_spec(entry, "names no fault site");
        uint64_t n = 0;
        for (char c : n_text) {
            if (c < '0' || c > '9' || n > UINT64_MAX / 10 - 1) bad_spec(entry, "has a bad call number");
            n = n * 10 + uint64_t(c - '0');
        }
        if (n_text.empty() || n == 0) bad_spec(entry, "has a bad call number");
        const auto s = static_cast<FaultSite>(site);
        const VkResult r = colon2 == std::string_view::npos ? default_result(s)
                                                            : result_named(entry, rest.substr(colon2 + 1));
        f.arm(s, n, r);
    }
    return f;
}

void FaultInjector::arm(FaultSite site, uint64_t nth, VkResult result) {
    if (nth == 0) throw Error("FaultInjector::arm: call numbers start at 1");
    armed_ = true;
    planned_.push_back({site, calls(site) + nth, result});
}

void FaultInjector::disarm() {
    planned_.clear();
    calls_ = {};
    armed_ = false;
}

VkResult FaultInjector::next_armed(FaultSite site) {
    const uint64_t call = ++calls_[static_cast<std::size_t>(site)];
    for (const Planned& p : planned_)
        if (p.site == site && p.call == call) return p.result;
    return VK_SUCCESS;
}

} // namespace vkhalf::detail
