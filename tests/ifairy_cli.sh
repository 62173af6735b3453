#!/usr/bin/env bash
# The complex models end to end through the CLI, on a bytes shard of the repo's README:
# - ifairy (PhaseQuant + 8-bit activations): a run split by stop_after and --resume auto ends
#   with the same parameters and optimizer state as the straight run (slt_ckpt_cmp --optim, 0
#   tolerance); slt info counts the real parameters of the layout by hand; slt eval and
#   slt generate (KV cache, no prefix-recompute notice) work on the checkpoint; its packed
#   export (slt export --packed, int8 {±1, ±i} kernels) evaluates to the same val loss (1e-6);
# - fairy2i: a trained LLaMA-style GPT converted by slt convert --fairy2i evaluates to the same
#   val loss (1e-5 relative), then trains on with residual PhaseQuant (train.init_from), resuming
#   bitwise;
# - nothing above floor 2 names a complex model (eval, generate, info, train see only the seam).
# usage: ifairy_cli.sh SLT_BINARY SLT_CKPT_CMP
set -u
slt=$1
cmp=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
dir=$(mktemp -d)
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$dir"' EXIT
fails=0
passes=0
ok() { echo "ok   $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { # check NAME COMMAND...: the command succeeds
  local name=$1
  shift
  if "$@" >"$dir/out" 2>"$dir/err"; then ok "$name"; else fail "$name: $(tail -3 "$dir/err")"; fi
}

"$slt" tokenize --tokenizer bytes "$root/README.md" --out "$dir/text.bin" >/dev/null || exit 2

common=(data.source=shards "data.train=$dir/text.bin" "data.val=$dir/text.bin" model.vocab_size=257
  model.seq_len=32 model.layers=2 model.heads=2 train.micro_batch=4 train.threads=2
  train.eval_batches=2 train.log_every=1 optim.lr=3e-3 schedule.warmup=2)
ifairy=("${common[@]}" model.arch=ifairy model.d_model=16 model.ffn_dim=24 model.norm=rmsnorm
  model.act=relu2 model.bias=false model.tie_embeddings=false model.phasequant.stages=1
  model.act_quant=int8 schedule.name=ifairy optim.clip=2.0 train.steps=8 train.eval_every=4
  train.ckpt_every=4 train.keep_last=0)
cfg="$root/configs/quickstart.yaml"

# ---- ifairy: straight vs split ----
check "ifairy straight run" "$slt" train "$cfg" "${ifairy[@]}" "out_dir=$dir/straight"
check "ifairy split run, first part" "$slt" train "$cfg" "${ifairy[@]}" "out_dir=$dir/split" \
  train.stop_after=3
check "ifairy split run, resumed" "$slt" train "$cfg" "${ifairy[@]}" "out_dir=$dir/split" \
  --resume auto
grep -q "resumed from .*ckpt_00000003.h5 at step 3" "$dir/out" "$dir/err" &&
  ok "resumed at step 3" || fail "did not resume at step 3"
a="$dir/straight/ckpt_00000008.h5" b="$dir/split/ckpt_00000008.h5"
check "ifairy resume is bitwise (params + optimizer)" "$cmp" --optim "$a" "$b"

# ---- info: real parameter counts (V 257, H 16, F 24, 2 layers) ----
V=257 H=16 F=24 L=2
total=$((2 * V * 2 * H + 2 * H + L * (8 * H * H + 6 * H * F + 3 * 2 * H + 2 * F)))
check "info on an ifairy checkpoint" "$slt" info "$a"
grep -q "^parameters: $total " "$dir/out" && grep -q "  $total real parameters" "$dir/out" &&
  ok "info counts $total real parameters" || fail "info: $(grep -i param "$dir/out")"

# ---- eval and generate ----
check "eval on an ifairy checkpoint" "$slt" eval --ckpt "$a" --data "$dir/text.bin" --threads 2
grep -q "val_loss=" "$dir/out" && ok "eval prints val_loss" || fail "eval: $(cat "$dir/out")"
check "generate from an ifairy checkpoint" "$slt" generate --ckpt "$a" --prompt-ids 72,101,108 \
  --tokens 6 --temperature 0 --threads 2
[[ $(tr -cd ',' <"$dir/out" | wc -c) -ge 5 || $(wc -w <"$dir/out") -ge 6 ]] &&
  ok "generate wrote 6 tokens" || fail "generate: $(cat "$dir/out")"
grep -q "recomputes the whole prefix" "$dir/err" && fail "generate: $(cat "$dir/err")" ||
  ok "generate runs ifairy with its KV cache (no prefix-recompute notice)"

