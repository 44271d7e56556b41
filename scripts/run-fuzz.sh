#!/usr/bin/env bash
# Runs each libFuzzer target of the sanitizer build (scripts/run-sanitizers.sh builds it) for a
# bounded time, starting from the seed corpus in tests/fuzz/corpus/<target>/; crashing inputs go
# to build-asan/fuzz/<target>/. Exit status 1 on the first finding.
#
# Two kinds of run:
#   exploratory (default): a random seed, and what libFuzzer learns kept in
#     build-asan/fuzz/<target>/corpus, so a later run starts where this one stopped;
#   reproducible (VKHALF_FUZZ_SEED=fixed, or a number; CI): libFuzzer's -seed fixed per target
#     (derived from its name, or the number given) and printed, a fresh work corpus every run, so
#     CI goes red only for an input that the same seed finds again; VKHALF_FUZZ_RUNS=N bounds the
#     run by executions instead of time, which repeats it input for input.
#
#   scripts/run-fuzz.sh                                   every target, 60 s each, exploratory
#   VKHALF_FUZZ_SEED=fixed scripts/run-fuzz.sh            what CI runs
#   VKHALF_FUZZ_SECONDS=3600 scripts/run-fuzz.sh safetensors
#   VKHALF_FUZZ_ARGS="-fork=2" scripts/run-fuzz.sh        extra libFuzzer flags (-fork=N: N processes)
set -euo pipefail
cd "$(dirname "$0")/.."
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
seconds=${VKHALF_FUZZ_SECONDS:-60}

if [ ! -f "$ASAN_BUILD_DIR/fuzz-targets.txt" ]; then
  echo "no fuzz targets in $ASAN_BUILD_DIR: run scripts/run-sanitizers.sh first (Clang, VKHALF_FUZZ=ON)" >&2
  exit 2
fi
cmake --build "$ASAN_BUILD_DIR" --target vkhalf-fuzzers vkhalf_keep_modules_loaded >/dev/null
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < "$ASAN_BUILD_DIR/fuzz-targets.txt"; fi

# Targets that drive a Vulkan driver: lavapipe's threads allocate and free on their own schedule,
# so libFuzzer's leak check after each input (which runs LeakSanitizer whenever an input ended with
# more mallocs than frees) can catch a driver allocation in flight. It did once, in CI: 49 lavapipe
# allocations "leaked" at one input, which neither the same seed nor the input alone repeated.
# For these, leaks are checked where the driver is idle: at the exit of one process that replays
# every input the run kept or found, with the tests' LeakSanitizer setup (docs/reliability.md).
EXIT_LEAK_CHECK=" capi "

seed_flags() {  # the -seed flag for a target, or nothing (libFuzzer picks one) when exploring
  case "${VKHALF_FUZZ_SEED:-}" in
    "") ;;
    fixed) echo "-seed=$(( $(printf '%s' "$1" | cksum | cut -d' ' -f1) % 2147483647 + 1 ))" ;;
    *[!0-9]*) echo "VKHALF_FUZZ_SEED must be 'fixed' or a number, got '$VKHALF_FUZZ_SEED'" >&2; exit 2 ;;
    *) echo "-seed=$VKHALF_FUZZ_SEED" ;;
  esac
}

for target in "${targets[@]}"; do
  work="$ASAN_BUILD_DIR/fuzz/$target"
  seed=$(seed_flags "$target")
  bound="-max_total_time=$seconds"
  [ -n "${VKHALF_FUZZ_RUNS:-}" ] && bound="-runs=$VKHALF_FUZZ_RUNS"
  if [ -n "$seed" ]; then
    rm -rf "$work/corpus"  # reproducible: start from the seed corpus alone
    echo "== fuzz $target, ${bound#-}, reproducible with $seed (VKHALF_FUZZ_SEED=${VKHALF_FUZZ_SEED})"
  else
    echo "== fuzz $target for ${seconds} s, exploratory (random seed, learned corpus kept)"
  fi
  mkdir -p "$work/corpus"
  leaks=""
  case "$EXIT_LEAK_CHECK" in *" $target "*) leaks="-detect_leaks=0" ;; esac
  # -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb: a reader that
  # allocates what a header claims instead of what the file holds shows as an out-of-memory finding.
  # shellcheck disable=SC2086  # VKHALF_FUZZ_ARGS is a list of flags; $seed and $bound one flag each, or none
  if ! "$ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target" $bound $seed $leaks -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 -artifact_prefix="$work/" ${VKHALF_FUZZ_ARGS:-} \
         "$work/corpus" "tests/fuzz/corpus/$target" > "$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz $target: FOUND A PROBLEM; the input is in $work/ (crash-*, leak-*, timeout-*, oom-*)."
    echo "Fix it, add a test to tests/test_io.cpp and copy the input to tests/fuzz/corpus/$target/regression-<what>."
    exit 1
  fi
  grep -E "^INFO: Seed: |^Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$work/log" |
    sed "s/^/  $target: /"
  if [ -n "$leaks" ]; then
    inputs=("$work"/corpus/* tests/fuzz/corpus/"$target"/*)
    if ! LD_PRELOAD="$ASAN_BUILD_DIR/tests/libvkhalf_keep_modules_loaded.so" ASAN_OPTIONS=detect_leaks=1 \
         LSAN_OPTIONS="suppressions=tests/sanitizers/lsan.supp" \
         "$ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target" "${inputs[@]}" > "$work/leak-check.log" 2>&1; then
      grep -v '^Executed\|^Running' "$work/leak-check.log" | tail -n 60
      echo "fuzz $target: LeakSanitizer at the exit of the replay of ${#inputs[@]} inputs found a leak (log: $work/leak-check.log)."
      exit 1
    fi
    echo "  $target: no leak at the exit of one process replaying all ${#inputs[@]} inputs"
  fi
done
