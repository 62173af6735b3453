#!/usr/bin/env bash
# Signals for real: SIGINT, SIGTERM and SIGUSR1 delivered to a running `slt train`. Each must end
# the run after the step in progress (not at some later eval or checkpoint boundary), with a
# checkpoint of that step that passes `slt info --verify`, and exit status 3 (README: "stopped
# early by a signal, checkpoint written"). `--resume auto` from there must reach the same
# parameters and optimizer moments, bit for bit, and the same logged losses as a run that was
# never signalled.
# usage: tests/signals.sh SLT_BINARY SLT_CKPT_CMP
set -u
SLT=${1:?usage: signals.sh SLT_BINARY SLT_CKPT_CMP} CMP=${2:?}
dir=$(mktemp -d /tmp/slt_signals_XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "signals: FAIL: $*" >&2; exit 1; }

# Far more steps than a run reaches before its signal; no periodic checkpoint, so the one a
# stopped run leaves can only be the signal's.
cat > "$dir/tiny.yaml" <<EOF
seed: 5
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
train: {steps: 100000, micro_batch: 4, grad_accum: 2, eval_every: 0, eval_batches: 2,
        ckpt_every: 0, keep_last: 0, threads: 1, log_every: 1}
EOF
ckpt() { printf '%s/ckpt_%08d.h5' "$1" "$2"; }
losses() { grep -o '"step":[0-9]*\|"loss":[^,]*' "$1"; }
# The step of the last record in a metrics log (0 when there is none yet).
last_logged() { tail -n 1 "$1" 2>/dev/null | grep -o '"step":[0-9]*' | cut -d: -f2 || true; }

summary=""
for sig in INT TERM USR1; do
  run=$dir/$sig
  "$SLT" train "$dir/tiny.yaml" out_dir="$run" > "$dir/$sig.out" 2>&1 &
  pid=$!
  # Signal it once it has logged 20 steps.
  for ((w = 0; w < 3000; w++)); do
    seen=$(last_logged "$run/metrics.jsonl")
    [ "${seen:-0}" -ge 20 ] && break
    kill -0 $pid 2>/dev/null || fail "SIG$sig: the run ended early: $(tail -3 "$dir/$sig.out")"
    sleep 0.01
  done
  [ "${seen:-0}" -ge 20 ] || fail "SIG$sig: the run logged no 20 steps in 30 s"
  kill -s "$sig" $pid
  for ((w = 0; w < 1000; w++)); do kill -0 $pid 2>/dev/null || break; sleep 0.01; done
  kill -0 $pid 2>/dev/null && fail "SIG$sig: still running 10 s after the signal"
  wait $pid
  rc=$?
  pid=
  [ "$rc" = 3 ] || fail "SIG$sig: exit status $rc, expected 3 (stopped by a signal): $(tail -3 "$dir/$sig.out")"
  at=$(sed -n 's/^interrupted: stopped cleanly after step \([0-9]*\)$/\1/p' "$dir/$sig.out")
  [ -n "$at" ] || fail "SIG$sig: no 'interrupted: stopped cleanly' line: $(tail -3 "$dir/$sig.out")"
  # After the step in progress: a step or two past the last one logged before the signal (at
  # about 3 ms a step), never a thousand (the next checkpoint or the end).
  [ "$at" -ge "$seen" ] && [ "$at" -le $((seen + 20)) ] ||
    fail "SIG$sig: signalled after step $seen, stopped after step $at"
  [ "$(last_logged "$run/metrics.jsonl")" = "$at" ] || fail "SIG$sig: the log does not end at step $at"
  [ "$(ls "$run" | grep -c '^ckpt_')" = 1 ] && [ -f "$(ckpt "$run" "$at")" ] ||
    fail "SIG$sig: expected exactly the checkpoint of step $at: $(ls "$run")"
  "$SLT" info --verify "$(ckpt "$run" "$at")" > "$dir/info" 2>&1 ||
    fail "SIG$sig: the checkpoint does not verify: $(tail -1 "$dir/info")"
  # Resume to a few steps further, and the same stretch never signalled.
  end=$((at + 5))
  "$SLT" train "$dir/tiny.yaml" out_dir="$run" train.stop_after=$end --resume auto \
    > "$dir/$sig.resume" 2>&1 || fail "SIG$sig: resume failed: $(tail -3 "$dir/$sig.resume")"
  grep -q "^resumed from $(ckpt "$run" "$at") at step $at" "$dir/$sig.resume" ||
    fail "SIG$sig: did not resume at step $at: $(grep -m1 resum "$dir/$sig.resume")"
  "$SLT" train "$dir/tiny.yaml" out_dir="$dir/straight_$sig" train.stop_after=$end \
    > /dev/null 2>&1 || fail "SIG$sig: the straight run failed"
  "$CMP" --optim "$(ckpt "$run" "$end")" "$(ckpt "$dir/straight_$sig" "$end")" > "$dir/cmp" ||
    fail "SIG$sig: the resumed run differs from the straight one: $(cat "$dir/cmp")"
  cmp -s <(losses "$run/metrics.jsonl") <(losses "$dir/straight_$sig/metrics.jsonl") ||
    fail "SIG$sig: the logged losses differ from the straight run's"
  summary+=" SIG$sig: step $seen -> stopped after $at;"
done
echo "signals:$summary each exit 3 with a verified checkpoint; resumed bitwise as a straight run"