# ---- packed {±1, ±i} inference: the export evaluates to the fake-quant checkpoint's loss ----
check "export --packed the ifairy checkpoint" "$slt" export --packed "$a" "$dir/packed.h5"
check "eval the fake-quant checkpoint" "$slt" eval --ckpt "$a" --data "$dir/text.bin" --threads 2
lq=$(sed -n 's/.*val_loss=\([0-9.]*\).*/\1/p' "$dir/out")
check "eval the packed export" "$slt" eval --ckpt "$dir/packed.h5" --data "$dir/text.bin" \
  --threads 2
lp=$(sed -n 's/.*val_loss=\([0-9.]*\).*/\1/p' "$dir/out")
# the int8 kernels sum exactly what the fake-quant GEMMs round: float rounding only (test_packed_cplx.c)
python3 -c "import sys; a, b = float('$lq'), float('$lp'); sys.exit(abs(a - b) > 1e-6 * abs(a))" \
  2>/dev/null && ok "packed val loss $lp = fake-quant $lq (1e-6)" ||
  fail "packed val loss $lp vs fake-quant $lq"
check "generate from the packed export" "$slt" generate --ckpt "$dir/packed.h5" \
  --prompt-ids 72,101,108 --tokens 6 --temperature 0 --threads 2
! grep -q "recomputes the whole prefix" "$dir/err" && ok "packed generate uses the KV cache" ||
  fail "packed generate note: $(cat "$dir/err")"

# ---- fairy2i: convert a trained LLaMA-style GPT, same loss, then QAT that resumes bitwise ----
llama=("${common[@]}" model.d_model=32 model.ffn_dim=48 model.norm=rmsnorm model.act=swiglu
  model.bias=false model.tie_embeddings=true train.eval_every=0 train.ckpt_every=0)
check "train a LLaMA-style GPT" "$slt" train "$cfg" "${llama[@]}" train.steps=20 "out_dir=$dir/gpt"
g="$dir/gpt/ckpt_00000020.h5"
check "convert --fairy2i" "$slt" convert --fairy2i "$g" "$dir/f2.h5"
check "eval the GPT" "$slt" eval --ckpt "$g" --data "$dir/text.bin" --threads 2
lg=$(sed -n 's/.*val_loss=\([0-9.]*\).*/\1/p' "$dir/out")
check "eval the fairy2i model" "$slt" eval --ckpt "$dir/f2.h5" --data "$dir/text.bin" --threads 2
lf=$(sed -n 's/.*val_loss=\([0-9.]*\).*/\1/p' "$dir/out")
python3 -c "import sys; a, b = float('$lg'), float('$lf'); sys.exit(abs(a - b) > 1e-5 * abs(a))" \
  2>/dev/null && ok "fairy2i val loss $lf = GPT's $lg" || fail "fairy2i val loss $lf vs GPT $lg"
f2=("${common[@]}" model.arch=fairy2i model.d_model=16 model.ffn_dim=24 model.norm=rmsnorm
  model.act=swiglu model.bias=false model.tie_embeddings=false model.phasequant.stages=2
  "train.init_from=$dir/f2.h5" train.steps=6 train.eval_every=0 train.ckpt_every=3 train.keep_last=0)
check "fairy2i QAT straight" "$slt" train "$cfg" "${f2[@]}" "out_dir=$dir/qs"
grep -q "weights from $dir/f2.h5" "$dir/out" "$dir/err" && ok "QAT starts from the conversion" ||
  fail "no init_from line"
check "fairy2i QAT split, first part" "$slt" train "$cfg" "${f2[@]}" "out_dir=$dir/qp" \
  train.stop_after=3
check "fairy2i QAT split, resumed" "$slt" train "$cfg" "${f2[@]}" "out_dir=$dir/qp" --resume auto
check "fairy2i QAT resume is bitwise" "$cmp" --optim "$dir/qs/ckpt_00000006.h5" \
  "$dir/qp/ckpt_00000006.h5"
check "generate from fairy2i" "$slt" generate --ckpt "$dir/qs/ckpt_00000006.h5" --prompt-ids 72 \
  --tokens 3 --threads 2

# ---- no special case of the complex models above floor 2 ----
hits=$(cd "$root" && grep -rnE "SLT_ARCH_(IFAIRY|FAIRY2I)|slt_ifairy|layers/ifairy" ckpt config \
  train sweep cli)
hits2=$(cd "$root" && grep -rln "fairy2i\.h\|slt_fairy2i" ckpt config train sweep cli |
  grep -v "^cli/cmd_convert.c$")
[[ -z $hits && -z $hits2 ]] && ok "no complex-model special case above floor 2" ||
  fail "above floor 2: $hits $hits2"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
