#!/usr/bin/env bash
# The layers import only downward: every #include "dir/..." in src/<layer>/ names a layer at or
# below its own, in this order, and public headers (include/vkhalf/) include only public headers.
#   base < io < runtime < kernels < ir < autodiff < compile < nn < train < dist < capi
# Prints each include that breaks the order and exits 1; ctest runs it (test "layers").
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
LAYERS=(base io runtime kernels ir autodiff compile nn train dist capi)
rank() { local i; for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in src/*/; do
  layer=$(basename "$dir")
  own=$(rank "$layer")
  if [ "$own" -lt 0 ]; then echo "src/$layer/: not a known layer (add it to LAYERS in $0)"; bad=1; continue; fi
  while IFS=: read -r file line text; do
    target=$(sed -E 's/^#include "([a-z_]+)\/.*/\1/' <<<"$text")
    [ "$target" = vkhalf ] && continue
    r=$(rank "$target")
    if [ "$r" -lt 0 ] || [ "$r" -gt "$own" ]; then
      echo "$file:$line: $layer includes $target (${text#\#include }), a layer above it"
      bad=1
    fi
  done < <(grep -nE '^#include "[a-z_]+/' -r "$dir" --include='*.cpp' --include='*.hpp' --include='*.h')
done
while IFS=: read -r file line text; do
  echo "$file:$line: a public header includes a private one (${text#\#include })"
  bad=1
done < <(grep -nE '^#include "' -r include/vkhalf | grep -vE ':#include "vkhalf/')
[ $bad = 0 ] && echo "layers: every include points downward (${LAYERS[*]})"
exit $bad
