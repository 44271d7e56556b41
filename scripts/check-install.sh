#!/usr/bin/env bash
# Installs a build into a fresh prefix and builds and runs both consumer examples against it:
# examples/consumer (C++, find_package(vkhalf)) and examples/consumer-pkgconfig (C, pkg-config).
# The programs run from an empty directory: an installed vkhalf needs no file beside it.
#   scripts/check-install.sh [build-dir]     (ctest runs it as "install-consumers")
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$build/install-check
rm -rf "$work" && mkdir -p "$work/run"
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "installed into $prefix:"
(cd "$prefix" && find . -type f | sort | sed 's/^/  /')
if find "$prefix" -name '*.spv' -o -name '*.comp' | grep -q .; then
  echo "shader files were installed: the library should carry them" >&2; exit 1
fi

echo "== CMake consumer (find_package)"
cmake -S "$src/examples/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer" >/dev/null
(cd "$work/run" && "$work/consumer/vkhalf-consumer")

echo "== pkg-config consumer (C API)"
export PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name vkhalf.pc)")"
echo "pkg-config: vkhalf $(pkg-config --modversion vkhalf): $(pkg-config --cflags --libs vkhalf)"
make -s -C "$src/examples/consumer-pkgconfig" OUT="$work" >/dev/null
(cd "$work/run" && "$work/vkhalf-c-consumer")
