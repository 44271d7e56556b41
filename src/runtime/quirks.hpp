#pragma once
// Capability gates after the device's own report, in this order:
//   1. the quirk table (known driver problems, keyed on vendor, driver and device name),
//   2. environment overrides (VKHALF_DISABLE_F16A, VKHALF_DISABLE_F16S, VKHALF_DISABLE_COOPMAT,
//      VKHALF_NO_QUIRKS), which can only switch features off,
//   3. DeviceOptions, which make the device look smaller for tests.
//   4. the GEMM kernel policy (runtime/kernel_policy.hpp), after all of the above.
// Each change is recorded in caps.quirks_applied with its reason.
#include <cstdint>
#include <optional>
#include <span>

#include "runtime/device_key.hpp"
#include "vkhalf/device.hpp"

namespace vkhalf::detail {

enum class QuirkAction : uint8_t {
    disable_coopmat,
    disable_float16_arith,
    disable_storage16,
    prefer_fp32_math,
};

struct Quirk {
    DeviceKey device;
    QuirkAction action;
    const char* reason;
};

std::span<const Quirk> quirk_table();
bool quirk_matches(const Quirk& q, const DeviceCaps& caps);

void apply_quirks(DeviceCaps& caps, std::span<const Quirk> table);
void apply_env_overrides(DeviceCaps& caps);
void apply_options(DeviceCaps& caps, const DeviceOptions& options);

// All three, as a Context does.
void apply_capability_gates(DeviceCaps& caps, const DeviceOptions& options);

} // namespace vkhalf::detail
