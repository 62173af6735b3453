#!/usr/bin/env bash
# GGUF export against real llama.cpp (SPEC §8). Installs the node-llama-cpp npm package (prebuilt
# libllama/libggml) into NPM_DIR when absent, takes llama.h from the llama.cpp source bundle the
# package ships, builds tests/llama/harness.c against them, then for tiny trained models compares
# the last position's logits of llama.cpp (F32 KV cache, no flash attention) with slt's own
# (tests/tools/slt_logits.c), as ‖llama − slt‖ / ‖slt‖:
#   A  GQA, untied head:          f32 <= 1e-4; f16 <= F16_TOL (see below); tq2_0 refused (not ternary)
#   B  tied, block weights made ternary by hand: f32 <= 1e-4; TQ2_0 blocks decode (ggml's own
#      dequantize) to exactly the f32 file's weights; tq2_0 <= 1e-4 against slt with llama.cpp's
#      Q8_K activation rounding emulated (slt_logits --q8k)
#   C  vocab 50257 with the GPT-2 tokenizer: f32 <= 1e-4, and llama.cpp tokenizes text as slt does
#   D  structured FFN: refused, then exported after slt export --merge: f32 <= 1e-4
#   E  LayerNorm/GELU/bias (the quickstart as is): refused with one line
# usage: tests/gguf_llama.sh SLT SLT_LOGITS NPM_DIR
set -u
SLT=${1:?usage: gguf_llama.sh SLT SLT_LOGITS NPM_DIR}
LOGITS=${2:?usage: gguf_llama.sh SLT SLT_LOGITS NPM_DIR}
NPM_DIR=${3:?usage: gguf_llama.sh SLT SLT_LOGITS NPM_DIR}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DATA=${SLT_TEST_DATA:-$SRC/../shared/data}
VERSION=3.21.1
# f16 stores every matrix and rounds every matmul input to fp16 (ggml's CPU F16 product converts
# the activations), unit roundoff u = 2^-11. Each of the 4·layers + 1 matmuls in series adds two
# independent relative roundings of at most u (uniform: rms u/√3); in quadrature over 2 layers
# that is u·√(2/3)·√9 ≈ 1.2e-3 with no cancellation. Bound: 4e-3 (3x margin). A wrong layout,
# permutation or conversion gives O(1).
F16_TOL=4e-3
TOL=1e-4
dir=$(mktemp -d /tmp/slt_gguf_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "gguf_llama: FAIL: $*" >&2; exit 1; }

# ---- llama.cpp: prebuilt libraries from npm, headers from the source bundle they were built from
BIN=$NPM_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if ! ls "$BIN"/libllama*.so > /dev/null 2>&1; then
  command -v npm > /dev/null || fail "npm not found (apt-get install nodejs npm)"
  mkdir -p "$NPM_DIR"
  (cd "$NPM_DIR" && npm i -E "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" \
    --omit=optional --no-audit --no-fund > npm.log 2>&1) || fail "npm install failed: $NPM_DIR/npm.log"
fi
LC=$NPM_DIR/llama.cpp
if [ ! -f "$LC/include/llama.h" ]; then
  git clone -q "$NPM_DIR/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$LC" 2> /dev/null ||
    fail "cannot unpack llama.cpp's sources from node-llama-cpp's gitRelease.bundle"
fi
HARNESS=$NPM_DIR/harness
cc -O2 -std=c11 -Wall -Wextra -Werror -I"$LC/include" -I"$LC/ggml/include" \
  "$SRC/tests/llama/harness.c" -o "$HARNESS" "$BIN"/libllama*.so "$BIN"/libggml.*so \
  "$BIN"/libggml-base.so -Wl,-rpath,"$(cd "$BIN" && pwd)" || fail "harness does not build"

