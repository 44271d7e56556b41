// vkhalf-bench: kernel throughput on a Vulkan device, with a reference measured in the same run.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "bench.hpp"

namespace {

const char* kHelp = R"(usage: vkhalf-bench gemm|conv|train-step|optimizer [options]

gemm   GFLOP/s of every GEMM kernel (regblock, tiled, coopmat) in every tier the device runs, on
       the same square sizes and sample-model layer shapes in the same run. On a CPU device it also
       times OpenBLAS sgemm in the same process and prints the ratio; on a GPU, pass
       --reference-gflops (e.g. from bench/torch_matmul.py). The last line is machine-readable:
       result: bench=gemm device="..." size=N variant=KERNEL.TIER gflops=X regblock_gflops=..
               tiled_gflops=.. coopmat_gflops=.. reference=R reference_gflops=Y ratio=X/Y
       --sweep: instead, every cooperative-matrix tile (workgroup shape) the device can run,
       timed per shape and printed ranked beside the tile the library picks, with the tuning-table
       entry for the winner (sizes default to 1024,4096,8192 on GPUs, 256,1024 on CPU devices,
       plus two MLP layer shapes). Last line:
       result: bench=gemm-sweep device="..." size=N best=TILE gflops=X policy=TILE
               policy_gflops=Y ratio=Y/X
conv   GFLOP/s of the sample CNN's two convolutions (batch 128): forward, data gradient and weight
       gradient, every tier; on a CPU device also OpenBLAS sgemm on the same products lowered to
       GEMM. Last line:
       result: bench=conv device="..." variant=V gflops_fwd=X gflops_bwd_data=Y gflops_bwd_weight=Z ...
train-step
       steps/s of a 784-256-10 MLP training step (batch 128, AdamW, dynamic loss scaling) replayed
       from its recorded graph, against the same step submitted op by op with a host wait after
       each, in the same run; fp16 and fp32.
optimizer
       the fused AdamW step over --params parameters in one flat buffer (fp16 gradients, fp32
       master weights and moments: 28 bytes per parameter): ms per step and GB/s, against a
       device-to-device copy of the same bytes in the same run. Last line:
       result: bench=optimizer device="..." params=N step_ms=T step_gbps=X copy_gbps=Y ratio=X/Y

options:
  --device N              Vulkan device index (default: VKHALF_DEVICE, else the first GPU, else the first)
  --sizes A,B,...         square sizes (default 256,512,1024,2048; 4096 too on GPUs)
  --seconds S             time budget per configuration (default 0.5)
  --no-layers             skip the layer shapes
  --sweep                 gemm: time every cooperative-matrix tile (see above)
  --kernels A,B           gemm: only these of regblock, tiled, coopmat (default: every one the device runs)
  --params N              optimizer: parameter count (default 100000000)
  --reference-gflops X    a reference figure measured elsewhere on this device
  --reference-name NAME   its name (default: torch)
  --help                  this text
)";

std::vector<std::string> split_list(const char* s) {
    std::vector<std::string> out;
    std::string item;
    for (const char* p = s;; ++p) {
        if (*p == ',' || *p == '\0') {
            if (!item.empty()) out.push_back(item);
            item.clear();
            if (*p == '\0') return out;
        } else {
            item += *p;
        }
    }
}

std::vector<int> parse_sizes(const char* s) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::atoi(item.c_str()));
    return out;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::fputs(kHelp, stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string what = argv[1];
    BenchArgs args;
    vkhalf::ContextOptions options;
    for (int i = 2; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (!std::strcmp(argv[i], "--device") && has_value) options.device_index = static_cast<uint32_t>(std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--sizes") && has_value) args.sizes = parse_sizes(argv[++i]);
        else if (!std::strcmp(argv[i], "--seconds") && has_value) args.seconds_per_point = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--no-layers")) args.layers = false;
        else if (!std::strcmp(argv[i], "--sweep")) args.sweep = true;
        else if (!std::strcmp(argv[i], "--kernels") && has_value) args.kernels = split_list(argv[++i]);
        else if (!std::strcmp(argv[i], "--params") && has_value) args.params = std::atoll(argv[++i]);
        else if (!std::strcmp(argv[i], "--reference-gflops") && has_value) args.reference_gflops = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--reference-name") && has_value) args.reference_name = argv[++i];
        else if (!std::strcmp(argv[i], "--help")) { std::fputs(kHelp, stdout); return 0; }
        else { std::fprintf(stderr, "vkhalf-bench: unknown argument '%s' (see --help)\n", argv[i]); return 2; }
    }
    try {
        vkhalf::Context ctx(options);
        if (what == "gemm") return bench_gemm(ctx, args);
        if (what == "train-step") return bench_train_step(ctx, args);
        if (what == "conv") return bench_conv(ctx, args);
        if (what == "optimizer") return bench_optimizer(ctx, args);
        std::fprintf(stderr, "vkhalf-bench: unknown benchmark '%s' (see --help)\n", what.c_str());
        return 2;
    } catch (const vkhalf::Error& e) {
        std::fprintf(stderr, "vkhalf-bench: %s\n", e.what());
        return 1;
    }
}
