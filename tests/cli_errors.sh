#!/usr/bin/env bash
# Bad configs and flags each give exactly one clear error line (naming the key or file) and a
# non-zero exit, never a crash. usage: cli_errors.sh SLT_BINARY
set -u
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh" # slt, dir, cfg; expect; passes, fails

printf 'model:\n  d_modle: 64\n' >"$dir/typo.yaml"
printf 'model:\n  layers: four\n' >"$dir/type.yaml"
printf 'model: {layers: 2\n' >"$dir/syntax.yaml"

expect "unknown key" "did you mean 'model.d_model'" train "$dir/typo.yaml"
expect "wrong type" "model.layers" train "$dir/type.yaml"
expect "yaml syntax" "syntax.yaml" train "$dir/syntax.yaml"
expect "missing file" "nope.yaml" train "$dir/nope.yaml"
expect "negative size" "model.layers" train "$cfg" model.layers=-3
expect "heads not dividing d_model" "model.heads" train "$cfg" model.heads=5
expect "unknown override" "did you mean 'optim.lr'" train "$cfg" optim.lrr=1e-3
expect "bad enum" "layernorm" train "$cfg" model.norm=batchnorm
expect "bad parameter-group rule" "optim.groups" train "$cfg" "out_dir=$dir/run" 'optim.groups=*.bias wd=abc'
expect "unknown flag" "--frobnicate" train "$cfg" --frobnicate
# model.quant (layers/quant_config.h): one line naming the key (or the linear and rule)
q=model.quant
expect "quant: bad kind" "$q.weight.kind" train "$cfg" $q.weight.kind=int3
expect "quant: int with 1 bit" "$q.weight: quant int: bits must be 2..16" train "$cfg" \
  $q.weight.kind=int $q.weight.bits=1
expect "quant: fp format with bits" "format e2m1 is 4 bits" train "$cfg" $q.weight.kind=fp \
  $q.weight.format=e2m1 $q.weight.bits=8
expect "quant: group not dividing" "group_size 48 does not divide" train "$cfg" \
  $q.weight.kind=int $q.weight.granularity=group $q.weight.group_size=48
expect "quant: ternary activations" "$q.act.kind: ternary is for weights" train "$cfg" \
  $q.act.kind=ternary
expect "quant: lsq activations" "$q.act.kind: lsq learns weight scales only" train "$cfg" \
  $q.act.kind=lsq
expect "quant: per-token weights" "$q.weight.granularity: token" train "$cfg" \
  $q.weight.kind=int $q.weight.granularity=token
expect "quant: bitlinear with layernorm" "$q.bitlinear_norm needs model.norm: rmsnorm" train \
  "$cfg" $q.bitlinear_norm=true model.norm=layernorm
expect "quant: bad rule spec" "$q.rules: rule 1" train "$cfg" "$q.rules=*.attn.* w=int:banana"
expect "quant: rule matching nothing" "matches no linear" train "$cfg" "$q.rules=blocks.99.* w=int:8"
expect "quant: lsq with sgt" "lsq weights cannot be used with sgt.enabled" train "$cfg" \
  $q.weight.kind=lsq sgt.enabled=true model.ffn.kind=lowrank model.ffn.rank=16
# The complex models: the keys they fix must say what the model does; their own keys are theirs.
cx=(train "$cfg" "out_dir=$dir/cx" model.arch=ifairy model.norm=rmsnorm model.act=relu2
  model.bias=false model.tie_embeddings=false)
expect "ifairy with layernorm" "set model.norm: rmsnorm" train "$cfg" model.arch=ifairy
expect "ifairy with tied embeddings" "model.tie_embeddings" "${cx[@]}" model.tie_embeddings=true
expect "ifairy with biases" "model.bias" "${cx[@]}" model.bias=true
expect "ifairy with swiglu" "model.act" "${cx[@]}" model.act=swiglu
expect "ifairy with learned positions" "model.pos" "${cx[@]}" model.pos=learned
expect "ifairy with GQA" "model.kv_heads" "${cx[@]}" model.kv_heads=2
expect "ifairy with a lowrank FFN" "model.ffn.kind" "${cx[@]}" model.ffn.kind=lowrank model.ffn.rank=8
expect "ifairy heads not dividing d_model" "model.heads" "${cx[@]}" model.heads=3
expect "ifairy phasequant stages 3" "model.phasequant.stages" "${cx[@]}" model.phasequant.stages=3
expect "phasequant on a gpt" "model.phasequant.stages" train "$cfg" model.phasequant.stages=1
expect "act_quant on a gpt" "model.act_quant" train "$cfg" model.act_quant=int8
expect "bad act_quant" "int8" "${cx[@]}" model.act_quant=int4
expect "fairy2i with relu2" "set model.act: swiglu" "${cx[@]}" model.arch=fairy2i
expect "init_from a missing file" "train.init_from: $dir/nope.h5" train "$cfg" "out_dir=$dir/if" "train.init_from=$dir/nope.h5"
expect "unknown command" "trian" trian

