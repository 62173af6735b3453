#!/usr/bin/env bash
# Complex experiment (issue 17 item 5), at the d_model 64 size of the tiny family (4 layers):
#  (a) equal weight memory (2 bits per weight): iFairy (64 complex dims, weights in {±1, ±i}·s)
#      vs BitNet b1.58 (64 real dims, ternary) — the same number of block weights — and FloatLM
#      at the same shape (the full-precision reference, 16x the memory in fp32) and at the same
#      memory in fp16 (d 24); the same tokens (300 steps x 16 x 128 bytes), seeds 1 and 2.
#  (b) Fairy2i: the trained FloatLM d 64 seed 1 converted to a widely-linear complex model
#      (slt convert --fairy2i; its val loss must equal the FloatLM's), the same model with
#      2-stage residual PhaseQuant before any training (PTQ), then W2 QAT for 200 steps
#      (train.init_from, phasequant.stages 2, lr 1e-3, fresh data order seed 11).
#   bash experiments/complex/run.sh [SLT_BINARY] [JOBS]
# Resumable. Writes runs/complex/..., experiments/complex/results_table.md and complex.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
slt=${1:-build/slt}
jobs=${2:-2}
bash experiments/tools/prepare_corpus.sh "$slt" bytes
t0=$(date +%s)
for s in floatlm bitnet; do   # the d 64 runs of the ternary experiment (skipped when done;
  # when experiments/ternary/run.sh holds that sweep directory it will train them instead)
  "$slt" sweep "experiments/ternary/$s.yaml" --jobs "$jobs" --only 'd_model=64,' || true
done
for s in ifairy floatlm_eqmem; do
  "$slt" sweep "experiments/complex/$s.yaml" --jobs "$jobs"
done
# Fairy2i
src=$(ls "runs/ternary/floatlm/d_model=64,heads=2,ffn_dim=176,seed=1"/ckpt_*.h5 | tail -1)
f2i=runs/complex/fairy2i
mkdir -p $f2i
val='runs/corpus/bytes/val_*.bin'
ev() { "$slt" eval --ckpt "$1" --data "$val" --batches 48 --batch 16 --threads 1 | tee "$2"; }
[ -e $f2i/exact.h5 ] || "$slt" convert --fairy2i "$src" $f2i/exact.h5
[ -e $f2i/pq2.h5 ] || "$slt" convert --fairy2i "$src" $f2i/pq2.h5 --stages 2
[ -s $f2i/eval_float.txt ] || ev "$src" $f2i/eval_float.txt
[ -s $f2i/eval_exact.txt ] || ev $f2i/exact.h5 $f2i/eval_exact.txt
[ -s $f2i/eval_ptq.txt ] || ev $f2i/pq2.h5 $f2i/eval_ptq.txt
if [ ! -e $f2i/qat/DONE ]; then
  "$slt" train "runs/ternary/floatlm/d_model=64,heads=2,ffn_dim=176,seed=1/config.yaml" \
    out_dir=$f2i/qat seed=11 model.arch=fairy2i model.d_model=32 model.ffn_dim=88 \
    model.phasequant.stages=2 train.init_from=$f2i/pq2.h5 optim.lr=1.0e-3 schedule.name=cosine \
    schedule.warmup=20 schedule.min_lr_ratio=0.1 train.steps=200 train.eval_every=200 \
    train.ckpt_every=200 train.keep_last=1 train.threads=1 | tee $f2i/qat.log
  touch $f2i/qat/DONE
fi
[ -s $f2i/eval_qat.txt ] || ev "$(ls $f2i/qat/ckpt_*.h5 | tail -1)" $f2i/eval_qat.txt
echo "complex: took $(($(date +%s) - t0)) s this invocation"
/usr/bin/python3 experiments/complex/summarize.py runs experiments/complex
