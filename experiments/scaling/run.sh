#!/usr/bin/env bash
# Scaling-law experiment (issue 18): dense vs LowRank vs BlockDense FFNs at ~63% and ~32% of the
# dense FFN's parameters, 5 widths each (the 2 smallest with a second seed), every run trained on
# 4 bytes per non-embedding parameter of the shared corpus; then the compute law
# L(C) = E + A·C^-α per family with bootstrap intervals, and a plot.
#   bash experiments/scaling/run.sh [SLT_BINARY] [JOBS]
# Resumable: rerun after an interruption; finished runs are skipped, cut ones resume.
# Writes runs/scaling/<family>/..., experiments/scaling/results.csv, fit.txt and scaling.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
jobs=${2:-2}
families=(dense lowrank63 lowrank32 blockdense63 blockdense32)
bash experiments/tools/prepare_corpus.sh "$slt" bytes
t0=$(date +%s)
for f in "${families[@]}"; do
  "$slt" sweep "experiments/scaling/$f.yaml" --jobs "$jobs"
done
echo "scaling: sweeps took $(($(date +%s) - t0)) s this invocation"
here=experiments/scaling
/usr/bin/python3 $here/merge.py $here/results.csv $(for f in "${families[@]}"; do echo runs/scaling/$f/results.csv; done)
"$slt" fit $here/results.csv --law compute --by family --bootstrap 500 --seed 1 \
  --plot $here/scaling.png | tee $here/fit.txt
