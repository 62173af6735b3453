#!/usr/bin/env bash
# Training-loss curves, fp32 vs bf16, of run.sh's runs: bf16_numerics.png.
# usage: bash experiments/bf16_numerics/plot.sh [OUT_DIR]   (OUT_DIR as given to run.sh)
set -euo pipefail
OUT=${1:-runs/bf16_numerics}
HERE=$(cd "$(dirname "$0")" && pwd)
for r in quickstart floatlm_tiny floatlm_tiny_s2; do
  for p in fp32 bf16; do
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "loss" in r: print(r["step"], r["loss"])' "$OUT/${r}_$p/metrics.jsonl" > "$OUT/${r}_$p.dat"
  done
done
gnuplot <<GP
set terminal pngcairo size 1100,420
set output "$HERE/bf16_numerics.png"
set multiplot layout 1,2
set xlabel "step"; set ylabel "training loss (nats)"; set key top right; set grid
set title "quickstart (synthetic source)"
plot "$OUT/quickstart_fp32.dat" w l lw 2 t "fp32", "$OUT/quickstart_bf16.dat" w l lw 2 dt 2 t "bf16"
set title "floatlm\\\\_tiny on the byte corpus, seeds 1005 / 1006"
plot "$OUT/floatlm_tiny_fp32.dat" w l lw 2 lc 1 t "fp32 s1005", "$OUT/floatlm_tiny_bf16.dat" w l lw 2 dt 2 lc 1 t "bf16 s1005", \
     "$OUT/floatlm_tiny_s2_fp32.dat" w l lw 2 lc 2 t "fp32 s1006", "$OUT/floatlm_tiny_s2_bf16.dat" w l lw 2 dt 2 lc 2 t "bf16 s1006"
GP
echo "wrote $HERE/bf16_numerics.png"
