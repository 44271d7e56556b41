#!/usr/bin/env bash
# Cross-builds vkhalf for aarch64 Linux with Debian's cross toolchain, then runs the test suites
# under qemu-aarch64 (user-mode emulation) on arm64 lavapipe with the arm64 Khronos validation
# layer. This is the closest a machine without an arm64 CPU gets to a phone: the same aarch64 code,
# an arm64 Vulkan loader, driver and layer in the process, and no x86 anywhere in it. It is not a
# phone: no Android loader, no bionic, no mobile GPU driver (docs/android.md).
#
#   scripts/cross-aarch64.sh             install what is missing (Debian 12), configure build-aarch64/
#                                        (CMake preset aarch64-linux), build, run the tests
#   scripts/cross-aarch64.sh -R gemm     extra arguments go to ctest instead of the default selection
#   VKHALF_SKIP_INSTALL=1                install nothing
#
# Installs, through sudo when not root: the host tools of scripts/setup.sh, the arm64 architecture
# in dpkg, g++-aarch64-linux-gnu, qemu-user, and the arm64 runtime: libc6, libstdc++6, zlib1g-dev,
# libvulkan1, vulkan-validationlayers and mesa-vulkan-drivers at the host's Mesa version (both
# are Multi-Arch: same, so the two architectures must carry the same version).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-aarch64

say() { printf '\033[1m[vkhalf cross-aarch64]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root for: $*  (install sudo or run as root)"; exit 1; fi
}

# The installed version of one package (name:arch), empty when not installed.
version_of() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p' || true; }

apt_install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

install_packages() {
  . /etc/os-release
  if [ "${ID:-}" != debian ] || ! command -v apt-get >/dev/null; then
    say "arm64 multiarch is set up for Debian only; elsewhere install an aarch64-linux-gnu g++, qemu-aarch64 and"
    say "arm64 builds of zlib, the Vulkan loader, lavapipe and the validation layer, then use VKHALF_SKIP_INSTALL=1"
    exit 1
  fi
  VKHALF_SKIP_BUILD=1 scripts/setup.sh   # host side: cmake, ninja, glslang, spirv-val, volk, headers, Mesa
  local updated=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg"
    as_root dpkg --add-architecture arm64
    as_root apt-get update -qq
    updated=1
  fi
  local mesa; mesa=$(version_of "mesa-vulkan-drivers:$(dpkg --print-architecture)")
  [ -n "$mesa" ] || { say "mesa-vulkan-drivers is not installed on the host"; exit 1; }
  local missing=()
  for p in g++-aarch64-linux-gnu qemu-user libc6:arm64 libstdc++6:arm64 zlib1g-dev:arm64 libvulkan1:arm64 \
           vulkan-validationlayers:arm64; do
    [ -n "$(version_of "$p")" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ] || [ "$(version_of mesa-vulkan-drivers:arm64)" != "$mesa" ]; then
    [ $updated = 1 ] || as_root apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  if [ "$(version_of mesa-vulkan-drivers:arm64)" != "$mesa" ]; then
    say "installing mesa-vulkan-drivers:arm64=$mesa (the host's version)"
    local release=()
    case "$mesa" in *bpo12*) release=(-t bookworm-backports) ;; esac   # its dependencies come from there too
    apt_install "${release[@]}" "mesa-vulkan-drivers:arm64=$mesa"
  fi
}

# What runs by default: every doctest suite under the validation layer, vkhalf-info --self-check
# and the Python reader of the checkpoint the io suite writes. Left out, for time: the second pass
# of every suite under synchronization validation, and train-e2e / torch-interop (Fashion-MNIST
# for several epochs: lavapipe's NEON code runs at ~100 images/s under qemu, ~10 minutes).
# Measured times: docs/android.md.
DEFAULT_TESTS='^(half|io|runtime|errors|validation|elementwise|activations|cast|reduce|loss|norm|conv|gemm-tiers|gemm-rest|train|vkhalf-info-self-check|safetensors-python)$'

[ "${VKHALF_SKIP_INSTALL:-0}" = 1 ] || install_packages
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake --preset aarch64-linux
cmake --build --preset aarch64-linux -j "$(nproc 2>/dev/null || echo 2)"

qemu=$(sed -n 's/^VKHALF_QEMU_AARCH64:FILEPATH=//p' "$BUILD_DIR/CMakeCache.txt")
[ -x "$qemu" ] || { say "qemu-aarch64 not found (Debian: qemu-user); the tests cannot run"; exit 1; }
say "$("$qemu" "$BUILD_DIR/bin/vkhalf-info" | sed -n '1,4p' | tr '\n' ' ')"
cd "$BUILD_DIR"
export VKHALF_REQUIRE_VALIDATION=1   # a missing arm64 validation layer fails instead of warning
if [ $# -gt 0 ]; then
  exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
fi
exec ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" -R "$DEFAULT_TESTS"
