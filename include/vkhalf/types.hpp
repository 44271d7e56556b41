#pragma once
// Element types of tensors and the precision tiers ("variants") kernels are built in.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vkhalf {

// u32: labels, indices, packed bytes and counters; no arithmetic op accepts it.
enum class DType : uint8_t { f32, f16, u32 };

constexpr std::size_t dtype_size(DType t) { return t == DType::f16 ? 2 : 4; }
constexpr std::string_view to_string(DType t) {
    return t == DType::f32 ? "f32" : t == DType::f16 ? "f16" : "u32";
}

// A kernel variant: how a shader stores and computes. fp16 tensors have one memory layout (little-
// endian halves) for f16p, f16s and f16a alike; only the shader's access differs.
enum class Variant : uint8_t {
    f32,      // fp32 storage, fp32 math
    f16p,     // fp16 packed two per uint, fp32 math: every Vulkan 1.1 device
    f16s,     // 16-bit storage, fp32 math: needs storageBuffer16BitAccess
    f16a,     // 16-bit storage, fp16 math (fp32 accumulators): also needs shaderFloat16
    coopmat,  // VK_KHR_cooperative_matrix, fp16 x fp16 -> fp32 (GEMM and convolution only)
};

constexpr std::string_view to_string(Variant v) {
    switch (v) {
    case Variant::f32: return "f32";
    case Variant::f16p: return "f16p";
    case Variant::f16s: return "f16s";
    case Variant::f16a: return "f16a";
    case Variant::coopmat: return "coopmat";
    }
    return "?";
}

// The GEMM kernels (shaders/gemm_<name>.comp). Which one runs by default is a per-device policy
// (DeviceCaps::gemm_f16 / gemm_f32, printed by vkhalf-info); GemmOptions::kernel forces one.
enum class GemmKernel : uint8_t {
    tiled,     // shared-memory tiles with register micro-tiles: GPUs without cooperative matrices
    regblock,  // register blocks read straight from memory: CPU devices
    coopmat,   // VK_KHR_cooperative_matrix: f16 inputs, devices that list an fp16->fp32 shape
};

constexpr std::string_view to_string(GemmKernel k) {
    switch (k) {
    case GemmKernel::tiled: return "tiled";
    case GemmKernel::regblock: return "regblock";
    case GemmKernel::coopmat: return "coopmat";
    }
    return "?";
}

// The dtype a variant's tensors have.
constexpr DType variant_dtype(Variant v) { return v == Variant::f32 ? DType::f32 : DType::f16; }

} // namespace vkhalf