# slt export --merge: a tiny structured checkpoint (two steps), then each way to misuse it.
"$slt" train "$cfg" "out_dir=$dir/lr" train.steps=2 train.eval_every=0 model.ffn.kind=lowrank \
  model.ffn.rank=16 train.threads=2 >/dev/null 2>&1
ckpt="$dir/lr/ckpt_00000002.h5"
expect "export without --merge" "--merge is required" export "$ckpt" "$dir/merged.h5"
expect "export of a missing checkpoint" "nope.h5" export --merge "$dir/nope.h5" "$dir/merged.h5"
expect "export of a non-checkpoint" "not an HDF5 file" export --merge "$cfg" "$dir/merged.h5"
"$slt" export --merge "$ckpt" "$dir/merged.h5" >/dev/null
expect "export over an existing file" "already exists" export --merge "$ckpt" "$dir/merged.h5"
expect "export --quantize of an unquantized model" "quantizes no weights" export --quantize \
  "$ckpt" "$dir/q.h5"
expect "export of a dense checkpoint" "already dense" export --merge "$dir/merged.h5" "$dir/m2.h5"
expect "convert without --fairy2i" "--fairy2i is required" convert "$ckpt" "$dir/f2.h5"
expect "convert of a structured GPT" "LLaMA-style" convert --fairy2i "$ckpt" "$dir/f2.h5"
[[ -e "$dir/f2.h5" ]] && { echo "FAIL a refused convert wrote $dir/f2.h5"; fails=$((fails + 1)); }
expect "convert --stages 3" "--stages" convert --fairy2i "$ckpt" "$dir/f2.h5" --stages 3
expect "convert --act-quant int4" "--act-quant" convert --fairy2i "$ckpt" "$dir/f2.h5" --act-quant int4
expect "generate with a bad --ffn-form" "--ffn-form" generate --ckpt "$ckpt" --prompt-ids 1 \
  --tokens 1 --ffn-form fast

