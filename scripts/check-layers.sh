#!/usr/bin/env bash
# Folders are floors (DESIGN.md): a file may include headers of its own floor or below, never
# above. Prints every violation as FILE:LINE: includes HEADER (floor N above floor M) and exits 1
# when there is one.
#   scripts/check-layers.sh [ROOT]     ROOT: the source tree (default: this repository)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}

declare -A floor=(
  [autograd]=1 [kernels]=1
  [layers]=2 [optim]=2 [data]=2
  [ckpt]=3 [config]=3
  [train]=4
  [sweep]=5
  [cli]=6
)

bad=0 files=0
for dir in "${!floor[@]}"; do
  [ -d "$root/$dir" ] || continue
  while IFS= read -r -d '' f; do
    files=$((files + 1))
    while IFS=: read -r line header; do
      top=${header%%/*}
      [ "$top" = "$header" ] && continue # same folder
      [ -n "${floor[$top]:-}" ] || continue
      if ((floor[$top] > floor[$dir])); then
        echo "${f#"$root"/}:$line: includes \"$header\" (floor ${floor[$top]} $top/ above floor ${floor[$dir]} $dir/)"
        bad=$((bad + 1))
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):[^"]*"([^"]*)".*/\1:\2/')
  done < <(find "$root/$dir" -name '*.[ch]' -print0)
done
if ((bad)); then
  echo "check-layers: $bad include(s) from a higher floor in $files files (floors: DESIGN.md)"
  exit 1
fi
echo "check-layers: $files files, every include at its own floor or below"
