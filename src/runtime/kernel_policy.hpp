#pragma once
// Which GEMM kernel a device runs by default, per input dtype, and why: DeviceCaps::gemm_f16,
// gemm_f32 and gemm_policy. The convolution's lowered products follow the same choice.
#include <optional>

#include "vkhalf/device.hpp"

namespace vkhalf::detail {

// Fills the policy from the gated caps; `forced` (DeviceOptions::gemm_kernel) or else
// VKHALF_GEMM_KERNEL replaces the device-type default, and is an UnsupportedError (or Error, for
// an unknown name) where the device cannot run it.
void choose_gemm_policy(DeviceCaps& caps, std::optional<GemmKernel> forced);

// Whether this device can run kernel k for inputs of dtype dt; when not, `why` says so.
bool gemm_kernel_available(const DeviceCaps& caps, GemmKernel k, DType dt, std::string* why = nullptr);

} // namespace vkhalf::detail
