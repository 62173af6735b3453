#!/usr/bin/env bash
# MPI data parallelism, end to end on a tiny model (seconds each):
#   equivalence  2 ranks x micro-batch b == 1 rank x grad_accum 2 x micro-batch b: per-step losses
#                within 1e-5 relative for 20 steps, final parameters within 1e-5 (relative L2);
#                overlapped and blocking bucket all-reduce bitwise identical; mpirun -np 1 equal
#                to a run without mpirun.
#   resume       2 ranks stopped at step 10 and resumed == the straight 2-rank run, bitwise
#                (losses, validation losses, final parameters); a 1-rank resume is refused.
#   fault        a rank failing on bad data, and a rank killed with SIGKILL, end the whole job
#                within seconds with a message naming the rank and the cause; the last
#                checkpoint opens and the run resumes from it.
#   writer       SIGUSR1 to mpirun: both ranks stop with a checkpoint, exit 3; rank 0 (the
#                writer) SIGKILLed mid-write: the previous checkpoint verifies and 2 ranks resume
#                from it bitwise.
# usage: tests/dist_mpi.sh MODE SLT_BINARY SLT_CKPT_CMP MPIRUN
set -u
MODE=${1:?usage: dist_mpi.sh equivalence|resume|fault|writer SLT CKPT_CMP MPIRUN}
SLT=${2:?} CMP=${3:?} MPIRUN=${4:?}
dir=$(mktemp -d /tmp/slt_mpi_XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "dist_mpi $MODE: FAIL: $*" >&2; exit 1; }

# --oversubscribe: CI machines may have fewer cores than ranks; root in CI containers.
mpi=("$MPIRUN" --oversubscribe -np 2)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)

# A small bucket size gives several buckets even for this tiny model (overlap is exercised).
cat > "$dir/tiny.yaml" <<EOF
out_dir: $dir/run
seed: 11
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
optim: {lr: 3.0e-3}
train: {steps: 20, micro_batch: 4, grad_accum: 1, eval_every: 0, eval_batches: 2,
        ckpt_every: 0, keep_last: 0, threads: 1, log_every: 1}
dist: {bucket_mb: 0.02, overlap: true}
EOF

losses() { grep -o '"step":[0-9]*\|"loss":[^,]*\|"val_loss":[^,}]*' "$1"; }
ckpt() { printf '%s/ckpt_%08d.h5' "$1" "$2"; }

# train OUT_FILE [mpirun args...] -- slt args: a run that must succeed.
run_ok() {
  local out=$1
  shift
  timeout 120 "$@" > "$out" 2>&1 || fail "'$*' failed: $(tail -5 "$out")"
}

equivalence() {
  run_ok "$dir/one.out" "$SLT" train "$dir/tiny.yaml" out_dir="$dir/one" train.grad_accum=2
  run_ok "$dir/two.out" "${mpi[@]}" "$SLT" train "$dir/tiny.yaml" out_dir="$dir/two"
  grep -q "global batch 8 = micro-batch 4 x 1 accumulation x 2 ranks" "$dir/two.out" ||
    fail "the 2-rank run does not print its global batch: $(grep -m1 '^batch' "$dir/two.out")"
  grep -q "^dist: 2 ranks" "$dir/two.out" || fail "no 'dist: 2 ranks' line"
  paste <(grep -o '"loss":[^,]*' "$dir/one/metrics.jsonl" | cut -d: -f2) \
        <(grep -o '"loss":[^,]*' "$dir/two/metrics.jsonl" | cut -d: -f2) > "$dir/pairs"
  [ "$(grep -c . "$dir/pairs")" = 20 ] || fail "expected 20 logged steps: $(cat "$dir/pairs")"
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > m) m = d }
       END { printf "per-step losses: max relative difference %.3g\n", m; exit m > 1e-5 }' \
    "$dir/pairs" || fail "losses differ by more than 1e-5 relative"
  "$CMP" "$(ckpt "$dir/one" 20)" "$(ckpt "$dir/two" 20)" 1e-5 ||
    fail "final parameters differ by more than 1e-5"
  # Buckets reduced after backward must give exactly what the overlapped ones gave.
  run_ok "$dir/blk.out" "${mpi[@]}" "$SLT" train "$dir/tiny.yaml" out_dir="$dir/blk" dist.overlap=false
  cmp -s <(losses "$dir/two/metrics.jsonl") <(losses "$dir/blk/metrics.jsonl") ||
    fail "overlapped and blocking all-reduce give different losses"
  "$CMP" "$(ckpt "$dir/two" 20)" "$(ckpt "$dir/blk" 20)" > /dev/null ||
    fail "overlapped and blocking all-reduce give different parameters"
  # The same binary under mpirun with one rank is the plain single-process run.
  run_ok "$dir/np1.out" "$MPIRUN" --oversubscribe -np 1 $([ "$(id -u)" = 0 ] && echo --allow-run-as-root) \
    "$SLT" train "$dir/tiny.yaml" out_dir="$dir/np1" train.grad_accum=2
  cmp -s <(losses "$dir/one/metrics.jsonl") <(losses "$dir/np1/metrics.jsonl") ||
    fail "mpirun -np 1 differs from a run without mpirun"
  sgt_equivalence
  echo "dist_mpi equivalence: 2 ranks match 1 rank x 2 accumulation (also with SGT's guides);" \
    "overlap on/off identical"
}