# ---- helpers
train() { # NAME KEY=VALUE...: a short synthetic run; prints nothing, fails loudly
  local name=$1; shift
  "$SLT" train "$SRC/configs/quickstart.yaml" out_dir="$dir/$name" train.eval_every=0 \
    train.threads=2 train.log_every=1000 "$@" > "$dir/$name.log" 2>&1 ||
    fail "training $name: $(tail -1 "$dir/$name.log")"
  ls "$dir/$name"/ckpt_*.h5 | tail -1
}
export_ok() { # CKPT OUT ARGS...
  local ck=$1 out=$2; shift 2
  "$SLT" export --gguf "$ck" "$out" "$@" > /dev/null 2> "$dir/export.err" ||
    fail "export $out: $(cat "$dir/export.err")"
}
refused() { # LABEL EXPECTED CKPT ARGS...: exit 1, one line naming EXPECTED, no file left
  local label=$1 want=$2; shift 2
  "$SLT" export --gguf "$@" > /dev/null 2> "$dir/err"
  local rc=$?
  [ $rc -eq 1 ] || fail "$label: exit $rc, expected 1"
  [ "$(wc -l < "$dir/err")" -eq 1 ] && grep -q -- "$want" "$dir/err" ||
    fail "$label: expected one line with '$want', got: $(cat "$dir/err")"
  echo "refused ($label): $(cat "$dir/err")"
}
# Numbers are compared as numbers (-0 equals 0: the f32 file keeps a zero's sign, TQ2_0 cannot).
rel() { # A B: ‖B − A‖ / ‖A‖ of two files of numbers, same count
  paste "$1" "$2" | awk '{d = $2 - $1; e += d * d; r += $1 * $1; n++}
    END {if (n == 0 || r == 0) print "nan"; else printf "%.3e\n", sqrt(e / r)}'
}
compare() { # LABEL GGUF CKPT TOL [--q8k]: llama.cpp's logits against slt's
  local label=$1 gguf=$2 ck=$3 tol=$4; shift 4
  "$HARNESS" logits "$gguf" "$BIN" "$IDS" > "$dir/l.txt" 2> "$dir/h.err" ||
    fail "$label: llama.cpp: $(cat "$dir/h.err")"
  "$LOGITS" "$ck" "$IDS" "$@" > "$dir/s.txt" || fail "$label: slt_logits failed"
  [ "$(wc -l < "$dir/l.txt")" -eq "$(wc -l < "$dir/s.txt")" ] || fail "$label: vocab sizes differ"
  local r; r=$(rel "$dir/s.txt" "$dir/l.txt")
  awk -v r="$r" -v t="$tol" 'BEGIN {exit !(r != "nan" && r + 0 <= t + 0)}' ||
    fail "$label: relative logit error $r > $tol"
  echo "ok ($label): relative logit error $r (bound $tol)"
}
IDS=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3,8,3,2,7,9,5,0,2,8,8,4,1,9,7,1,6,9,3,9,9
LLAMA="model.norm=rmsnorm model.act=swiglu model.bias=false"

# ---- A: GQA, untied head
A=$(train a $LLAMA model.d_model=256 model.ffn_dim=512 model.kv_heads=2 model.tie_embeddings=false \
  train.steps=30)
export_ok "$A" "$dir/a32.gguf" --type f32
export_ok "$A" "$dir/a16.gguf" --type f16
compare "A f32, GQA, untied" "$dir/a32.gguf" "$A" $TOL
compare "A f16" "$dir/a16.gguf" "$A" $F16_TOL
refused "A tq2_0, weights not ternary" "not ternary" "$A" "$dir/aq.gguf" --type tq2_0
[ ! -e "$dir/aq.gguf" ] && [ ! -e "$dir/aq.gguf.tmp" ] || fail "a refused export left a file"

# ---- B: tied, ternary by hand, TQ2_0
B0=$(train b $LLAMA model.d_model=256 model.ffn_dim=768 train.steps=20)
B=$dir/b_ternary.h5
"$LOGITS" --ternarize "$B0" "$B" || fail "ternarize"
export_ok "$B" "$dir/b32.gguf" --type f32
export_ok "$B" "$dir/bq.gguf" --type tq2_0
for l in 0 1; do
  for t in attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down; do
    name=blk.$l.$t.weight
    "$HARNESS" dequant "$dir/bq.gguf" "$name" > "$dir/dq.txt" || fail "dequant $name"
    "$HARNESS" dequant "$dir/b32.gguf" "$name" > "$dir/d32.txt" || fail "read $name"
    paste "$dir/dq.txt" "$dir/d32.txt" | awk '$1 != $2 {exit 1}' || fail "$name: ggml's TQ2_0 dequantization differs from the weights"
  done
done
echo "ok (B): every TQ2_0 tensor dequantizes (ggml's dequantize_row_tq2_0) to exactly the f32 export's weights"
compare "B f32, tied, ternary" "$dir/b32.gguf" "$B" $TOL
compare "B tq2_0 vs slt with Q8_K activations" "$dir/bq.gguf" "$B" $TOL --q8k
"$LOGITS" "$B" "$IDS" > "$dir/s.txt" && "$HARNESS" logits "$dir/bq.gguf" "$BIN" "$IDS" > "$dir/l.txt" 2>/dev/null
echo "info (B): tq2_0 against slt without activation rounding: $(rel "$dir/s.txt" "$dir/l.txt") (Q8_K's own rounding)"

