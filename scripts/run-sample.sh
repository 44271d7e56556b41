#!/usr/bin/env bash
# The main job: set up, build, and train the Fashion-MNIST MLP (fp16, dynamic loss scaling, 10
# epochs) on the first Vulkan device: a GPU if there is one, else lavapipe (about a minute on two
# CPU cores). Arguments go to vkhalf-train (e.g. --model cnn, --epochs 3); see --help.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${BUILD_DIR:-build}/bin/vkhalf-train" --checkpoint "${BUILD_DIR:-build}/train.safetensors" \
    --plot "${BUILD_DIR:-build}/train.svg" --metrics "${BUILD_DIR:-build}/train.csv" "$@"
