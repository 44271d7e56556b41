#!/usr/bin/env bash
# Runs each libFuzzer target of the sanitizer build (scripts/run-sanitizers.sh builds it) for a
# bounded time, starting from the seed corpus in tests/fuzz/corpus/<target>/. What libFuzzer learns
# goes to build-asan/fuzz/<target>/corpus (kept between runs: a later run starts where this one
# stopped), crashing inputs to build-asan/fuzz/<target>/. Exit status 1 on the first finding.
#
#   scripts/run-fuzz.sh                          every target, 60 s each (CI)
#   VKHALF_FUZZ_SECONDS=3600 scripts/run-fuzz.sh safetensors
#   VKHALF_FUZZ_ARGS="-fork=2" scripts/run-fuzz.sh   extra libFuzzer flags (-fork=N: N processes)
set -euo pipefail
cd "$(dirname "$0")/.."
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
seconds=${VKHALF_FUZZ_SECONDS:-60}

if [ ! -f "$ASAN_BUILD_DIR/fuzz-targets.txt" ]; then
  echo "no fuzz targets in $ASAN_BUILD_DIR: run scripts/run-sanitizers.sh first (Clang, VKHALF_FUZZ=ON)" >&2
  exit 2
fi
cmake --build "$ASAN_BUILD_DIR" --target vkhalf-fuzzers >/dev/null
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < "$ASAN_BUILD_DIR/fuzz-targets.txt"; fi

for target in "${targets[@]}"; do
  work="$ASAN_BUILD_DIR/fuzz/$target"
  mkdir -p "$work/corpus"
  echo "== fuzz $target for ${seconds} s"
  # -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb: a reader that
  # allocates what a header claims instead of what the file holds shows as an out-of-memory finding.
  # shellcheck disable=SC2086  # VKHALF_FUZZ_ARGS is a list of flags
  if ! "$ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 -artifact_prefix="$work/" ${VKHALF_FUZZ_ARGS:-} \
         "$work/corpus" "tests/fuzz/corpus/$target" > "$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz $target: FOUND A PROBLEM; the input is in $work/ (crash-*, leak-*, timeout-*, oom-*)."
    echo "Fix it, add a test to tests/test_io.cpp and copy the input to tests/fuzz/corpus/$target/regression-<what>."
    exit 1
  fi
  grep -E "^Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$work/log" |
    sed "s/^/  $target: /"
done
