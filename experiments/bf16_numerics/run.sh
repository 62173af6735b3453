#!/usr/bin/env bash
# bf16 vs fp32 numerics (issue 20 item 3): the quickstart (synthetic source, 1200 steps) and a
# corpus run (floatlm_tiny.yaml on the byte-level corpus, 400 steps, seeds 1005 and 1006), each
# in train.precision fp32 and bf16; prints the final val losses and their differences.
# usage (repository root, after `bash experiments/tools/prepare_corpus.sh build/slt bytes`):
#   bash experiments/bf16_numerics/run.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-runs/bf16_numerics}
mkdir -p "$OUT"
final() { sed -n 's/^final val loss \([0-9.]*\).*/\1/p' "$1"; }
run() { # name config seed precision
  "$BUILD/slt" train "$2" out_dir="$OUT/$1_$4" seed="$3" train.precision="$4" > "$OUT/$1_$4.log" 2>&1
}
printf '| run | seed | fp32 val | bf16 val | bf16 - fp32 |\n|---|---|---|---|---|\n'
for spec in "quickstart configs/quickstart.yaml 1005" \
            "floatlm_tiny configs/recipes/floatlm_tiny.yaml 1005" \
            "floatlm_tiny_s2 configs/recipes/floatlm_tiny.yaml 1006"; do
  set -- $spec
  for p in fp32 bf16; do run "$1" "$2" "$3" "$p"; done
  a=$(final "$OUT/$1_fp32.log") b=$(final "$OUT/$1_bf16.log")
  printf '| %s | %s | %s | %s | %+.4f |\n' "$1" "$3" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b - a}')"
done