# SGT's guides are a second gradient buffer, all-reduced with the model's: a LowRank run with
# fixedflop guidance (20 + 10 steps; the guides freed after step 10) matches too. reduce_flop is
# off: its coin flips follow the forwards, which differ between the two layouts.
sgt_equivalence() {
  local sgt=(model.ffn.kind=lowrank model.ffn.rank=8 sgt.enabled=true sgt.mode=fixedflop
             sgt.ratio=0.5)
  run_ok "$dir/sgt1.out" "$SLT" train "$dir/tiny.yaml" out_dir="$dir/sgt1" train.grad_accum=2 "${sgt[@]}"
  run_ok "$dir/sgt2.out" "${mpi[@]}" "$SLT" train "$dir/tiny.yaml" out_dir="$dir/sgt2" "${sgt[@]}"
  grep -q "^sgt: guidance over after step 10" "$dir/sgt2.out" || fail "the 2-rank SGT run did not end guidance"
  paste <(grep -o '"loss":[^,]*' "$dir/sgt1/metrics.jsonl" | cut -d: -f2) \
        <(grep -o '"loss":[^,]*' "$dir/sgt2/metrics.jsonl" | cut -d: -f2) > "$dir/sgt_pairs"
  [ "$(grep -c . "$dir/sgt_pairs")" = 30 ] || fail "expected 30 logged SGT steps"
  awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > m) m = d }
       END { printf "SGT per-step losses: max relative difference %.3g\n", m; exit m > 1e-5 }' \
    "$dir/sgt_pairs" || fail "SGT losses differ by more than 1e-5 relative"
  "$CMP" "$(ckpt "$dir/sgt1" 30)" "$(ckpt "$dir/sgt2" 30)" 1e-5 ||
    fail "SGT final parameters differ by more than 1e-5"
}

resume() {
  local cfg=("$dir/tiny.yaml" train.eval_every=5 train.ckpt_every=5)
  run_ok "$dir/straight.out" "${mpi[@]}" "$SLT" train "${cfg[@]}" out_dir="$dir/straight"
  run_ok "$dir/a.out" "${mpi[@]}" "$SLT" train "${cfg[@]}" train.stop_after=10
  "$SLT" info "$(ckpt "$dir/run" 10)" | grep -q '^world: 2 ranks' || fail "checkpoint is not of 2 ranks"
  # One rank cannot continue a 2-rank run: refused with one clear line.
  "$SLT" train "${cfg[@]}" --resume auto > "$dir/w1.out" 2>&1 && fail "a 1-rank resume was accepted"
  grep -q "written by a run of 2 ranks, this run has 1" "$dir/w1.out" ||
    fail "unclear world-size error: $(tail -1 "$dir/w1.out")"
  run_ok "$dir/b.out" "${mpi[@]}" "$SLT" train "${cfg[@]}" --resume auto
  grep -q "^resumed from .*ckpt_00000010.h5 at step 10" "$dir/b.out" || fail "did not resume at 10"
  cmp -s <(losses "$dir/run/metrics.jsonl") <(losses "$dir/straight/metrics.jsonl") ||
    fail "resumed losses differ from the straight run"
  "$CMP" "$(ckpt "$dir/run" 20)" "$(ckpt "$dir/straight" 20)" > /dev/null ||
    fail "resumed parameters differ from the straight run"
  echo "dist_mpi resume: 2-rank resume at step 10 is bitwise identical to the straight run"
}

# Runs "$@" in the background; waits for it to end; fails if that takes over `limit` seconds.
expect_end_within() {
  local limit=$1 out=$2 pid
  shift 2
  local t0=$SECONDS
  timeout 60 "$@" > "$out" 2>&1 && fail "'$*' succeeded but should have failed"
  [ $((SECONDS - t0)) -le "$limit" ] || fail "the job took $((SECONDS - t0)) s to end (> $limit s)"
}

