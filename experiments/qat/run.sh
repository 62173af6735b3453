#!/usr/bin/env bash
# QAT experiment (issue 15): a tiny byte-level GPT (experiments/qat/base.yaml) trained fp32 and
# with fake-quant weights/activations on every block linear, 2 seeds each, plus LowRank 32% runs.
# Each seed's runs read the same tokens in the same order (seed sets init and data order).
#
#   bash experiments/qat/run.sh [SLT_BINARY] [STEPS] [JOBS]
#
# Data: ${SLT_CORPUS:-runs/corpus}/bytes, prepared by experiments/tools/prepare_corpus.sh when
# missing. Writes runs/qat/<variant>_s<seed>/, runs/qat/curves.dat, the final-loss table
# runs/qat/table.md (copied into experiments/qat/results.md by hand, with the reading) and
# experiments/qat/curves.png. Reruns skip finished runs and rebuild the table and plot.
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
steps=${2:-200}
jobs=${3:-2}
corpus=${SLT_CORPUS:-runs/corpus}/bytes
out=${QAT_OUT:-runs/qat}
base=experiments/qat/base.yaml
[ -x "$slt" ] || { echo "run.sh: $slt is not an executable (build first)" >&2; exit 1; }
[ -f "$corpus/DONE" ] || bash experiments/tools/prepare_corpus.sh "$slt" bytes
mkdir -p "$out"

W=model.quant.weight A=model.quant.act
# variant name | label | overrides
variants() {
  cat <<V
fp32|fp32|
w8a8|W8A8 (int8 per channel / int8 per token)|$W.kind=int $W.bits=8 $A.kind=int $A.bits=8
w4a8_ch|W4A8 (int4 per channel / int8 per token)|$W.kind=int $W.bits=4 $A.kind=int $A.bits=8
w4a8_g64|W4A8 (int4 group 64 / int8 per token)|$W.kind=int $W.bits=4 $W.granularity=group $W.group_size=64 $A.kind=int $A.bits=8
w4a8_lsq|W4A8 LSQ (LSQ int4 per channel / int8 per token)|$W.kind=lsq $W.bits=4 $A.kind=int $A.bits=8
fp8|FP8 (E4M3 per channel / E4M3 per token)|$W.kind=fp $W.format=e4m3 $A.kind=fp $A.format=e4m3
mxfp4|MXFP4 weights, MXFP8 (E4M3) activations|$W.kind=mx $W.format=e2m1 $A.kind=mx $A.format=e4m3
V
}
# LowRank 32%: rank = C*F/(C+F) * 5/16 rounded to 8 (as experiments/sgt), first layer dense.
key() { awk -v k="$1" '$1 == k":" {print $2; exit}' "$base"; }
C=$(key d_model) F=$(key ffn_dim)
rank=$((C * F / (C + F) * 5 / 16))
rank=$(((rank + 4) / 8 * 8))
LR="model.ffn.kind=lowrank model.ffn.rank=$rank"
extra() {
  cat <<V
lowrank32|LowRank 32% (rank $rank) fp32|$LR
lowrank32_w4a8|LowRank 32% (rank $rank) + W4A8 per channel|$LR $W.kind=int $W.bits=4 $A.kind=int $A.bits=8
V
}

# One job line per run: name, then overrides.
{
  for seed in 1 2; do
    variants | while IFS='|' read -r name _ ov; do echo "${name}_s$seed seed=$seed $ov"; done
  done
  extra | while IFS='|' read -r name _ ov; do echo "${name}_s1 seed=1 $ov"; done
} | sed 's/ *$//' >"$out/jobs.txt" # xargs -L joins a line ending in a blank to the next

train_one() { # name overrides...
  local name=$1
  shift
  [ -f "$out/$name/done" ] && { echo "$name: already done"; return 0; }
  rm -rf "${out:?}/$name"
  # shellcheck disable=SC2068
  if "$slt" train "$base" out_dir="$out/$name" train.steps="$steps" data.train="$corpus/train_*.bin" \
    data.val="$corpus/val_*.bin" $@ >"$out/$name.log" 2>&1; then
    touch "$out/$name/done"
    echo "$name: $(grep '^final val loss' "$out/$name.log")"
  else
    echo "$name: FAILED (see $out/$name.log)" >&2
  fi
}
export -f train_one
export slt base out steps corpus
xargs -P "$jobs" -L 1 bash -c 'train_one "$@"' _ <"$out/jobs.txt"

# Val-loss curves: "name step val_loss" rows.
for d in "$out"/*/done; do
  name=$(basename "$(dirname "$d")")
  awk -v n="$name" '/"val_loss"/ {
      match($0, /"step":[0-9]+/); s = substr($0, RSTART + 7, RLENGTH - 7);
      match($0, /"val_loss":[0-9.eE+-]+/); v = substr($0, RSTART + 11, RLENGTH - 11);
      print n, s, v }' "$out/$name/metrics.jsonl"
done >"$out/curves.dat"

final() { awk -v n="$1" '$1 == n {v = $3} END {print v}' "$out/curves.dat"; }
{
  echo "| run | seed 1 | seed 2 | mean | spread (s2 - s1) | mean - fp32 |"
  echo "|---|---|---|---|---|---|"
  f1=$(final fp32_s1) f2=$(final fp32_s2)
  variants | while IFS='|' read -r name label _; do
    a=$(final "${name}_s1") b=$(final "${name}_s2")
    awk -v l="$label" -v a="$a" -v b="$b" -v f1="$f1" -v f2="$f2" 'BEGIN {
      printf "| %s | %.4f | %.4f | %.4f | %+.4f | %+.4f |\n", l, a, b, (a + b) / 2, b - a, (a + b - f1 - f2) / 2 }'
  done
  extra | while IFS='|' read -r name label _; do
    awk -v l="$label" -v a="$(final "${name}_s1")" -v f1="$f1" 'BEGIN {
      printf "| %s | %.4f | — | — | — | %+.4f (vs fp32 seed 1) |\n", l, a, a - f1 }'
  done
} | tee "$out/table.md"

plot_lines() { # one data file per run, one line each: colour per variant, dash per seed
  local sep="" i=0
  local colours=(black "#1f77b4" "#2ca02c" "#ff7f0e" "#d62728" "#9467bd" "#8c564b" "#e377c2" "#7f7f7f")
  mkdir -p "$out/curves"
  { variants; extra; } | while IFS='|' read -r name label _; do
    for s in 1 2; do
      grep -q "^${name}_s$s " "$out/curves.dat" || continue
      awk -v n="${name}_s$s" '$1 == n {print $2, $3}' "$out/curves.dat" >"$out/curves/${name}_s$s.dat"
      printf '%s"%s" using 1:2 with lines lw 2 lc rgb "%s" dt %d title "%s, seed %d"' \
        "$sep" "$out/curves/${name}_s$s.dat" "${colours[i]}" "$s" "$label" "$s"
      sep=", "
    done
    i=$((i + 1))
  done
}
gnuplot <<G
set terminal pngcairo size 1100,700
set output "experiments/qat/curves.png"
set title "Byte-level GPT (4 layers, d $C, T 128) on the RefinedWeb-schema corpus: QAT val loss, $steps steps"
set xlabel "step"
set ylabel "val loss (nats/byte)"
set yrange [*:3.0]
set grid
set key top right font ",8"
plot $(plot_lines)
G
echo "plot: experiments/qat/curves.png"
