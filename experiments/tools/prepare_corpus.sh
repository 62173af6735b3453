#!/usr/bin/env bash
# Tokenize ../shared/data/corpus (RefinedWeb-schema parquet, 23.7M GPT-2 tokens) once for the
# experiments: OUT/train_*.bin from the 8 train shards, OUT/val_*.bin from valid.parquet.
#   bash experiments/tools/prepare_corpus.sh [SLT_BINARY] [gpt2|bytes]
# OUT is ${SLT_CORPUS:-runs/corpus}/<tokenizer>; an existing complete OUT is kept (a DONE marker).
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
tok=${2:-gpt2}
data=${SLT_TEST_DATA:-../shared/data}
out=${SLT_CORPUS:-runs/corpus}/$tok
[ -f "$out/DONE" ] && { echo "corpus: $out already prepared"; exit 0; }
[ -d "$data/corpus" ] || { echo "prepare_corpus: missing $data/corpus (set SLT_TEST_DATA)" >&2; exit 1; }
dir=()
[ "$tok" = gpt2 ] && dir=(--tokenizer-dir "$data/gpt2")
rm -rf "$out"
mkdir -p "$out"
"$slt" prepare --input "$data"/corpus/train-*.parquet --format parquet --out "$out/train" \
  --tokenizer "$tok" "${dir[@]}" --val-fraction 0
"$slt" prepare --input "$data/corpus/valid.parquet" --format parquet --out "$out/val" \
  --tokenizer "$tok" "${dir[@]}" --val-fraction 0
mv "$out"/train/train_*.bin "$out"/ && mv "$out"/val/train_000000.bin "$out/val_000000.bin"
rmdir "$out/train" "$out/val" 2>/dev/null || true
touch "$out/DONE"
ls -l "$out"