# ---- C: the GPT-2 tokenizer
GPT2=$DATA/gpt2
[ -f "$GPT2/vocab.bpe" ] || fail "no GPT-2 tokenizer at $GPT2 (set SLT_TEST_DATA)"
C=$(train c $LLAMA model.vocab_size=50257 data.synthetic.vocab=16 model.d_model=64 model.heads=2 \
  model.ffn_dim=128 model.layers=1 model.seq_len=32 train.steps=2)
refused "C without --tokenizer-dir" "tokenizer-dir" "$C" "$dir/c.gguf"
export_ok "$C" "$dir/c.gguf" --tokenizer-dir "$GPT2"
IDS_SAVED=$IDS
IDS=50256,464,2068,7586,21831,18045,625,262,16931,3290,13,198,40,1101,257,1332
compare "C f32, GPT-2 vocabulary" "$dir/c.gguf" "$C" $TOL
IDS=$IDS_SAVED
head -c 3000 "$DATA/tinyshakespeare/input.txt" > "$dir/text.txt" 2>/dev/null ||
  fail "no tinyshakespeare text under $DATA"
printf 'Caf\xc3\xa9 na\xc3\xafve 12345 \xe2\x80\x94 it'"'"'s   spaced\n\n\ttabs\n' >> "$dir/text.txt"
"$HARNESS" tokenize "$dir/c.gguf" "$BIN" "$dir/text.txt" > "$dir/tl.txt" 2> "$dir/h.err" ||
  fail "llama.cpp tokenize: $(cat "$dir/h.err")"
"$SLT" tokenize --tokenizer gpt2 --tokenizer-dir "$GPT2" "$dir/text.txt" --out "$dir/t.bin" > /dev/null ||
  fail "slt tokenize"
od -An -v -tu2 -w2 -j1024 "$dir/t.bin" | tr -d ' ' > "$dir/ts.txt"
cmp -s "$dir/tl.txt" "$dir/ts.txt" || fail "llama.cpp's GPT-2 tokens differ from slt's ($(wc -l < "$dir/tl.txt") vs $(wc -l < "$dir/ts.txt"))"
echo "ok (C): llama.cpp tokenizes $(wc -c < "$dir/text.txt") bytes into the same $(wc -l < "$dir/ts.txt") tokens as slt"

# ---- D: structured FFN, merged first
D=$(train d $LLAMA model.d_model=64 model.ffn_dim=256 model.ffn.kind=lowrank model.ffn.rank=16 \
  train.steps=5)
refused "D structured FFN" "slt export --merge" "$D" "$dir/d.gguf"
"$SLT" export --merge "$D" "$dir/d_merged.h5" > /dev/null || fail "merge"
export_ok "$dir/d_merged.h5" "$dir/d.gguf"
compare "D f32 after slt export --merge" "$dir/d.gguf" "$dir/d_merged.h5" $TOL

# ---- E: the quickstart model (LayerNorm, GELU, biases)
E=$(train e train.steps=2)
refused "E LayerNorm" "layernorm" "$E" "$dir/e.gguf"
E2=$(train e2 model.norm=rmsnorm model.bias=false train.steps=2)
refused "E GELU" "gelu_tanh" "$E2" "$dir/e.gguf"
usage() { # LABEL EXPECTED ARGS...: bad usage exits 2 with one line naming EXPECTED
  local label=$1 want=$2; shift 2
  "$SLT" export "$@" > /dev/null 2> "$dir/err"
  local rc=$?
  [ $rc -eq 2 ] && [ "$(wc -l < "$dir/err")" -eq 1 ] && grep -q -- "$want" "$dir/err" ||
    fail "$label: exit $rc, expected 2 and one line with '$want': $(cat "$dir/err")"
}
usage "bad --type" "tq2_0, got 'q4'" --gguf "$A" "$dir/x.gguf" --type q4
usage "no OUT" "CKPT and OUT" --gguf "$A"
usage "--merge too" "two exports" --gguf --merge "$A" "$dir/x.gguf"
usage "--tokenizer-dir with bytes" "not bytes" --gguf "$A" "$dir/x.gguf" --tokenizer bytes \
  --tokenizer-dir "$GPT2"
"$SLT" export --gguf "$A" "$dir/a32.gguf" > /dev/null 2> "$dir/err" && fail "an existing OUT was overwritten"
grep -q "already exists" "$dir/err" || fail "existing OUT: $(cat "$dir/err")"
"$SLT" export --gguf --help | grep -q "tq2_0" || fail "export --gguf --help"
echo "ok: usage errors"
echo "gguf_llama: all passed"
