#!/usr/bin/env bash
# Set up, build, and run the whole test suite with the Khronos validation layer on (any validation
# message fails a test). VKHALF_REQUIRE_VALIDATION=1 makes a missing layer an error (CI sets it).
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
VKHALF_WITH_TORCH=1 scripts/setup.sh
cd "${BUILD_DIR:-build}"
exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
