#!/usr/bin/env bash
# The test suite on a second Vulkan implementation: Mesa >= 26.1's lavapipe from Debian 13's
# trixie-backports, which runs VK_KHR_cooperative_matrix on the CPU (one 8x8x8 fp16 -> fp32 shape,
# subgroup size 8) with Vulkan 1.4 and the stricter validation layers 1.4.309. Its packages need
# glibc 2.39, so they live in a Debian 13 root (debootstrap); the binaries built here on Debian 12
# run there unchanged, with the repository (and the build tree) bind-mounted at the same path.
#
#   scripts/run-mesa26.sh           build if needed, prepare the root, run everything below
#   scripts/run-tests.sh --mesa26   the same
#
# What runs inside, with VKHALF_REQUIRE_VALIDATION=1 (any validation message fails):
#   1. every doctest suite (ctest -L doctest), cooperative-matrix cases included (not skipped);
#   2. vkhalf-info --self-check;
#   3. the GEMM, convolution, reduction and cooperative-matrix suites again with
#      LP_NATIVE_VECTOR_WIDTH=128, which makes lavapipe's subgroups 4 wide instead of 8 (kernels must
#      not assume a width);
#   4. the sample MLP and CNN trained with the default kernels and with cooperative-matrix GEMMs
#      forced (VKHALF_GEMM_KERNEL=coopmat): both must reach the same test accuracy within 0.5 points
#      (tests/python/coopmat_accuracy.py).
#
# Needs root (debootstrap, mount, chroot): CI runs as root; elsewhere it goes through sudo.
#   VKHALF_MESA26_ROOT=dir   where the Debian 13 root lives (default /var/tmp/vkhalf-trixie); kept
#                            between runs, so a second run skips the ~2 minute preparation
#   VKHALF_MESA26_QUICK=1    skip steps 3 and 4
#   BUILD_DIR=dir            the build tree to test (default build)
# Extra arguments go to the ctest of step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)
ROOT=${VKHALF_MESA26_ROOT:-/var/tmp/vkhalf-trixie}
started=$(date +%s)

say() { printf '\033[1m[vkhalf mesa26]\033[0m %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root for: $*"; exit 1; fi
}

[ -x "${BUILD_DIR:-build}/bin/vkhalf-tests" ] || scripts/setup.sh
BUILD=$(cd "${BUILD_DIR:-build}" && pwd -P)

# The Debian mirror this machine already uses, never a host written here: the URIs of the stanza
# (deb822) or line (one-line format) that carries the release's main suite.
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""} /Suites:[^\n]*(bookworm|trixie)([ \n]|$)/ && /Components:[^\n]*main/ {
                 if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 ~ /^(bookworm|trixie)$/ { print $2; exit }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { say "no Debian apt source found to derive the mirror from (see /etc/apt/sources.list*)"; exit 1; }
  echo "$uri"
}

PACKAGES=(libvulkan1 vulkan-validationlayers vulkan-tools dataset-fashion-mnist
          cmake python3 zlib1g libgomp1  # cmake: its ctest; python3: the accuracy comparison
          libopenmpi40 libopenblas0-pthread)  # what vkhalf-train and vkhalf-bench link (Open MPI 5 keeps the soname)

prepare_root() {
  if [ -f "$ROOT/.vkhalf-ready" ]; then return 0; fi
  command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local mirror; mirror=$(debian_mirror)
  say "debootstrap trixie into $ROOT (mirror from this machine's apt sources)"
  # A half-made root from an interrupted run: unmount whatever is still mounted inside (the
  # repository is bind-mounted there), then remove it without crossing into another file system.
  local m
  for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do as_root umount -l "$m"; done
  if awk -v r="$ROOT/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    say "something is still mounted under $ROOT; not removing it"; exit 1
  fi
  as_root rm -rf --one-file-system "$ROOT"
  as_root debootstrap --variant=minbase --include=debian-archive-keyring,ca-certificates trixie "$ROOT" "$mirror" \
      >"$BUILD/mesa26-debootstrap.log" 2>&1 || { tail -20 "$BUILD/mesa26-debootstrap.log"; exit 1; }
  as_root tee "$ROOT/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $mirror
Suites: trixie trixie-updates trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  as_root rm -f "$ROOT/etc/apt/sources.list"
  mount_all
  say "installing Mesa from trixie-backports and the Vulkan loader, layers and dataset"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t trixie-backports mesa-vulkan-drivers >/dev/null
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  in_root apt-get clean
  as_root touch "$ROOT/.vkhalf-ready"
}

