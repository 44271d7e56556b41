#!/usr/bin/env bash
# The main job: set up, build, list the Vulkan devices and check the kernels on the first one
# (a GPU if there is one, else lavapipe). Extra arguments go to vkhalf-info.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${BUILD_DIR:-build}/bin/vkhalf-info" --self-check "$@"
