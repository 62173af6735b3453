#!/usr/bin/env bash
# Bad configs and flags each give exactly one clear error line (naming the key or file) and a
# non-zero exit, never a crash. usage: cli_errors.sh SLT_BINARY
set -u
slt=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cfg="$(dirname "$0")/../configs/quickstart.yaml"
fails=0
passes=0

# expect NAME EXPECTED_SUBSTRING ARGS...: exit 1 or 2, one stderr line containing the substring
expect() {
  local name=$1 want=$2
  shift 2
  "$slt" "$@" >"$dir/out" 2>"$dir/err"
  local rc=$? lines
  lines=$(wc -l <"$dir/err")
  if [[ $rc -ne 1 && $rc -ne 2 ]] || [[ $lines -ne 1 ]] || ! grep -qF -- "$want" "$dir/err"; then
    echo "FAIL $name: exit $rc, $lines stderr line(s), wanted '$want':"
    sed 's/^/    /' "$dir/err"
    fails=$((fails + 1))
  else
    echo "ok   $name: $(cat "$dir/err")"
    passes=$((passes + 1))
  fi
}

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
expect "export of a dense checkpoint" "already dense" export --merge "$dir/merged.h5" "$dir/m2.h5"
expect "generate with a bad --ffn-form" "--ffn-form" generate --ckpt "$ckpt" --prompt-ids 1 \
  --tokens 1 --ffn-form fast

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
