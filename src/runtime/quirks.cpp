#include "runtime/quirks.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <string>

#include "runtime/kernel_policy.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr Quirk kQuirks[] = {
    {{std::nullopt, kDriverLlvmpipe}, QuirkAction::prefer_fp32_math,
     "llvmpipe computes fp16 through fp32 conversions (2-3x slower than fp32 math on lavapipe)"},
    {{std::nullopt, kDriverSwiftShader}, QuirkAction::prefer_fp32_math,
     "SwiftShader emulates fp16 arithmetic on the CPU"},
    {{kVendorAmd, kDriverAmdProprietary, nullptr, "RX 7"}, QuirkAction::disable_coopmat,
     "AMD's proprietary driver advertises VK_KHR_cooperative_matrix on GPUs without WMMA units; only "
     "RDNA3 (RX 7000) runs it fast (ggml-vulkan allowlist)"},
    {{kVendorAmd, kDriverAmdOpenSource, nullptr, "RX 7"}, QuirkAction::disable_coopmat,
     "AMDVLK advertises VK_KHR_cooperative_matrix on GPUs without WMMA units (ggml-vulkan allowlist)"},
    {{kVendorIntel, std::nullopt, "Arc(TM) A"}, QuirkAction::disable_coopmat,
     "cooperative matrix on Arc Alchemist (A-series) regresses against the tiled kernel (ggml-vulkan)"},
};

bool env_set(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

void disable_coopmat(DeviceCaps& caps, const std::string& why) {
    if (caps.coopmat_extension) caps.coopmat_off_reason = why;
    caps.coopmat_extension = false;
    caps.coopmat_shapes.clear();
}

std::string shape_text(const CoopmatShape& s) {
    return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

// Keeps only `want` among the listed shapes; one the device does not list is refused.
void restrict_coopmat_shape(DeviceCaps& caps, const CoopmatShape& want, const std::string& source) {
    if (!caps.coopmat_extension) return;  // nothing to choose from: the tier is off anyway
    std::string listed;
    for (const auto& s : caps.coopmat_shapes) {
        if (s.m == want.m && s.n == want.n && s.k == want.k) {
            caps.coopmat_shapes = {s};
            caps.quirks_applied.push_back(source + ": cooperative-matrix shape " + shape_text(want) + " only");
            return;
        }
        listed += " " + shape_text(s);
    }
    throw UnsupportedError(source + ": " + caps.name + " does not list the cooperative-matrix shape " +
                           shape_text(want) + " (listed:" + listed + ")");
}

void apply(DeviceCaps& caps, QuirkAction action) {
    switch (action) {
    case QuirkAction::disable_coopmat: disable_coopmat(caps, "switched off by the quirk table"); break;
    case QuirkAction::disable_float16_arith: caps.float16_arith = false; break;
    case QuirkAction::disable_storage16:
        caps.storage16 = false;
        caps.float16_arith = false;  // f16a needs 16-bit storage too
        break;
    case QuirkAction::prefer_fp32_math: caps.prefer_fp32_math = true; break;
    }
}

} // namespace

std::span<const Quirk> quirk_table() { return kQuirks; }

bool quirk_matches(const Quirk& q, const DeviceCaps& caps) { return device_matches(q.device, caps); }

void apply_quirks(DeviceCaps& caps, std::span<const Quirk> table) {
    for (const Quirk& q : table) {
        if (!quirk_matches(q, caps)) continue;
        apply(caps, q.action);
        caps.quirks_applied.push_back(std::string("quirk: ") + q.reason);
    }
}

void apply_env_overrides(DeviceCaps& caps) {
    if (env_set("VKHALF_DISABLE_COOPMAT")) {
        disable_coopmat(caps, "switched off by VKHALF_DISABLE_COOPMAT");
        caps.quirks_applied.emplace_back("env: VKHALF_DISABLE_COOPMAT");
    }
    if (env_set("VKHALF_DISABLE_F16S")) {
        apply(caps, QuirkAction::disable_storage16);
        caps.quirks_applied.emplace_back("env: VKHALF_DISABLE_F16S (no 16-bit storage: f16s and f16a off)");
    }
    if (env_set("VKHALF_DISABLE_F16A")) {
        caps.float16_arith = false;
        caps.quirks_applied.emplace_back("env: VKHALF_DISABLE_F16A");
    }
    if (const char* v = std::getenv("VKHALF_COOPMAT_SHAPE"); v && *v) {
        CoopmatShape s;
        char tail = 0;
        if (std::sscanf(v, "%ux%ux%u%c", &s.m, &s.n, &s.k, &tail) != 3)
            throw Error(std::string("VKHALF_COOPMAT_SHAPE=") + v + ": expected MxNxK, e.g. 16x16x16");
        restrict_coopmat_shape(caps, s, "env: VKHALF_COOPMAT_SHAPE");
    }
}

void apply_options(DeviceCaps& caps, const DeviceOptions& o) {
    if (o.disable_coopmat) disable_coopmat(caps, "switched off by DeviceOptions::disable_coopmat");
    if (o.coopmat_shape) restrict_coopmat_shape(caps, *o.coopmat_shape, "option");
    if (o.disable_storage16) apply(caps, QuirkAction::disable_storage16);
    if (o.disable_float16_arith) caps.float16_arith = false;
    if (o.max_shared_memory) caps.max_shared_memory = std::min(caps.max_shared_memory, *o.max_shared_memory);
    if (o.max_storage_buffer_range)
        caps.max_storage_buffer_range = std::min(caps.max_storage_buffer_range, *o.max_storage_buffer_range);
    if (o.max_workgroup_count)
        for (auto& c : caps.max_workgroup_count) c = std::min(c, *o.max_workgroup_count);
}

void apply_capability_gates(DeviceCaps& caps, const DeviceOptions& options) {
    if (options.apply_quirks && !env_set("VKHALF_NO_QUIRKS")) apply_quirks(caps, quirk_table());
    apply_env_overrides(caps);
    apply_options(caps, options);
    if (caps.coopmat_extension && !caps.supports(Variant::coopmat) && caps.coopmat_off_reason.empty())
        caps.coopmat_off_reason = "needs 16-bit storage and shaderFloat16, which are off";
    choose_gemm_policy(caps, options.gemm_kernel);
    caps.barrier_free_kernels = options.barrier_free_kernels.value_or(caps.is_cpu);
}

} // namespace vkhalf::detail

namespace vkhalf {

bool DeviceCaps::supports(Variant v) const {
    switch (v) {
    case Variant::f32:
    case Variant::f16p: return true;
    case Variant::f16s: return storage16;
    case Variant::f16a: return storage16 && float16_arith;
    case Variant::coopmat: return coopmat_extension && storage16 && float16_arith && !coopmat_shapes.empty();
    }
    return false;
}

} // namespace vkhalf
