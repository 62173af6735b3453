#!/usr/bin/env bash
# Crash safety of checkpoints: train a tiny model with a checkpoint after every step (so much of
# the time is spent writing one) and SIGKILL it, again and again: the odd kills at a random
# moment, the even ones 0-3 ms after a checkpoint's temporary file appears (the write's HDF5
# layout and tensor bytes; its fsync takes longer). At least half the kills must land while a checkpoint is being written:
# the temporary file of the step after the newest complete checkpoint is still there after the
# kill, which only a write cut short leaves. After each kill every file under a checkpoint name
# must pass `slt info --verify` (every tensor's checksum), and the restart with --resume auto
# must continue from the newest one. Finally the run continues uninterrupted for a stretch and
# must end with the same losses, step for step, and the same parameters and optimizer moments,
# bit for bit (slt_ckpt_cmp --optim), as a run that was never killed.
# usage: tests/crash_resume.sh SLT_BINARY SLT_CKPT_CMP [KILLS]
set -u
SLT=${1:?usage: crash_resume.sh SLT_BINARY SLT_CKPT_CMP [KILLS]} CMP=${2:?}
KILLS=${3:-20}
STEPS=5000 # far more than 20 kills can reach: every kill must land mid-run
dir=$(mktemp -d /tmp/slt_crash_XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "crash_resume: FAIL: $*" >&2; exit 1; }

cat > "$dir/tiny.yaml" <<EOF
out_dir: $dir/run
seed: 5
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
train: {steps: $STEPS, micro_batch: 4, grad_accum: 2, eval_every: 50, eval_batches: 2,
        ckpt_every: 1, keep_last: 3, threads: 1, log_every: 1}
EOF

# Every file under a checkpoint name must be a complete checkpoint, every tensor intact; prints
# the newest step.
check_complete() {
  local newest=0 f step
  for f in "$dir"/run/ckpt_*.h5; do
    [ -e "$f" ] || continue
    "$SLT" info --verify "$f" > /dev/null 2> "$dir/info.err" || fail "$(cat "$dir/info.err")"
    step=$(basename "$f" .h5); step=$((10#${step#ckpt_}))
    [ "$step" -gt "$newest" ] && newest=$step
  done
  echo "$newest"
}

# Sleeps without a fork (builtin read timing out on a pipe that never delivers): sub-millisecond
# delays between seeing a temporary file and the kill.
exec {never}<> <(:)
nap() { read -r -t "$1" -u "$never" _ || true; }

start=$SECONDS
newest=0 mid_write=0 resumes=0
for ((i = 1; i <= KILLS; i++)); do
  out="$dir/out.$i"
  "$SLT" train "$dir/tiny.yaml" --resume auto > "$out" 2>&1 &
  pid=$!
  # Wait until it trains (its first checkpoint line), then kill it a random moment later.
  for ((w = 0; w < 1000; w++)); do
    grep -q '^checkpoint:' "$out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  printf -v delay '0.%03d' $((RANDOM % 200))
  nap "$delay"
  if ((i % 2 == 0)); then # ... or up to 3 ms after the next write starts
    printf -v delay '0.%06d' $((RANDOM % 3000))
    tmp="$dir/run/.ckpt_*.h5.tmp"
    for ((w = 0; w < 100000; w++)); do compgen -G "$tmp" > /dev/null || break; done
    for ((w = 0; w < 100000; w++)); do compgen -G "$tmp" > /dev/null && break; done
    nap "$delay"
  fi
  kill -0 $pid 2>/dev/null || fail "run $i exited before it was killed: $(tail -3 "$out")"
  kill -9 $pid
  wait $pid 2>/dev/null
  pid=
  # What this run resumed from must have been the newest complete checkpoint of the last one.
  if [ "$newest" -gt 0 ]; then
    from=$(sed -n 's/^resumed from \(.*\) at step.*/\1/p' "$out")
    [ -n "$from" ] || fail "run $i did not resume: $(grep -m1 resume "$out")"
    [[ "$(basename "$from")" =~ ^ckpt_[0-9]{8}\.h5$ ]] || fail "run $i resumed from '$from'"
    [ "$(basename "$from")" = "$(printf 'ckpt_%08d.h5' "$newest")" ] ||
      fail "run $i resumed from $from, newest complete was step $newest"
    resumes=$((resumes + 1))
  fi
  newest=$(check_complete) || exit 1
  # Killed mid-write: the temporary file of the step after the newest complete one is left (an
  # older one would be a leftover, which each run's first checkpoint clears).
  [ -e "$dir/run/$(printf '.ckpt_%08d.h5.tmp' $((newest + 1)))" ] && mid_write=$((mid_write + 1))
done
[ "$mid_write" -ge $((KILLS / 2)) ] ||
  fail "only $mid_write of $KILLS kills landed while a checkpoint was written (need $((KILLS / 2)))"

# The rest of a stretch in one go (fewer checkpoints: the config may change anything but the
# model), and the same stretch never killed.
end=$((newest + 100))
"$SLT" train "$dir/tiny.yaml" --resume auto train.ckpt_every=25 train.stop_after=$end \
  > "$dir/out.final" 2>&1 || fail "final run: $(tail -3 "$dir/out.final")"
grep -q "^done: $end steps" "$dir/out.final" || fail "final run did not finish: $(tail -2 "$dir/out.final")"
[ "$(check_complete)" = "$end" ] || fail "no complete final checkpoint"
losses() { grep -o '"step":[0-9]*\|"loss":[^,]*\|"val_loss":[^,}]*' "$1"; }
"$SLT" train "$dir/tiny.yaml" out_dir="$dir/straight" train.ckpt_every=0 train.stop_after=$end \
  > /dev/null 2>&1 || fail "straight run failed"
[ "$(grep -c . "$dir/run/metrics.jsonl")" = "$end" ] || fail "metrics log does not hold $end records"
cmp -s <(losses "$dir/run/metrics.jsonl") <(losses "$dir/straight/metrics.jsonl") ||
  fail "losses differ from the run that was never killed"
"$CMP" --optim "$(printf '%s/run/ckpt_%08d.h5' "$dir" $end)" \
  "$(printf '%s/straight/ckpt_%08d.h5' "$dir" $end)" > "$dir/cmp" ||
  fail "parameters or moments differ from the run that was never killed: $(cat "$dir/cmp")"

echo "crash_resume: $KILLS kills, $mid_write of them during a checkpoint write; $resumes" \
  "resumes, each from the newest complete checkpoint (every one verified); step $end reached" \
  "with the same losses, parameters and moments as an uninterrupted run in $((SECONDS - start)) s"
