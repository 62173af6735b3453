#!/usr/bin/env bash
# slt fit end to end: tables generated here from known laws (CSV and the same runs as JSONL), the
# printed table and interval comparison, --plot writing a PNG, and each misuse as one line with
# exit 2 (usage) or 1 (the data). usage: fit_cli.sh SLT_BINARY
set -u
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh" # slt, dir; expect; passes, fails

# check NAME CONDITION...: count the condition's outcome, printing the output on failure
check() {
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
    passes=$((passes + 1))
  else
    echo "FAIL $name:"
    sed 's/^/    /' "$dir/out" "$dir/err"
    fails=$((fails + 1))
  fi
}

# code RC NAME WANT ARGS...: exit status exactly RC, one stderr line containing WANT
code() {
  local rc=$1 name=$2 want=$3
  shift 3
  "$slt" "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  # shellcheck disable=SC2016 # expanded by the inner bash
  check "$name (exit $got): $(head -n 1 "$dir/err")" bash -c \
    '[[ $0 -eq $1 && $(wc -l <"$2") -eq 1 ]] && grep -qF -- "$3" "$2"' "$got" "$rc" "$dir/err" "$want"
}

# Two families, L = E + A*C^-alpha with alpha 0.08 (dense) and 0.16 (lowrank), 0.1% noise,
# 8 budgets from 1e15 to 1e22 FLOPs each; one unfinished run, one diverged.
awk 'BEGIN {
  OFS = ","; print "name,ffn,params,tokens,flops,val_loss,status"
  for (f = 0; f < 2; f++) for (i = 0; i < 8; i++) {
    C = 1e15 * 10 ^ i; al = f ? 0.16 : 0.08; A = f ? 3000 : 60
    L = (1.8 + A * exp(-al * log(C))) * exp(0.001 * sin(12.9898 * (i + 8 * f)))
    print "r" f i, (f ? "lowrank" : "dense"), 1e6 * 2 ^ i, C / (6e6 * 2 ^ i), C, L, "done"
  }
  print "r99,dense,1e6,1e9,6e15,,running"; print "r98,lowrank,1e6,1e9,6e15,nan,done"
}' >"$dir/r.csv"
# The same runs as JSONL (the statuses and the missing loss as JSON allows).
awk -F, 'NR > 1 {
  printf "{\"name\": \"%s\", \"ffn\": \"%s\", \"flops\": %s, \"val_loss\": %s, \"status\": \"%s\"}\n",
    $1, $2, $5, ($6 == "" ? "null" : $6 == "nan" ? "NaN" : $6), $7 }' "$dir/r.csv" >"$dir/r.jsonl"

"$slt" fit "$dir/r.csv" --by ffn --bootstrap 200 --plot "$dir/fit.png" >"$dir/out" 2>"$dir/err"
check "compute law: exit 0, nothing on stderr" test $? -eq 0 -a ! -s "$dir/err"
check "counts" grep -qF "16 runs in 2 families (by ffn); skipped 1 with a status other than done and 1 without a finite val_loss" "$dir/out"
check "table header" grep -qE '^family +runs +E +A +alpha$' "$dir/out"
# each family's alpha (the last column's point value) near its truth
alpha() { awk -v fam="$1" '$1 == fam && $2 == 8 { print $(NF - 2) }' "$dir/out"; }
near() { awk -v v="$1" -v t="$2" 'BEGIN { exit !(v != "" && v / t > 0.97 && v / t < 1.03) }'; }
check "dense alpha ~0.08 ($(alpha dense))" near "$(alpha dense)" 0.08
check "lowrank alpha ~0.16 ($(alpha lowrank))" near "$(alpha lowrank)" 0.16
check "intervals compared" grep -qE '^alpha: dense \[.*\] and lowrank \[.*\] do not overlap: lowrank has the larger alpha \(steeper\)$' "$dir/out"
check "PNG written" test -s "$dir/fit.png"
check "PNG magic" test "$(head -c 4 "$dir/fit.png" | tail -c 3)" = "PNG"
sed 1d "$dir/out" | grep -v '^plot:' >"$dir/csv.out"

