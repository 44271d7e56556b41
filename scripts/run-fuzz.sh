#!/usr/bin/env bash
# Runs each libFuzzer target of the sanitizer build (scripts/run-sanitizers.sh builds it) for a
# bounded time, starting from the seed corpus in tests/fuzz/corpus/<target>/; crashing inputs go
# to build-asan/fuzz/<target>/. Exit status 1 on the first finding.
#
# Two kinds of run:
#   exploratory (default): a random seed, and what libFuzzer learns kept in
#     build-asan/fuzz/<target>/corpus, so a later run starts where this one stopped;
#   reproducible (VKHALF_FUZZ_SEED=fixed, or a number; CI): the same inputs on every machine.
#     libFuzzer's -seed fixed per target (derived from its name, or the number given) and printed,
#     a fresh work corpus every run, bounded by a count of executions (VKHALF_FUZZ_RUNS, default
#     per target below), never by seconds. What else made two runs of one seed differ is off:
#       - -use_cmp=0: libFuzzer's comparison tracing feeds the operands of comparisons into its
#         mutations, and those include addresses: stack addresses (which move with the size of the
#         environment and the paths given), heap addresses, and the Vulkan driver's handles, which
#         its threads allocate in a timing-dependent order;
#       - address randomisation (setarch -R): the capi target's coverage itself differed between
#         processes under randomised addresses while every call and status matched;
#       - -reload=0 (no re-reading of the corpus directory), and VKHALF_PIPELINE_CACHE=0 (no cache
#         file carried from the last run).
#     So one seed and one count give the same corpus run after run (idx and safetensors in every
#     checkout and environment; capi on one build, whose memory layout its coverage still depends
#     on: docs/reliability.md), and CI goes red only for an input that the same seed finds again.
#     VKHALF_FUZZ_TWICE=1 runs each target twice and fails unless both runs kept the same corpus
#     (CI checks this).
#
#   scripts/run-fuzz.sh                                   every target, 60 s each, exploratory
#   VKHALF_FUZZ_SEED=fixed scripts/run-fuzz.sh            what CI runs (a fixed count per target)
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

# Reproducible runs' default counts: about a minute each on a 2-core CI machine (measured rates:
# idx ~8,000 executions/s, safetensors ~15,000/s, capi ~130-200/s).
default_runs() {
  case "$1" in
    capi) echo 8000 ;;
    idx) echo 400000 ;;
    *) echo 800000 ;;
  esac
}

seed_flags() {  # the -seed flag for a target, or nothing (libFuzzer picks one) when exploring
  case "${VKHALF_FUZZ_SEED:-}" in
    "") ;;
    fixed) echo "-seed=$(( $(printf '%s' "$1" | cksum | cut -d' ' -f1) % 2147483647 + 1 ))" ;;
    *[!0-9]*) echo "VKHALF_FUZZ_SEED must be 'fixed' or a number, got '$VKHALF_FUZZ_SEED'" >&2; exit 2 ;;
    *) echo "-seed=$VKHALF_FUZZ_SEED" ;;
  esac
}

# Address randomisation off for reproducible runs, where the kernel allows it.
norandom=()
if [ -n "${VKHALF_FUZZ_SEED:-}" ]; then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    norandom=(setarch "$(uname -m)" -R)
  else
    echo "run-fuzz: setarch -R is not permitted here: addresses stay randomised and this run may differ from another machine's" >&2
  fi
  export VKHALF_PIPELINE_CACHE=0
fi

corpus_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha1sum) | sha1sum | cut -c1-16; }

