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

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