fault() {
  # 1. Bad data on rank 1 only (MPMD: rank 1 gets a truncated shard) while rank 0 waits for it.
  printf 'the quick brown fox jumps over the lazy dog %.0s' {1..40} > "$dir/text"
  "$SLT" tokenize --tokenizer bytes "$dir/text" --out "$dir/good.bin" > /dev/null ||
    fail "tokenize failed"
  head -c 1500 "$dir/good.bin" > "$dir/bad.bin"
  local args=(train "$dir/tiny.yaml" data.source=shards data.val="$dir/good.bin"
    model.vocab_size=256)
  local root=()
  [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  expect_end_within 30 "$dir/bad.out" "$MPIRUN" --oversubscribe "${root[@]}" \
    -np 1 "$SLT" "${args[@]}" data.train="$dir/good.bin" : \
    -np 1 "$SLT" "${args[@]}" data.train="$dir/bad.bin"
  grep -q "rank 1 of 2: .*bad.bin: .*header says" "$dir/bad.out" ||
    fail "no message naming rank 1 and the bad shard: $(grep -v '^ *$' "$dir/bad.out" | tail -5)"
  grep -q "rank 0 of 2" "$dir/bad.out" && fail "rank 0 failed too: $(grep 'rank 0 of 2' "$dir/bad.out")"

  # 2. SIGKILL one rank mid-run: the job ends within seconds, its last checkpoint survives.
  "${mpi[@]}" "$SLT" train "$dir/tiny.yaml" train.steps=100000 train.ckpt_every=20 \
    train.log_every=1000 > "$dir/kill.out" 2>&1 &
  local job=$! victim="" w
  for ((w = 0; w < 3000; w++)); do # up to 60 s for a checkpoint
    grep -q 'checkpoint:' "$dir/kill.out" 2>/dev/null && break
    kill -0 $job 2>/dev/null || fail "the job ended early: $(tail -3 "$dir/kill.out")"
    sleep 0.1
  done
  for p in $(pgrep -P $job); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
  done
  [ -n "$victim" ] || { kill $job; fail "could not find rank 1 among mpirun's children"; }
  local t0=$SECONDS
  kill -9 "$victim"
  for ((w = 0; w < 300; w++)); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  kill -0 $job 2>/dev/null && { kill -9 $job; fail "the job still runs 30 s after rank 1 was killed"; }
  wait $job && fail "the job exited 0 after rank 1 was killed"
  echo "job ended $((SECONDS - t0)) s after rank 1 was killed"
  grep -q "rank 1 .*signal 9" "$dir/kill.out" ||
    fail "no message naming rank 1 and signal 9: $(grep -v '^ *$' "$dir/kill.out" | tail -5)"
  local last
  last=$(ls "$dir/run" | sed -n 's/^ckpt_0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -1)
  [ -n "$last" ] || fail "no checkpoint survived"
  "$SLT" info "$(ckpt "$dir/run" "$last")" > /dev/null || fail "the last checkpoint does not open"
  run_ok "$dir/resume.out" "${mpi[@]}" "$SLT" train "$dir/tiny.yaml" train.steps=100000 \
    train.ckpt_every=20 train.stop_after=$((last + 3)) --resume auto
  grep -q "^resumed from .*at step $last " "$dir/resume.out" || fail "did not resume from step $last"
  echo "dist_mpi fault: bad data on rank 1 and a killed rank 1 each ended the job with a clear" \
    "message; resumed from step $last"
}

# The pid of rank R among mpirun's children (empty until they have started).
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p"
  done
}

# Waits up to 300 s for a file matching the glob f to exist while the job runs (a loaded machine
# or the sanitizer build can take a minute to start two ranks; the wait ends as soon as it is
# there). A glob, because with keep_last a given checkpoint may live for less than a poll.
wait_for_file() {
  local job=$1 f=$2 w
  for ((w = 0; w < 3000; w++)); do
    compgen -G "$f" > /dev/null && return 0
    kill -0 "$job" 2>/dev/null || fail "the job ended early: $(tail -3 "$3")"
    sleep 0.1
  done
  fail "no $f after 300 s"
}

# Waits up to 30 s for the job to end; its exit status goes to $job_rc.
wait_job() {
  local job=$1 w
  for ((w = 0; w < 300; w++)); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$job" 2>/dev/null && { kill -9 "$job"; fail "the job still runs 30 s later"; }
  wait "$job"
  job_rc=$?
}

# Rank 0 writes the checkpoints. SIGUSR1 to mpirun stops both ranks after the same step with a
# checkpoint and exit status 3; SIGKILL of rank 0 in the middle of a checkpoint write (its
# temporary file still there after the kill proves where the kill landed) ends the job, leaves
# the previous checkpoint intact (slt info --verify), and 2 ranks resume from it to the same
# parameters and moments, bitwise, as a 2-rank run never killed.
writer() {
  local long=(train "$dir/tiny.yaml" train.steps=100000 train.log_every=1)
  "${mpi[@]}" "$SLT" "${long[@]}" out_dir="$dir/usr1" > "$dir/usr1.out" 2>&1 &
  local job=$! at last tmp step r0
  wait_for_file $job "$dir/usr1/metrics.jsonl" "$dir/usr1.out"
  kill -USR1 $job
  wait_job $job
  [ "$job_rc" = 3 ] || fail "SIGUSR1 to mpirun: exit status $job_rc, expected 3: $(tail -3 "$dir/usr1.out")"
  at=$(sed -n 's/^interrupted: stopped cleanly after step \([0-9]*\)$/\1/p' "$dir/usr1.out")
  [ -n "$at" ] || fail "SIGUSR1 to mpirun: no 'interrupted' line: $(tail -3 "$dir/usr1.out")"
  "$SLT" info --verify "$(ckpt "$dir/usr1" "$at")" > "$dir/info" 2>&1 ||
    fail "SIGUSR1: the checkpoint of step $at does not verify: $(tail -1 "$dir/info")"
  grep -q '^world: 2 ranks' "$dir/info" || fail "SIGUSR1: the checkpoint is not of 2 ranks"

  # A checkpoint every step: rank 0 spends much of its time writing one.
  "${mpi[@]}" "$SLT" "${long[@]}" out_dir="$dir/w" train.ckpt_every=1 train.keep_last=3 \
    > "$dir/w.out" 2>&1 &
  job=$!
  wait_for_file $job "$dir/w/ckpt_*.h5" "$dir/w.out"
  r0=$(rank_pid $job 0)
  [ -n "$r0" ] || { kill -9 $job; fail "could not find rank 0 among mpirun's children"; }
  # Builtins only between seeing the temporary file and the kill.
  local t0=$SECONDS f
  while ((SECONDS - t0 < 20)); do compgen -G "$dir/w/.ckpt_*.h5.tmp" > /dev/null && break; done
  kill -9 "$r0"
  wait_job $job
  [ "$job_rc" != 0 ] || fail "the job exited 0 after rank 0 was killed"
  for f in "$dir"/w/ckpt_*.h5; do # every file under a checkpoint name is whole
    "$SLT" info --verify "$f" > "$dir/info" 2>&1 || fail "after the kill: $(tail -1 "$dir/info")"
  done
  tmp=$(cd "$dir/w" && compgen -G ".ckpt_*.h5.tmp")
  [ -n "$tmp" ] || fail "the kill did not land during a checkpoint write (no temporary file left)"
  step=$(echo "$tmp" | sed 's/^\.ckpt_0*\([0-9][0-9]*\)\.h5\.tmp$/\1/')
  last=$(ls "$dir/w" | sed -n 's/^ckpt_0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -1)
  [ "$last" = $((step - 1)) ] || fail "killed while writing step $step, newest complete is '$last'"
  "$SLT" info --verify "$(ckpt "$dir/w" "$last")" > "$dir/info" 2>&1 ||
    fail "the checkpoint before the killed write does not verify: $(tail -1 "$dir/info")"
  run_ok "$dir/w2.out" "${mpi[@]}" "$SLT" "${long[@]}" out_dir="$dir/w" train.ckpt_every=1 \
    train.keep_last=3 train.stop_after=$((last + 3)) --resume auto
  grep -q "^resumed from .*ckpt_0*$last.h5 at step $last " "$dir/w2.out" ||
    fail "did not resume from step $last: $(grep -m1 resum "$dir/w2.out")"
  run_ok "$dir/ws.out" "${mpi[@]}" "$SLT" "${long[@]}" out_dir="$dir/ws" train.stop_after=$((last + 3))
  "$CMP" --optim "$(ckpt "$dir/w" $((last + 3)))" "$(ckpt "$dir/ws" $((last + 3)))" > "$dir/cmp" ||
    fail "the resumed 2-rank run differs from the straight one: $(cat "$dir/cmp")"
  echo "dist_mpi writer: SIGUSR1 to mpirun stopped both ranks after step $at (exit 3, verified" \
    "checkpoint); rank 0 killed while writing step $step: the job ended (exit $job_rc), step" \
    "$last verified and 2 ranks resumed from it bitwise"
}

case "$MODE" in
  equivalence | resume | fault | writer) "$MODE" ;;
  *) fail "unknown mode" ;;
esac