fuzz_once() {  # target work-dir: runs libFuzzer once; 1 on a finding
  local target=$1 work=$2 seed bound leaks=""
  seed=$(seed_flags "$target")
  bound="-max_total_time=$seconds"
  if [ -n "$seed" ]; then
    bound="-runs=${VKHALF_FUZZ_RUNS:-$(default_runs "$target")}"
    rm -rf "$work/corpus"  # reproducible: start from the seed corpus alone
    echo "== fuzz $target, ${bound#-}, reproducible with $seed (VKHALF_FUZZ_SEED=${VKHALF_FUZZ_SEED}) -reload=0 -use_cmp=0${norandom:+ under setarch -R}"
    seed="$seed -reload=0 -use_cmp=0"
  else
    [ -n "${VKHALF_FUZZ_RUNS:-}" ] && bound="-runs=$VKHALF_FUZZ_RUNS"
    echo "== fuzz $target, ${bound#-}, exploratory (random seed, learned corpus kept)"
  fi
  mkdir -p "$work/corpus"
  case "$EXIT_LEAK_CHECK" in *" $target "*) leaks="-detect_leaks=0" ;; esac
  # -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb: a reader that
  # allocates what a header claims instead of what the file holds shows as an out-of-memory finding.
  # shellcheck disable=SC2086  # VKHALF_FUZZ_ARGS and $seed are lists of flags; $bound one flag
  if ! "${norandom[@]}" "$ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target" $bound $seed $leaks -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 -artifact_prefix="$work/" ${VKHALF_FUZZ_ARGS:-} \
         "$work/corpus" "tests/fuzz/corpus/$target" > "$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz $target: FOUND A PROBLEM; the input is in $work/ (crash-*, leak-*, timeout-*, oom-*)."
    echo "Fix it, add a test (tests/test_io.cpp, or the suite of what it found) and copy the input to tests/fuzz/corpus/$target/regression-<what>."
    echo "VKHALF_FUZZ_TRACE=1 $ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target <input> prints each call (capi)."
    return 1
  fi
  grep -E "^INFO: Seed: |^Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$work/log" |
    sed "s/^/  $target: /"
  echo "  $target: corpus of $(find "$work/corpus" -type f | wc -l) inputs, hash $(corpus_hash "$work/corpus")"
  if [ -n "$leaks" ]; then
    inputs=("$work"/corpus/* tests/fuzz/corpus/"$target"/*)
    if ! LD_PRELOAD="$ASAN_BUILD_DIR/tests/libvkhalf_keep_modules_loaded.so" ASAN_OPTIONS=detect_leaks=1 \
         LSAN_OPTIONS="suppressions=tests/sanitizers/lsan.supp" \
         "$ASAN_BUILD_DIR/bin/vkhalf-fuzz-$target" "${inputs[@]}" > "$work/leak-check.log" 2>&1; then
      grep -v '^Executed\|^Running' "$work/leak-check.log" | tail -n 60
      echo "fuzz $target: LeakSanitizer at the exit of the replay of ${#inputs[@]} inputs found a leak (log: $work/leak-check.log)."
      return 1
    fi
    echo "  $target: no leak at the exit of one process replaying all ${#inputs[@]} inputs"
  fi
}

for target in "${targets[@]}"; do
  work="$ASAN_BUILD_DIR/fuzz/$target"
  fuzz_once "$target" "$work" || exit 1
  if [ "${VKHALF_FUZZ_TWICE:-0}" != 0 ]; then
    [ -n "${VKHALF_FUZZ_SEED:-}" ] || { echo "VKHALF_FUZZ_TWICE needs VKHALF_FUZZ_SEED" >&2; exit 2; }
    # The same paths as the first run: the corpus directory's name is part of the process's
    # memory layout, which the capi target's coverage is not yet independent of (docs/reliability.md).
    first=$(corpus_hash "$work/corpus")
    rm -rf "$work/corpus-first" && mv "$work/corpus" "$work/corpus-first" && cp "$work/log" "$work/log-first"
    fuzz_once "$target" "$work" || exit 1
    again=$(corpus_hash "$work/corpus")
    if [ "$first" != "$again" ]; then
      echo "fuzz $target: two runs of one seed and count kept different corpora ($first, $again): not reproducible" >&2
      diff <(ls "$work/corpus-first") <(ls "$work/corpus") | head -n 20 >&2
      exit 1
    fi
    echo "  $target: the second run kept the same corpus (reproducible)"
  fi
done
