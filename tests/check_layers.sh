#!/usr/bin/env bash
# scripts/check-layers.sh passes on this tree and fails, naming the file and header, on a tree
# with one planted violation (a floor-1 file including a floor-4 header).
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
fail=0
out=$(bash "$src/scripts/check-layers.sh" "$src" 2>&1) || { echo "FAIL: the tree has violations:"; echo "$out"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/autograd" "$tmp/train" "$tmp/layers"
printf '#include "train/trainer.h"\n' >"$tmp/autograd/planted.c"
printf '#include "autograd/ops.h"\n#include "gpt.h"\n' >"$tmp/layers/fine.c"
out=$(bash "$src/scripts/check-layers.sh" "$tmp" 2>&1)
rc=$?
if [ $rc -eq 0 ] || ! grep -q 'autograd/planted.c:1: includes "train/trainer.h"' <<<"$out" ||
  grep -q 'layers/fine.c' <<<"$out"; then
  echo "FAIL: the planted violation was not reported as expected (exit $rc):"
  echo "$out"
  fail=1
fi
[ $fail -eq 0 ] && echo "2 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