# help_ok ARGS...: exit 0, the help text on stdout, nothing on stderr (help wins over bad args)
help_ok() {
  "$slt" "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  if [[ $rc -ne 0 || ! -s "$dir/out" || -s "$dir/err" ]]; then
    echo "FAIL help '$*': exit $rc, stderr: $(head -c 200 "$dir/err")"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

# absent NAME PATH: a failed command left nothing behind
absent() {
  if [[ -e $2 ]]; then
    echo "FAIL $1: $2 was created"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

# Flags and arguments of every subcommand: one line naming the flag, before anything is done.
for c in train tokenize prepare info eval generate export convert; do help_ok "$c" extra --help; done
help_ok tokenize --tokenizer --help
expect "no command" "missing command"
expect "train without a config" "missing CONFIG.yaml" train
expect "train --resume twice" "--resume given more than once" train "$cfg" "out_dir=$dir/rr" \
  --resume a --resume b
expect "train --resume of a missing file" "nope.h5" train "$cfg" "out_dir=$dir/rn" \
  --resume "$dir/nope.h5"
absent "train --resume of a missing file" "$dir/rn"
# A resume from a file that is not a checkpoint creates no out_dir, and keeps an existing run's
# config.yaml as it was.
expect "train --resume of a non-checkpoint" "not an HDF5 file" train "$cfg" "out_dir=$dir/rb" \
  --resume "$cfg"
absent "train --resume of a non-checkpoint" "$dir/rb"
cp "$dir/lr/config.yaml" "$dir/lr_config_before.yaml"
expect "train --resume of a non-checkpoint into a run" "not an HDF5 file" train "$cfg" \
  "out_dir=$dir/lr" train.steps=7 --resume "$cfg"
if cmp -s "$dir/lr/config.yaml" "$dir/lr_config_before.yaml"; then
  passes=$((passes + 1))
else
  echo "FAIL a failed resume rewrote $dir/lr/config.yaml"
  fails=$((fails + 1))
fi
expect "override before the config" "model.heads" train model.heads=5 "$cfg" "out_dir=$dir/ro" \
  train.steps=1 train.eval_every=0 train.threads=2
expect "a diverging run says so" "training diverged" train "$cfg" "out_dir=$dir/div" \
  train.steps=6 train.eval_every=0 optim.lr=1e30 train.threads=2
expect "info without CKPT" "missing CKPT" info
expect "info with two CKPTs" "one CKPT only" info "$ckpt" extra
expect "info unknown flag" "unknown option '--frob'" info --frob
expect "info --model without CONFIG" "--model needs CONFIG.yaml" info --model
expect "info --model bad override" "model.layers" info --model "$cfg" model.layers=0
expect "info --model stray argument" "overrides are key=value" info --model "$cfg" extra
# info --model's figures are the model's own: a 2-layer d 128 GPT with V 16, T 128 and a dense
# FFN of 512 has 4·128² + 2·128·512 = 196608 block matmul weights per layer; FLOPs per token
# = 3·(2·(16·128 + 2·196608) + 2 layers·2·2·(128/2)·128) = 2568192.
if [ "$("$slt" info --model "$cfg" | sed -n 's/^flops_per_token=//p')" = 2568192 ]; then
  echo "ok   info --model flops_per_token"; passes=$((passes + 1))
else
  echo "FAIL info --model flops_per_token: $("$slt" info --model "$cfg" 2>&1)"; fails=$((fails + 1))
fi
expect "eval without --ckpt" "--ckpt PATH is required" eval
expect "eval --batches overflow" "--batches" eval --ckpt "$ckpt" --data x --batches 99999999999999999999
expect "eval --batch beyond int" "--batch needs" eval --ckpt "$ckpt" --data x --batch 3000000000
expect "eval --threads huge" "--threads needs" eval --ckpt "$ckpt" --data x --threads 100000
expect "eval positional" "unexpected argument 'extra'" eval --ckpt "$ckpt" --data x extra
expect "eval unknown flag at the end" "unknown option '--frob'" eval --ckpt "$ckpt" --data x --frob
expect "eval repeated flag" "--ckpt given more than once" eval --ckpt "$ckpt" --ckpt "$ckpt" \
  --data x
expect "eval empty --data" "--data needs a value" eval --ckpt "$ckpt" --data ""
gen=(generate --ckpt "$ckpt" --prompt-ids "1,2")
expect "generate without --ckpt" "--ckpt PATH is required" generate
expect "generate without --tokens" "--tokens N is required" "${gen[@]}"
expect "generate --tokens 0" "--tokens needs" "${gen[@]}" --tokens 0
expect "generate --tokens beyond int" "--tokens needs" "${gen[@]}" --tokens 99999999999
expect "generate --tokens at INT_MAX" "--tokens 2147483647" "${gen[@]}" --tokens 2147483647
expect "generate KV cache beyond memory" "KV cache" "${gen[@]}" --tokens 2000000000
expect "generate --temperature nan" "--temperature needs" "${gen[@]}" --tokens 1 --temperature nan
expect "generate --temperature inf" "--temperature needs" "${gen[@]}" --tokens 1 --temperature inf
expect "generate --top-k beyond int" "--top-k needs" "${gen[@]}" --tokens 1 --top-k 99999999999
expect "generate --threads 0" "--threads needs" "${gen[@]}" --tokens 1 --threads 0
expect "generate --seed with a space" "--seed needs" "${gen[@]}" --tokens 1 --seed " 5"
expect "generate positional" "unexpected argument 'extra'" "${gen[@]}" --tokens 1 extra
expect "generate repeated flag" "--tokens given more than once" "${gen[@]}" --tokens 1 --tokens 2
expect "generate two prompts" "not both" "${gen[@]}" --prompt hi --tokens 1
expect "generate --tokenizer with ids" "--tokenizer goes with --prompt" "${gen[@]}" \
  --tokenizer bytes --tokens 1
expect "generate trailing comma" "--prompt-ids: bad id" generate --ckpt "$ckpt" --prompt-ids 1, \
  --tokens 1
expect "export to an empty OUT" "OUT is an empty string" export --merge "$ckpt" ""
printf '\001\002\003\004\005\006\007\010%.0s' {1..40} >"$dir/doc"
"$slt" tokenize --tokenizer bytes "$dir/doc" --out "$dir/val.bin" >/dev/null
expect "tokenize over an existing file" "already exists" tokenize --tokenizer bytes "$dir/doc" \
  --out "$dir/val.bin"
expect "tokenize repeated flag" "--tokenizer given more than once" tokenize --tokenizer bytes \
  --tokenizer gpt2 "$dir/doc"
expect "tokenize empty FILE" "FILE is an empty string" tokenize --tokenizer bytes ""
if "$slt" eval --ckpt "$ckpt" --data "$dir/val.bin" --batch 100000000 >/dev/null 2>"$dir/err"; then
  passes=$((passes + 1)) # a batch beyond the data holds all its rows, no huge buffer
else
  echo "FAIL eval with a huge --batch: $(head -c 300 "$dir/err")"
  fails=$((fails + 1))
fi
prep=(prepare --input "$dir/doc" --format text --tokenizer bytes --out "$dir/prep")
expect "prepare --val-fraction garbage" "--val-fraction needs" "${prep[@]}" --val-fraction abc
expect "prepare --shard-tokens trailing garbage" "--shard-tokens needs" "${prep[@]}" \
  --shard-tokens 12x
expect "prepare --shard-tokens overflow" "--shard-tokens needs" "${prep[@]}" \
  --shard-tokens 99999999999999999999999
expect "prepare --threads garbage" "--threads needs" "${prep[@]}" --threads abc
expect "prepare --seed negative" "--seed needs" "${prep[@]}" --seed -5
expect "prepare repeated flag" "--format given more than once" "${prep[@]}" --format jsonl
expect "prepare positional" "unexpected argument 'extra'" "${prep[@]}" extra
expect "prepare --input without paths" "--input needs at least one PATH" prepare --input \
  --format text --tokenizer bytes --out "$dir/prep"
absent "prepare usage errors" "$dir/prep"

# Training data that cannot give what the run asks of it fails before the run, naming the key,
# the file and the sizes; a val file that is also a train file is said, not silently used.
printf 'abcdefghijklmnopqrstuvwxyz %.0s' {1..60} >"$dir/doc2"
"$slt" tokenize --tokenizer bytes "$dir/doc2" --out "$dir/train.bin" >/dev/null # 12 rows of 129
shards=(train "$cfg" "out_dir=$dir/sh" data.source=shards model.vocab_size=256 model.layers=1
  model.d_model=32 model.heads=2 train.steps=1 train.threads=2 train.eval_every=0)
expect "train shards below one global batch" "data.train: $dir/val.bin holds 2 rows" \
  "${shards[@]}" data.train="$dir/val.bin" data.val="$dir/train.bin"
expect "train shards below a batch with accumulation" "global batch of 16 rows" "${shards[@]}" \
  data.train="$dir/train.bin" data.val="$dir/val.bin" train.grad_accum=2
expect "val shards below one evaluation" "data.val: $dir/val.bin holds 2 rows" "${shards[@]}" \
  data.train="$dir/train.bin" data.val="$dir/val.bin" train.eval_every=1 train.eval_batches=2
expect "a directory as shards" "$dir: not a regular file (a directory)" "${shards[@]}" \
  data.train="$dir" data.val="$dir/val.bin"
mkdir "$dir/linked"
cp "$dir/train.bin" "$dir/linked/a.bin"
ln -s "$dir/linked/a.bin" "$dir/linked/b.bin"
expect "one shard twice through a link" "b.bin: the same file as $dir/linked/a.bin" \
  "${shards[@]}" data.train="$dir/linked/*.bin" data.val="$dir/val.bin"
ln -s "$dir/train.bin" "$dir/train_alias.bin"
if "$slt" "${shards[@]}" data.train="$dir/train.bin" data.val="$dir/train_alias.bin" >"$dir/out" \
  2>"$dir/err" && grep -qF "warning: data.val file $dir/train_alias.bin is also in data.train" \
  "$dir/out" && [[ ! -s "$dir/err" ]]; then
  passes=$((passes + 1))
else
  echo "FAIL val shards that are train shards: exit $?, no warning: $(head -c 300 "$dir/err")"
  fails=$((fails + 1))
fi

# A synthetic table far too large is refused at once, before a model of that vocabulary is built
# (which took a minute and gigabytes): timeout makes the old order fail.
start=$SECONDS
timeout -s KILL 30 "$slt" train "$cfg" "out_dir=$dir/hv" model.vocab_size=16777216 \
  data.synthetic.vocab=16777216 >/dev/null 2>"$dir/err"
if ((SECONDS - start <= 10)) && grep -qF "table entries, above the limit" "$dir/err"; then
  passes=$((passes + 1))
else
  echo "FAIL synthetic table too large: $((SECONDS - start)) s, $(head -c 300 "$dir/err")"
  fails=$((fails + 1))
fi

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