"$slt" fit "$dir/r.jsonl" --by ffn --bootstrap 200 >"$dir/out" 2>"$dir/err"
check "JSONL: exit 0" test $? -eq 0 -a ! -s "$dir/err"
check "JSONL: the same fit as CSV" cmp -s "$dir/csv.out" <(sed 1d "$dir/out")

"$slt" fit "$dir/r.csv" --by ffn --bootstrap 200 --seed 7 >"$dir/out" 2>&1
check "another seed: other intervals" bash -c "! cmp -s '$dir/csv.out' <(sed 1d '$dir/out')"

"$slt" fit "$dir/r.csv" --by ffn --bootstrap 200 --bootstrap-grid >"$dir/out" 2>"$dir/err"
check "--bootstrap-grid said" grep -qF "each refitted from the whole start grid" "$dir/out"
check "--bootstrap-grid: the same alphas" near "$(alpha lowrank)" 0.16

# Approach 3: one family, 16 runs of Hoffmann et al.'s published law.
awk 'BEGIN {
  OFS = ","; print "params,tokens,val_loss"
  for (i = 0; i < 4; i++) for (j = 0; j < 4; j++) {
    N = 1e7 * 10 ^ (0.66 * i); D = 1e8 * 10 ^ j
    print N, D, (1.69 + 406.4 * N ^ -0.34 + 410.7 * D ^ -0.28) * exp(0.001 * sin(3.7 * (4 * i + j)))
  }
}' >"$dir/c.csv"
"$slt" fit "$dir/c.csv" --law chinchilla --bootstrap 20 --plot "$dir/c.png" >"$dir/out" 2>"$dir/err"
check "chinchilla: exit 0" test $? -eq 0 -a ! -s "$dir/err"
check "chinchilla header" grep -qE '^family +runs +E +A +B +alpha +beta +a +b$' "$dir/out"
chin() { awk -v col="$1" '$1 == "all" && $2 == 16 { print $col }' "$dir/out"; }
check "chinchilla E ~1.69 ($(chin 3))" near "$(chin 3)" 1.69
check "chinchilla alpha ~0.34 ($(chin 12))" near "$(chin 12)" 0.34
check "chinchilla beta ~0.28 ($(chin 15))" near "$(chin 15)" 0.28
check "chinchilla PNG" test -s "$dir/c.png"

# Misuse: usage (2) and data (1) errors, one line each.
printf 'flops,val_loss\n1e16,3\n2e16\n' >"$dir/ragged.csv"
printf 'flops,val_loss\n1e16,3\n2e16,x3\n' >"$dir/badnum.csv"
code 2 "no RESULTS" "missing RESULTS" fit
code 2 "bad --law" "--law needs compute or chinchilla" fit "$dir/r.csv" --law kaplan
code 2 "bad --bootstrap" "--bootstrap needs" fit "$dir/r.csv" --bootstrap -1
code 2 "unknown option" "--frobnicate" fit "$dir/r.csv" --frobnicate
code 2 "two RESULTS" "one RESULTS only" fit "$dir/r.csv" "$dir/c.csv"
code 2 "--by twice" "--by given more than once" fit "$dir/r.csv" --by ffn --by ffn
code 1 "missing file" "nope.csv: cannot open" fit "$dir/nope.csv"
code 1 "missing column" "c.csv: no column 'flops'" fit "$dir/c.csv"
code 1 "missing --by column" "r.csv: no column 'arch'" fit "$dir/r.csv" --by arch
code 1 "ragged line" "ragged.csv:3: 1 field but the header has 2 columns" fit "$dir/ragged.csv"
code 1 "bad number" "badnum.csv:3: column 'val_loss': 'x3' is not a number" fit "$dir/badnum.csv"
code 1 "fewer runs than parameters" "has 1 usable run, fewer than the 3 parameters" fit \
  "$dir/r.csv" --by name
code 1 "plot over an existing file" "already exists" fit "$dir/r.csv" --plot "$dir/fit.png"
PATH=/nonexistent "$slt" fit "$dir/r.csv" --bootstrap 0 --plot "$dir/x.png" >"$dir/out" 2>"$dir/err"
check "gnuplot missing: exit 1" test $? -eq 1 -a "$(wc -l <"$dir/err")" -eq 1
check "gnuplot missing: said" grep -qF "gnuplot" "$dir/err"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
