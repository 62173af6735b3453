#!/usr/bin/env bash
# Self-guided training experiment (issue 6): dense vs LowRank 32% vs LowRank 32% + SGT
# (fixedflop) at equal training FLOPs, on byte tokens of ../shared/data's RefinedWeb sample.
#
#   bash experiments/sgt/run.sh [SLT_BINARY] [DENSE_STEPS]
#
# Writes runs/sgt/<run>/metrics.jsonl, runs/sgt/curves.dat, runs/sgt/results.md and
# experiments/sgt/curves.png (val loss against training FLOPs).
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
dense_steps=${2:-500}
data=${SLT_TEST_DATA:-../shared/data}/refinedweb-sample/rw.jsonl
out=${SGT_OUT:-runs/sgt}
base=experiments/sgt/base.yaml
ratio=0.3 # the paper's fixedflop ratio for its smallest size

[ -x "$slt" ] || { echo "run.sh: $slt is not an executable (build first)" >&2; exit 1; }
[ -f "$data" ] || { echo "run.sh: missing $data (set SLT_TEST_DATA)" >&2; exit 1; }
mkdir -p "$out"
if [ ! -f "$out/data/train_000000.bin" ]; then
  "$slt" prepare --input "$data" --format jsonl --out "$out/data" --tokenizer bytes \
    --val-fraction 0.1
fi

# The model's shape, read from base.yaml's model section.
key() { awk -v k="$1" '$1 == k":" {print $2; exit}' "$base"; }
L=$(key layers) C=$(key d_model) F=$(key ffn_dim) V=$(key vocab_size) T=$(key seq_len)
rank=$((C * F / (C + F) * 5 / 16)) # rank for 31.25% of each structured linear's weights
rank=$(((rank + 4) / 8 * 8))

# Training FLOPs per token, as the model itself counts them (slt info --model: the same
# flops_per_token the trainer's MFU uses), and the FFN weights the guides run densely.
model_key() { local k=$1; shift; "$slt" info --model "$base" "$@" | sed -n "s/^$k=//p"; }
f_dense=$(model_key flops_per_token)
f_low=$(model_key flops_per_token model.ffn.kind=lowrank model.ffn.rank="$rank")
# The guides' dense path (forward and backward: 6 FLOPs per weight) per token, over the
# structured layers (all but layer 0): their dense fc1 and fc2 weights, C x F each.
g=$((6 * 2 * C * F * (L - 1)))
low_steps=$(awk -v n="$dense_steps" -v d="$f_dense" -v l="$f_low" 'BEGIN {printf "%d", n * d / l + 0.5}')
# fixedflop: S steps, T = ratio*S guided steps (mean alpha 1/2, reduce_flop), then T re-read.
sgt_steps=$(awk -v n="$dense_steps" -v d="$f_dense" -v l="$f_low" -v g="$g" -v r="$ratio" \
  'BEGIN {printf "%d", n * d / ((1 + r) * l + r * g / 2) + 0.5}')
echo "FLOPs/token: dense $f_dense, lowrank (rank $rank) $f_low, guide path $g"
echo "steps: dense $dense_steps, lowrank $low_steps, lowrank+sgt $sgt_steps (+ guided re-read)"

run() { # name, extra overrides...
  local name=$1
  shift
  if [ -f "$out/$name/done" ]; then echo "$name: already done"; return; fi
  rm -rf "${out:?}/$name"
  "$slt" train "$base" out_dir="$out/$name" "$@" | tee "$out/$name.log" | grep -E "^(model: |sgt: |done|final)"
  touch "$out/$name/done"
}
common=(data.train="$out/data/train_*.bin" data.val="$out/data/val_*.bin")
run dense "${common[@]}" train.steps="$dense_steps"
run lowrank32 "${common[@]}" train.steps="$low_steps" model.ffn.kind=lowrank model.ffn.rank="$rank"
run lowrank32_sgt "${common[@]}" train.steps="$sgt_steps" model.ffn.kind=lowrank \
  model.ffn.rank="$rank" sgt.enabled=true sgt.mode=fixedflop sgt.ratio="$ratio" \
  sgt.reduce_flop=true

# Val loss against cumulative training FLOPs (the guides' expected cost counted while guiding).
curve() { # name, flops/token, guided steps
  awk -v f="$2" -v g="$g" -v tg="$3" -v tok=$((16 * T)) -v name="$1" '
    BEGIN { pi = atan2(0, -1) }
    /"val_loss"/ {
      match($0, /"step":[0-9]+/); s = substr($0, RSTART + 7, RLENGTH - 7) + 0;
      match($0, /"val_loss":[0-9.eE+-]+/); v = substr($0, RSTART + 11, RLENGTH - 11) + 0;
      a = 0; for (t = 0; t < s && t < tg; t++) a += 0.5 * (1 + cos(pi * t / tg));
      printf "%s %.6g %.5f\n", name, (s * f + a * g) * tok, v }' "$out/$1/metrics.jsonl"
}
{
  curve dense "$f_dense" 0
  curve lowrank32 "$f_low" 0
  curve lowrank32_sgt "$f_low" "$(awk -v s="$sgt_steps" -v r="$ratio" 'BEGIN {printf "%d", s * r}')"
} >"$out/curves.dat"

final() { awk -v n="$1" '$1 == n {v = $3; f = $2} END {printf "%.4f | %.3g", v, f}' "$out/curves.dat"; }
{
  echo "| run | steps | FLOPs/token | final val loss | training FLOPs |"
  echo "|---|---|---|---|---|"
  echo "| dense | $dense_steps | $f_dense | $(final dense) |"
  echo "| LowRank 32% (rank $rank) | $low_steps | $f_low | $(final lowrank32) |"
  echo "| LowRank 32% + SGT fixedflop $ratio | $sgt_steps + $(awk -v s="$sgt_steps" -v r="$ratio" 'BEGIN {printf "%d", s * r}') | $f_low (+ guides) | $(final lowrank32_sgt) |"
} | tee "$out/results.md" experiments/sgt/results.md

gnuplot <<EOF
set terminal pngcairo size 900,560
set output "experiments/sgt/curves.png"
set title "Byte-level GPT (4 layers, d $C) on the RefinedWeb sample, equal training FLOPs"
set xlabel "training FLOPs"
set format x "%.1te%T"
set rmargin 4
set ylabel "val loss (nats/byte)"
set grid
set key top right
plot "< awk '\$1==\"dense\"' $out/curves.dat" using 2:3 with lines lw 2 title "dense", \
     "< awk '\$1==\"lowrank32\"' $out/curves.dat" using 2:3 with lines lw 2 title "LowRank 32%", \
     "< awk '\$1==\"lowrank32_sgt\"' $out/curves.dat" using 2:3 with lines lw 2 title "LowRank 32% + SGT (fixedflop)"
EOF
echo "plot: experiments/sgt/curves.png"
