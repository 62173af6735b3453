#!/usr/bin/env bash
# One writer per run directory: while `slt train` runs on an out_dir, a second `slt train` on it,
# and `slt prepare --out` into it, refuse at once with one line naming the holder's pid, and
# leave its metrics log and config untouched; the lock is gone once the holder stops (SIGTERM)
# or dies (SIGKILL). `slt prepare --out` refuses a directory another process has locked too.
# usage: tests/run_lock.sh SLT_BINARY
set -u
SLT=${1:?usage: run_lock.sh SLT_BINARY}
dir=$(mktemp -d /tmp/slt_lock_XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "run_lock: FAIL: $*" >&2; exit 1; }

cat > "$dir/tiny.yaml" <<EOF2
out_dir: $dir/run
seed: 5
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
train: {steps: 1000000, micro_batch: 4, grad_accum: 1, eval_every: 0, ckpt_every: 0,
        threads: 1, log_every: 1}
EOF2
printf 'some text to tokenize\n' > "$dir/doc.txt"

# start_train NAME [ARGS...]: a background run; its pid in $pid once it has logged a step.
start_train() {
  local out="$dir/$1.out"; shift
  "$SLT" train "$dir/tiny.yaml" "$@" > "$out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for ((w = 0; w < 3000; w++)); do
    grep -q '^step ' "$out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "$out: exited early: $(tail -3 "$out")"
    sleep 0.01
  done
  fail "$out: no step logged in 30 s"
}

# refused NAME HOLDER_PID CMD...: CMD exits 1 within 30 s with one stderr line naming the pid.
refused() {
  local name=$1 holder=$2; shift 2
  timeout 30 "$@" > "$dir/$name.out" 2> "$dir/$name.err"
  local rc=$?
  [ "$rc" = 1 ] || fail "$name: exit $rc (expected 1): $(tail -3 "$dir/$name.err")"
  [ "$(grep -c . "$dir/$name.err")" = 1 ] || fail "$name: not one line: $(cat "$dir/$name.err")"
  grep -q "in use by pid $holder\b" "$dir/$name.err" || fail "$name: holder not named: $(cat "$dir/$name.err")"
}

start_train a
a=$pid
cp "$dir/run/config.yaml" "$dir/config.before"
refused "second train" "$a" "$SLT" train "$dir/tiny.yaml" train.steps=3
refused "second train --resume auto" "$a" "$SLT" train "$dir/tiny.yaml" --resume auto
refused "prepare into a training run" "$a" "$SLT" prepare --input "$dir/doc.txt" --format text \
  --tokenizer bytes --out "$dir/run"
cmp -s "$dir/run/config.yaml" "$dir/config.before" || fail "a refused run rewrote config.yaml"
ls "$dir/run" | grep -q '\.bin$' && fail "a refused prepare wrote shards into the run"

# The holder's log is its own: steps 1, 2, 3, ... once each, still growing after the refusals.
n1=$(grep -c . "$dir/run/metrics.jsonl")
sleep 0.3
kill -0 "$a" 2>/dev/null || fail "the holder died: $(tail -3 "$dir/a.out")"
kill -TERM "$a"
wait "$a"; rc=$?
[ "$rc" = 3 ] || fail "holder: exit $rc after SIGTERM (expected 3: stopped by a signal)"
n2=$(grep -c . "$dir/run/metrics.jsonl")
[ "$n2" -gt "$n1" ] || fail "the holder stopped logging after the refusals ($n1 -> $n2 records)"
seq 1 "$n2" | cmp -s - <(grep -o '"step":[0-9]*' "$dir/run/metrics.jsonl" | cut -d: -f2) ||
  fail "metrics.jsonl does not hold steps 1..$n2 once each"

# Released when the holder stops cleanly...
"$SLT" train "$dir/tiny.yaml" --resume auto train.steps=$((n2 + 2)) > "$dir/b.out" 2>&1 ||
  fail "after the holder stopped: $(tail -3 "$dir/b.out")"
# ... and when it is killed.
start_train c --resume auto
kill -9 "$pid"; wait "$pid" 2>/dev/null
"$SLT" train "$dir/tiny.yaml" --resume auto train.steps=$((n2 + 4)) > "$dir/d.out" 2>&1 ||
  fail "after the holder was killed: $(tail -3 "$dir/d.out")"

# prepare --out: refused while another process holds the directory, fine once it is gone.
mkdir -p "$dir/shards"
# flock(1) holds the lock itself (-o: its child does not inherit it) while the child sleeps.
flock -o "$dir/shards" sleep 60 &
f=$!; pids+=("$f")
for ((w = 0; w < 500; w++)); do
  child=$(ps -o pid= --ppid "$f" | tr -d ' ')
  [ -n "$child" ] && break
  sleep 0.01
done
[ -n "$child" ] || fail "flock did not start its command"
pids+=("$child")
refused "prepare into a locked directory" "$f" "$SLT" prepare --input "$dir/doc.txt" \
  --format text --tokenizer bytes --out "$dir/shards"
kill "$f" "$child"; wait "$f" 2>/dev/null
"$SLT" prepare --input "$dir/doc.txt" --format text --tokenizer bytes --val-fraction 0 \
  --out "$dir/shards" > "$dir/p.out" 2>&1 || fail "prepare after the holder ended: $(cat "$dir/p.out")"
echo "run_lock: a second train, a resume and a prepare refused while a run held its out_dir;" \
  "its log kept steps 1..$n2 once each; the lock was released by SIGTERM and by SIGKILL; prepare" \
  "--out refused a locked directory"
