#!/usr/bin/env bash
# Crash safety of checkpoints: train a tiny model with a checkpoint after every step (so most of
# the time is spent writing one) and SIGKILL it at random moments, again and again. Each restart
# with --resume auto must find a complete checkpoint (never a temporary file, never a partial
# one), every file under a checkpoint name must open, and the run must finally complete with the
# same losses, step for step, as a run that was never killed.
# usage: tests/crash_resume.sh SLT_BINARY [KILLS]
set -u
SLT=${1:?usage: crash_resume.sh SLT_BINARY [KILLS]}
KILLS=${2:-20}
STEPS=5000 # far more than 20 kills can reach: every kill must land mid-run
dir=$(mktemp -d /tmp/slt_crash_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "crash_resume: FAIL: $*" >&2; exit 1; }

cat > "$dir/tiny.yaml" <<EOF
out_dir: $dir/run
seed: 5
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
train: {steps: $STEPS, micro_batch: 4, grad_accum: 2, eval_every: 50, eval_batches: 2,
        ckpt_every: 1, keep_last: 3, threads: 1, log_every: 1}
EOF

# Every file under a checkpoint name must be a complete checkpoint; prints the newest step.
check_complete() {
  local newest=0 f step
  for f in "$dir"/run/ckpt_*.h5; do
    [ -e "$f" ] || continue
    "$SLT" info "$f" > /dev/null 2> "$dir/info.err" || fail "$(cat "$dir/info.err")"
    step=$(basename "$f" .h5); step=$((10#${step#ckpt_}))
    [ "$step" -gt "$newest" ] && newest=$step
  done
  echo "$newest"
}

# Seconds as a decimal in [0, max_ms) ms.
rand_s() { printf '0.%03d' $((RANDOM % $1)); }

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
  sleep "$(rand_s 200)"
  kill -0 $pid 2>/dev/null || fail "run $i exited before it was killed: $(tail -3 "$out")"
  kill -9 $pid
  wait $pid 2>/dev/null
  ls -a "$dir/run" | grep -q '^\.ckpt_.*\.tmp$' && mid_write=$((mid_write + 1))
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
done

# The rest of the run in one go (fewer checkpoints: the config may change anything but the model).
"$SLT" train "$dir/tiny.yaml" --resume auto train.ckpt_every=25 > "$dir/out.final" 2>&1 ||
  fail "final run: $(tail -3 "$dir/out.final")"
grep -q "^done: $STEPS steps" "$dir/out.final" || fail "final run did not finish: $(tail -2 "$dir/out.final")"
[ "$(check_complete)" = "$STEPS" ] || fail "no complete final checkpoint"

# The same run never killed: identical losses at every step (the log keeps each step once).
losses() { grep -o '"step":[0-9]*\|"loss":[^,]*\|"val_loss":[^,}]*' "$1"; }
"$SLT" train "$dir/tiny.yaml" out_dir="$dir/straight" train.ckpt_every=0 > /dev/null 2>&1 ||
  fail "straight run failed"
[ "$(grep -c . "$dir/run/metrics.jsonl")" = "$STEPS" ] || fail "metrics log does not hold $STEPS records"
cmp -s <(losses "$dir/run/metrics.jsonl") <(losses "$dir/straight/metrics.jsonl") ||
  fail "losses differ from the run that was never killed"

echo "crash_resume: $KILLS kills ($mid_write left a temporary file behind), $resumes resumes," \
  "each from the newest complete checkpoint; finished $STEPS steps with the same losses as an" \
  "uninterrupted run in $((SECONDS - start)) s"
