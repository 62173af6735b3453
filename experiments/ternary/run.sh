#!/usr/bin/env bash
# Ternary experiment (issue 16 item 6): FloatLM vs TriLM vs BitNet b1.58 at 3 sizes of the tiny
# family (d_model 64/96/128, 4 layers), 2 seeds, the same tokens (300 steps x 16 x 128 bytes of
# the shared corpus; the same seed gives the same data order in every method); and LowRank FFNs
# at ~32% + ternary (TriLM) vs dense ternary at d 128 at equal training FLOPs.
#   bash experiments/ternary/run.sh [SLT_BINARY] [JOBS]
# Resumable (finished runs are skipped). Writes runs/ternary/..., experiments/ternary/results.md
# and ternary.png. About 35 minutes on 2 shared cores (load ~9) with JOBS=2, train.threads=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
jobs=${2:-2}
bash experiments/tools/prepare_corpus.sh "$slt" bytes
t0=$(date +%s)
for s in floatlm trilm bitnet lowrank_trilm; do
  "$slt" sweep "experiments/ternary/$s.yaml" --jobs "$jobs"
done
echo "ternary: sweeps took $(($(date +%s) - t0)) s this invocation"
/usr/bin/python3 experiments/ternary/summarize.py runs/ternary experiments/ternary
