#pragma once
// VkResult -> vkhalf::Error: out-of-memory, device-lost and everything else, naming the call.
#include <string_view>

#include "runtime/vk.hpp"

namespace vkhalf::detail {

const char* vk_result_name(VkResult r);
[[noreturn]] void throw_vk_error(VkResult r, std::string_view call);

inline void vk_check(VkResult r, std::string_view call) {
    if (r != VK_SUCCESS) throw_vk_error(r, call);
}

} // namespace vkhalf::detail
