# Shared by the CLI error scripts (sourced, with the script's own arguments: SLT_BINARY): the
# binary ($slt), a scratch directory removed on exit ($dir), the quickstart config ($cfg), the
# `expect` check and its pass/fail counters.
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
