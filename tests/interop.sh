#!/usr/bin/env bash
# Interop without our code: a fresh checkpoint opens in h5py, every tensor's xxh3_64 matches its
# bytes (python3-xxhash), and PyTorch (experiments/tools/ckpt_to_torch.py, the reference GPT of
# tests/reference) evaluates it to the same val loss as `slt eval`, within 1e-5.
# Needs Debian's python3-h5py, python3-xxhash, python3-torch, python3-yaml (scripts/test.sh
# installs them): missing, this is a loud skip locally and a failure under CI=true.
# usage: tests/interop.sh SLT_BINARY
set -u
SLT=${1:?usage: interop.sh SLT_BINARY}
PY=/usr/bin/python3
src=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "interop: FAIL: $*" >&2; exit 1; }
if ! $PY -c 'import h5py, xxhash, torch, yaml' 2> /dev/null; then
  why="python3-h5py, python3-xxhash, python3-torch or python3-yaml missing (scripts/install-deps.sh --torch)"
  [ -n "${CI:-}" ] && [ "$CI" != false ] && [ "$CI" != 0 ] && fail "CI: a skip is a failure: $why"
  echo "*** SKIPPED interop: $why ***"
  exit 0
fi
dir=$(mktemp -d /tmp/slt_interop_XXXXXX)
trap 'rm -rf "$dir"' EXIT

# Shards of bytes-tokenized text from this repository (no shared data needed).
cat "$src"/README.md "$src"/docs/*.md > "$dir/text.txt" 2> /dev/null
"$SLT" prepare --input "$dir/text.txt" --format text --tokenizer bytes --val-fraction 0 \
  --out "$dir/shards" > "$dir/prep.out" 2>&1 || fail "prepare: $(tail -2 "$dir/prep.out")"
cat > "$dir/tiny.yaml" <<EOF2
out_dir: $dir/run
seed: 7
model: {vocab_size: 320, seq_len: 32, layers: 2, d_model: 48, heads: 4, ffn_dim: 96,
        norm: rmsnorm, act: swiglu, pos: rope}
data: {source: shards, train: "$dir/shards/train_*.bin", val: "$dir/shards/train_*.bin"}
train: {steps: 30, micro_batch: 4, grad_accum: 1, eval_every: 0, ckpt_every: 0, threads: 2}
optim: {lr: 3e-3}
EOF2
"$SLT" train "$dir/tiny.yaml" > "$dir/train.out" 2>&1 || fail "train: $(tail -3 "$dir/train.out")"
ck="$dir/run/ckpt_00000030.h5"
$PY "$src/tests/h5_interop.py" "$ck" > "$dir/h5.out" 2>&1 || fail "h5py: $(cat "$dir/h5.out")"
"$SLT" eval --ckpt "$ck" --data "$dir/shards/train_*.bin" --batches 4 > "$dir/eval.out" 2>&1 ||
  fail "slt eval: $(tail -2 "$dir/eval.out")"
$PY "$src/experiments/tools/ckpt_to_torch.py" "$ck" "$dir/shards/train_*.bin" --batches 4 \
  > "$dir/torch.out" 2>&1 || fail "ckpt_to_torch.py: $(tail -3 "$dir/torch.out")"
a=$(grep -o 'val_loss=[0-9.eE+-]*' "$dir/eval.out" | cut -d= -f2)
b=$(grep -o 'val_loss=[0-9.eE+-]*' "$dir/torch.out" | cut -d= -f2)
[ -n "$a" ] && [ -n "$b" ] || fail "no val_loss: slt '$(cat "$dir/eval.out")', torch '$(cat "$dir/torch.out")'"
$PY -c "import sys; a, b = $a, $b; sys.exit(0 if abs(a - b) <= 1e-5 else 1)" ||
  fail "val loss: slt eval $a, PyTorch $b (more than 1e-5 apart)"
echo "interop: h5py $(cat "$dir/h5.out"); val loss slt eval $a, PyTorch $b"
