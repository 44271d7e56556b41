#include "runtime/kernel_policy.hpp"

#include <cstdlib>
#include <string>

#include "vkhalf/build_config.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

std::optional<GemmKernel> parse_kernel(const char* text) {
    for (GemmKernel k : {GemmKernel::tiled, GemmKernel::regblock, GemmKernel::coopmat})
        if (to_string(k) == text) return k;
    return std::nullopt;
}

} // namespace

bool gemm_kernel_available(const DeviceCaps& caps, GemmKernel k, DType dt, std::string* why) {
    auto no = [&](std::string text) {
        if (why) *why = std::move(text);
        return false;
    };
    switch (k) {
    case GemmKernel::tiled: return true;
    case GemmKernel::regblock:
        if (!caps.subgroup_shuffle) return no("the regblock kernel needs subgroup shuffle operations, which " + caps.name + " lacks");
        return true;
    case GemmKernel::coopmat:
        if (dt != DType::f16) return no("the coopmat kernel needs f16 inputs");
        if (!VKHALF_COOPMAT_SHADERS_BUILT)
            return no("this build has no cooperative-matrix shaders (its glslang lacks GL_KHR_cooperative_matrix)");
        if (!caps.supports(Variant::coopmat))
            return no(caps.name + " offers no usable VK_KHR_cooperative_matrix (" +
                      (caps.coopmat_off_reason.empty() ? std::string("not listed") : caps.coopmat_off_reason) + ")");
        return true;
    }
    return no("unknown kernel");
}

void choose_gemm_policy(DeviceCaps& caps, std::optional<GemmKernel> forced) {
    std::string source = "DeviceOptions::gemm_kernel";
    if (!forced) {
        if (const char* env = std::getenv("VKHALF_GEMM_KERNEL"); env && *env) {
            forced = parse_kernel(env);
            if (!forced) throw Error(std::string("VKHALF_GEMM_KERNEL=") + env + ": expected regblock, tiled or coopmat");
            source = "VKHALF_GEMM_KERNEL";
        }
    }
    // Measured with vkhalf-bench gemm (docs/performance.md). On lavapipe (a CPU device) every
    // storage-buffer load is a bounds-checked scalar per lane, so the kernel that reads four-wide
    // straight into registers wins by far: at 1024^3 f16, regblock 65-72 GFLOP/s, tiled ~9, and
    // coopmat ~10 (Mesa 26.1 runs the 8x8x8 matrices as scalar loops). GPUs: the shared-memory
    // tiled kernel, or cooperative matrices (tensor cores, WMMA, XMX) for f16 where listed, as
    // ggml-vulkan and ncnn choose; not yet measured on a GPU here.
    const bool cpu = caps.is_cpu;
    const GemmKernel portable = cpu && caps.subgroup_shuffle ? GemmKernel::regblock : GemmKernel::tiled;
    const bool coopmat = gemm_kernel_available(caps, GemmKernel::coopmat, DType::f16);
    caps.gemm_f32 = portable;
    caps.gemm_f16 = !cpu && coopmat ? GemmKernel::coopmat : portable;
    if (cpu)
        caps.gemm_policy = portable == GemmKernel::regblock
                               ? std::string("CPU device: register-blocked kernel, the fastest measured on lavapipe") +
                                     (coopmat ? " (cooperative matrices run there too, several times slower)" : "")
                               : "CPU device without subgroup shuffles: tiled kernel";
    else
        caps.gemm_policy = coopmat ? "GPU with cooperative matrices: coopmat for f16, tiled for f32"
                                   : "GPU: tiled kernel" + std::string(caps.coopmat_off_reason.empty()
                                                                           ? ""
                                                                           : " (coopmat off: " + caps.coopmat_off_reason + ")");
    if (!forced) return;

    std::string why;
    if (!gemm_kernel_available(caps, *forced, *forced == GemmKernel::coopmat ? DType::f16 : DType::f32, &why))
        throw UnsupportedError(source + "=" + std::string(to_string(*forced)) + ": " + why);
    caps.gemm_f16 = *forced;
    if (*forced != GemmKernel::coopmat) caps.gemm_f32 = *forced;  // f32 inputs never run on coopmat
    caps.gemm_policy = source + "=" + std::string(to_string(*forced)) + " (device default: " + caps.gemm_policy + ")";
    caps.quirks_applied.push_back(source + ": GEMM kernel " + std::string(to_string(*forced)));
}

} // namespace vkhalf::detail
