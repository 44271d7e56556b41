// vkhalf-info: every Vulkan device with its capabilities and the kernel variant each op uses.
#include <cstdio>
#include <cstring>
#include <string>

#include <vkhalf/vkhalf.hpp>

#include "self_check.hpp"

namespace {

const char* kHelp = R"(usage: vkhalf-info [--device N] [--self-check] [--help]

Lists every Vulkan device with its capabilities, the quirks and overrides applied, and the
kernel variant each op would use.

  --device N     with --self-check: the device to check (default: VKHALF_DEVICE, else the
                 first GPU, else the first device)
  --self-check   run each first kernel on the device against a CPU reference; exit 1 on failure
  --help         this text

Environment: VKHALF_DEVICE, VKHALF_DISABLE_F16A, VKHALF_DISABLE_F16S, VKHALF_DISABLE_COOPMAT,
VKHALF_NO_QUIRKS, VKHALF_GEMM_KERNEL=regblock|tiled|coopmat (the default GEMM kernel instead of
the device's policy), VKHALF_COOPMAT_SHAPE=MxNxK (one listed cooperative-matrix shape only),
VKHALF_VALIDATION=1, VKHALF_REQUIRE_VALIDATION=1.
)";

std::string mib(uint64_t b) { return std::to_string(b >> 20) + " MiB"; }

void print_device(const vkhalf::DeviceInfo& d) {
    using namespace vkhalf;
    const DeviceCaps& c = d.caps;
    std::printf("device %u: %s%s\n", d.index, c.name.c_str(), c.is_cpu ? " (CPU)" : "");
    std::printf("  driver            %s\n", c.driver.c_str());
    std::printf("  vendor/device     0x%04x / 0x%04x, Vulkan %u.%u.%u\n", c.vendor_id, c.device_id,
                c.api_version >> 22, (c.api_version >> 12) & 0x3ff, c.api_version & 0xfff);
    std::printf("  fp16              storage16=%s float16_arith=%s denorm_preserve=%s prefer_fp32_math=%s\n",
                c.storage16 ? "yes" : "no", c.float16_arith ? "yes" : "no", c.denorm_preserve_f16 ? "yes" : "no",
                c.prefer_fp32_math ? "yes" : "no");
    std::printf("  subgroups         size %u (%u..%u), size control %s, arithmetic %s\n", c.subgroup_size,
                c.min_subgroup_size, c.max_subgroup_size, c.subgroup_size_control ? "yes" : "no",
                c.subgroup_arithmetic ? "yes" : "no");
    std::printf("  workgroups        shared %u B, invocations %u, count %u x %u x %u\n", c.max_shared_memory,
                c.max_workgroup_invocations, c.max_workgroup_count[0], c.max_workgroup_count[1],
                c.max_workgroup_count[2]);
    std::printf("  memory            storage range %s, max allocation %s, device-local heap %s\n",
                mib(c.max_storage_buffer_range).c_str(), mib(c.max_memory_allocation).c_str(),
                mib(c.device_local_heap).c_str());
    std::printf("  timestamps        %s (%.3g ns/tick)\n", c.timestamps ? "yes" : "no", c.timestamp_period_ns);
    std::printf("  coopmat           %s", c.coopmat_extension ? "VK_KHR_cooperative_matrix" : "no");
    for (const auto& s : c.coopmat_shapes) std::printf(" %ux%ux%u", s.m, s.n, s.k);
    if (!c.coopmat_off_reason.empty()) std::printf(" (off: %s)", c.coopmat_off_reason.c_str());
    std::printf("\n");
    if (c.coopmat2.extension) {
        const auto& f = c.coopmat2;
        auto yn = [](bool b) { return b ? "yes" : "no"; };
        std::printf("  coopmat2          VK_NV_cooperative_matrix2 (no vkhalf kernel yet): workgroup_scope=%s "
                    "flexible_dimensions=%s reductions=%s conversions=%s per_element_operations=%s "
                    "tensor_addressing=%s block_loads=%s\n",
                    yn(f.workgroup_scope), yn(f.flexible_dimensions), yn(f.reductions), yn(f.conversions),
                    yn(f.per_element_operations), yn(f.tensor_addressing), yn(f.block_loads));
    } else {
        std::printf("  coopmat2          no\n");
    }
    std::printf("  tiers             f32 f16p%s%s%s\n", c.supports(Variant::f16s) ? " f16s" : "",
                c.supports(Variant::f16a) ? " f16a" : "",
                c.supports(Variant::coopmat) && VKHALF_COOPMAT_SHADERS_BUILT ? " coopmat" : "");
    for (const auto& q : c.quirks_applied) std::printf("  applied           %s\n", q.c_str());
    const auto f16 = std::string(to_string(default_variant(c, DType::f16)));
    std::printf("  op variants       elementwise, sum, bias_grad: f32 | %s;  cast: integer RNE on packed fp16\n",
                f16.c_str());
    // The variant each kernel runs in: coopmat is its own; the portable kernels take f16s for f16
    // inputs when fp16 math is slower (prefer_fp32_math), else the default tier.
    auto kernel_text = [&](GemmKernel k, DType dt) {
        if (k == GemmKernel::coopmat) return std::string("coopmat");
        return std::string(to_string(k)) + "." + std::string(to_string(default_variant(c, dt)));
    };
    std::printf("  gemm              f32: %s | f16: %s\n", kernel_text(c.gemm_f32, DType::f32).c_str(),
                kernel_text(c.gemm_f16, DType::f16).c_str());
    std::printf("  gemm policy       %s\n", c.gemm_policy.c_str());
    std::printf("  barrier-free      %s\n", c.barrier_free_kernels ? "yes: LayerNorm rows per invocation, attention unstaged (CPU device)"
                                                           : "no: LayerNorm rows per workgroup, attention tiles in shared memory");
}
} // namespace

int main(int argc, char** argv) {
    bool self_check = false;
    vkhalf::ContextOptions options;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::fputs(kHelp, stdout);
            return 0;
        } else if (!std::strcmp(argv[i], "--self-check")) {
            self_check = true;
        } else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
            char* end = nullptr;
            const unsigned long v = std::strtoul(argv[++i], &end, 10);
            if (*end) {
                std::fprintf(stderr, "vkhalf-info: --device expects an index, got '%s'\n", argv[i]);
                return 2;
            }
            options.device_index = static_cast<uint32_t>(v);
        } else {
            std::fprintf(stderr, "vkhalf-info: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    try {
        std::printf("vkhalf %s, shaders by %s, cooperative-matrix shaders %s\n", VKHALF_VERSION_STRING,
                    VKHALF_SHADER_COMPILER, VKHALF_COOPMAT_SHADERS_BUILT ? "built" : "not built (compiler too old)");
        const auto devices = vkhalf::list_devices();
        if (devices.empty()) std::printf("no Vulkan devices\n");
        for (const auto& d : devices) print_device(d);
        if (!self_check) return 0;
        vkhalf::Context ctx(options);
        std::printf("self-check on device %u (%s):\n", ctx.device_index(), ctx.caps().name.c_str());
        const int failures = run_self_check(ctx);
        if (ctx.validation_message_count() != 0) {
            std::printf("  validation messages: %zu\n", ctx.validation_message_count());
            return 1;
        }
        std::printf("self-check: %s\n", failures == 0 ? "PASSED" : "FAILED");
        return failures == 0 ? 0 : 1;
    } catch (const vkhalf::Error& e) {
        std::fprintf(stderr, "vkhalf-info: %s\n", e.what());
        return 1;
    }
}
