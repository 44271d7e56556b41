#!/usr/bin/env bash
# Set up, build, and run the whole test suite with the Khronos validation layer on (any validation
# message fails a test). VKHALF_REQUIRE_VALIDATION=1 makes a missing layer an error (CI sets it).
# Extra arguments go to ctest.
#   scripts/run-tests.sh --mesa26   instead: the doctest suites on Mesa 26.1's lavapipe (cooperative
#                                   matrices) in a Debian 13 root, as CI's second stage does
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --mesa26 ]; then
  shift
  VKHALF_WITH_TORCH=1 scripts/setup.sh
  exec scripts/run-mesa26.sh "$@"
fi
VKHALF_WITH_TORCH=1 scripts/setup.sh
cd "${BUILD_DIR:-build}"
exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
