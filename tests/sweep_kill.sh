#!/usr/bin/env bash
# slt sweep survives a killed machine: a 4-run tiny sweep (40 steps each, a checkpoint every 10)
# runs to the end in one copy; a second copy is frozen mid-way (one run done, the running ones
# past a checkpoint), SIGKILLed with all its children, and rerun. The rerun must skip the finished
# runs, resume the interrupted ones from their checkpoints (never from scratch), log each step
# once, and give the same results.csv as the uninterrupted copy (wall seconds aside) with the
# same losses at every step.
# usage: tests/sweep_kill.sh SLT_BINARY
set -u
SLT=${1:?usage: sweep_kill.sh SLT_BINARY}
SRC=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/slt_sweepkill_XXXXXX)
pids=""
cleanup() {
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "sweep_kill: FAIL: $*" >&2; exit 1; }

for copy in a b; do
  mkdir -p "$dir/$copy"
  cat > "$dir/$copy/sweep.yaml" <<EOF
base: $SRC/configs/quickstart.yaml
out: out
set: {model.d_model: 32, model.layers: 1, model.ffn.first_layer_dense: false,
      train.ckpt_every: 10, train.eval_every: 20, train.eval_batches: 2, train.log_every: 1}
runs: {model.ffn.kind: [dense, lowrank], model.ffn.rank: [0, 8]}
seeds: [1, 2]
derive: {tokens: 40960}   # 40 steps of 8 x 128 tokens
EOF
done
start=$SECONDS

# Copy a: straight through.
"$SLT" sweep "$dir/a/sweep.yaml" --jobs 2 > "$dir/a.out" 2>&1 || fail "copy a: $(tail -3 "$dir/a.out")"
[ "$(ls "$dir"/a/out/*/DONE | wc -l)" = 4 ] || fail "copy a: not 4 DONE markers"

# Copy b: run it, freeze the sweep and its runs now and then, and SIGKILL them all once the state
# asks for it (need_done: runs DONE at least; every started run has a checkpoint, so none need
# start again from scratch; need_running: runs in progress at least). Prints the runs killed
# mid-way into the file cut; returns 1 when the sweep ended first.
kill_midway() {
  local need_done=$1 need_running=$2 log=$3 cut=$4 i run done_n ready running
  : > "$cut"
  "$SLT" sweep "$dir/b/sweep.yaml" --jobs 2 > "$log" 2>&1 &
  sweep=$!
  pids="$sweep"
  for ((i = 0; i < 3000; i++)); do
    sleep 0.02
    kill -STOP "$sweep" 2>/dev/null || break
    kids=$(pgrep -P "$sweep" | tr '\n' ' ')
    pids="$sweep $kids"
    [ -n "$kids" ] && kill -STOP $kids 2>/dev/null
    done_n=0 ready=1 running=""
    for run in "$dir"/b/out/*/; do
      [ -e "$run/train.log" ] || continue
      if [ -e "$run/DONE" ]; then done_n=$((done_n + 1)); continue; fi
      running="$running $run"
      ls "$run"/ckpt_*.h5 > /dev/null 2>&1 || ready=0
    done
    if [ $done_n -ge "$need_done" ] && [ $(echo $running | wc -w) -ge "$need_running" ] &&
      [ $ready = 1 ]; then
      kill -9 $kids "$sweep" 2>/dev/null
      { wait "$sweep"; } 2>/dev/null
      for p in $kids; do # the runs die too: no orphan keeps training
        for ((w = 0; w < 100; w++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$p" 2>/dev/null && fail "run process $p survived the kill"
      done
      pids=""
      echo $running > "$cut"
      return 0
    fi
    [ -n "$kids" ] && kill -CONT $kids 2>/dev/null
    kill -CONT "$sweep"
  done
  wait "$sweep"
  pids=""
  return 1
}

# Kill 1: the first runs mid-way, nothing done yet.
kill_midway 0 1 "$dir/b.out1" "$dir/cut1" ||
  fail "copy b ended before the first kill: $(tail -2 "$dir/b.out1")"
# Kill 2: in the rerun, once a run has finished and the others stand at a checkpoint. On a slow
# machine the rerun may finish first; the final rerun then has nothing to resume.
if kill_midway 1 1 "$dir/b.out2" "$dir/cut2"; then kills=2; else kills=1; fi
cut1=$(cat "$dir/cut1") cut2=$(cat "$dir/cut2")
done_before=$(ls "$dir"/b/out/*/DONE 2>/dev/null | wc -l)

# The last rerun: finished runs skipped, the others resumed.
"$SLT" sweep "$dir/b/sweep.yaml" --jobs 2 > "$dir/b.out3" 2>&1 || fail "rerun: $(tail -3 "$dir/b.out3")"
grep -q "^sweep: 4 runs (4 selected): $done_before done, 0 failed, $((4 - done_before)) to run" \
  "$dir/b.out3" || fail "rerun did not skip the $done_before finished runs: $(head -1 "$dir/b.out3")"
for r in $cut1 $cut2; do
  grep -q '^resumed from .*/ckpt_000000[1-4]0\.h5 at step' "$r/train.log" ||
    fail "$(basename "$r") did not resume from a checkpoint"
done
for r in "$dir"/b/out/*/; do
  name=$(basename "$r")
  fresh=$(grep -c 'starting fresh' "$r/train.log")
  [ "$fresh" = 1 ] || fail "$name started from scratch $fresh times"
  steps=$(grep -o '"step":[0-9]*' "$r/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
  [ "$steps" = "$(seq -s ' ' 1 40) " ] || fail "$name: metrics steps are '$steps', not 1..40 once each"
done

# Same losses, step by step, and the same results table but for wall seconds.
losses() { grep -o '"step":[0-9]*\|"loss":[^,]*\|"val_loss":[^,}]*' "$1"; }
for r in "$dir"/a/out/*/; do
  name=$(basename "$r")
  cmp -s <(losses "$r/metrics.jsonl") <(losses "$dir/b/out/$name/metrics.jsonl") ||
    fail "$name: losses differ between the straight and the killed sweep"
done
python3 - "$dir/a/out/results.csv" "$dir/b/out/results.csv" <<'EOF' || fail "results.csv differ"
import csv, sys
a, b = ([{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(p))]
        for p in sys.argv[1:])
if a != b or len(a) != 4 or any(r["status"] != "done" or not r["val_loss"] for r in a):
    print("sweep_kill: straight:", a, "\nkilled and rerun:", b)
    sys.exit(1)
EOF
echo "sweep_kill: $kills SIGKILLs ($(echo $cut1 | wc -w) then $(echo $cut2 | wc -w) runs cut" \
  "mid-way, $done_before done before the last rerun); every run resumed from its checkpoints" \
  "and the results equal the uninterrupted sweep's ($((SECONDS - start)) s)"