mounted=()
mount_one() {  # mount_one SOURCE TARGET-INSIDE-ROOT [options]
  local target="$ROOT$2"
  mountpoint -q "$target" && return 0
  as_root mkdir -p "$target"
  as_root mount "${@:3}" "$1" "$target"
  mounted=("$target" "${mounted[@]}")
}
mount_all() {
  mount_one proc /proc -t proc
  mount_one /dev /dev --bind
  mount_one devpts /dev/pts -t devpts  # apt and dpkg want a terminal device
  mount_one "$REPO" "$REPO" --bind
  case "$BUILD/" in "$REPO"/*) ;; *) mount_one "$BUILD" "$BUILD" --bind ;; esac
}
unmount_all() {
  local m
  for m in "${mounted[@]}"; do as_root umount "$m" || as_root umount -l "$m" || true; done
  mounted=()
}
trap unmount_all EXIT

# A clean environment inside the root: the variables a test run needs, nothing of this machine's.
in_root() {
  as_root chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      VKHALF_REQUIRE_VALIDATION=1 "$@"
}

prepare_root
mount_all
mesa=$(in_root dpkg-query -W -f='${Version}' mesa-vulkan-drivers)
say "Mesa $mesa in the Debian 13 root"
if ! in_root dpkg --compare-versions "$mesa" ge 26.1; then
  say "Mesa $mesa is older than 26.1: trixie-backports did not provide it"; exit 1
fi
prep_s=$(( $(date +%s) - started ))

# The suites whose kernels use subgroup operations (GEMM shuffles, reductions, cooperative matrices).
# gemm-tiers (the odd-shape sweep over every tier) passed at width 4 too but takes 3+ minutes, over
# CI's budget: VKHALF_MESA26_NARROW_ALL=1 adds it.
NARROW_SUITES='^(gemm-rest|conv|reduce|coopmat)$'
[ "${VKHALF_MESA26_NARROW_ALL:-0}" = 1 ] && NARROW_SUITES='^(gemm-tiers|gemm-rest|conv|reduce|coopmat)$'
status=0
step() { printf '\n\033[1m[vkhalf mesa26]\033[0m == %s\n' "$*"; }
step "doctest suites"
# VKHALF_EXPECT_COOPMAT=1: a cooperative-matrix case that finds no cooperative matrices fails.
in_root VKHALF_EXPECT_COOPMAT=1 bash -c "cd '$BUILD' && ctest -L doctest --output-on-failure -j \$(nproc) $*" || status=1
step "vkhalf-info --self-check"
in_root "$BUILD/bin/vkhalf-info" --self-check || status=1
if [ "${VKHALF_MESA26_QUICK:-0}" != 1 ]; then
  step "GEMM, convolution and reduction suites with 4-wide subgroups (LP_NATIVE_VECTOR_WIDTH=128)"
  in_root LP_NATIVE_VECTOR_WIDTH=128 "$BUILD/bin/vkhalf-info" | grep -E '^device|subgroups|coopmat |gemm ' || status=1
  in_root LP_NATIVE_VECTOR_WIDTH=128 ctest --test-dir "$BUILD" -R "$NARROW_SUITES" --output-on-failure -j "$(nproc)" || status=1
  step "sample MLP and CNN: default kernels against cooperative-matrix GEMMs"
  in_root python3 "$REPO/tests/python/coopmat_accuracy.py" "$BUILD/bin/vkhalf-train" \
      /usr/share/datasets/fashion-mnist "$BUILD/mesa26-accuracy" || status=1
fi
total=$(( $(date +%s) - started ))
say "Mesa $mesa: $([ $status = 0 ] && echo passed || echo FAILED) in ${total} s (root preparation ${prep_s} s)"
exit $status
