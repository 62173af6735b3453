#!/usr/bin/env bash
# Durability under faults, through tests/fault/fault_shim.c (LD_PRELOAD):
#  1. every tmp+rename write of a run (checkpoint, config.yaml, the metrics log cut back on resume)
#     fsyncs the temporary file before its rename and the directory after it (calls counted);
#  2. a checkpoint write whose file fsync, data write, rename or directory fsync fails ends the
#     run with one line, leaves no temporary file, and the previous checkpoint still loads and
#     resumes to the same final state, bit for bit, as a run that never failed;
#  3. a failing config.yaml or metrics rewrite is one line, leaves no temporary file and keeps
#     the old file.
# usage: tests/durability.sh SLT_BINARY SLT_CKPT_CMP FAULT_SHIM.so
set -u
SLT=${1:?usage: durability.sh SLT CKPT_CMP SHIM} CMP=${2:?} SHIM=${3:?}
dir=$(mktemp -d /tmp/slt_durable_XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "durability: FAIL: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

# Under the sanitizer build the ASan runtime must come first in the preload list.
preload=$SHIM
asan=$(ldd "$SLT" | awk '/libasan/ {print $3}')
[ -n "$asan" ] && preload="$asan:$SHIM"

cat > "$dir/tiny.yaml" <<EOF2
out_dir: $dir/run
seed: 5
model: {vocab_size: 64, seq_len: 16, layers: 2, d_model: 32, heads: 4, ffn_dim: 64}
data: {source: synthetic, synthetic: {order: 2, seed: 3}}
train: {steps: 4, micro_batch: 4, grad_accum: 2, eval_every: 2, eval_batches: 2,
        ckpt_every: 2, keep_last: 0, threads: 1, log_every: 1}
EOF2

# shim_run LOG FAULT ARGS...: slt with the shim preloaded; stdout+stderr to $dir/out, stderr
# also to $dir/err.
# extra_env: more VAR=value for this run.
extra_env=()
shim_run() {
  local log=$1 f=$2; shift 2
  env "${extra_env[@]}" LD_PRELOAD="$preload" SLT_FAULT_LOG="$log" SLT_FAULT="$f" "$SLT" "$@" \
    > "$dir/out" 2> "$dir/err"
}

# durable LOG TMP_PATTERN FINAL: in LOG, an fsync of a file matching TMP_PATTERN, then its rename
# to FINAL, then an fsync of FINAL's directory before the next rename.
durable() {
  local log=$1 tmp=$2 final=$3 f r d
  f=$(grep -n -m1 -E "^(fsync|fdatasync) $tmp\$" "$log" | cut -d: -f1)
  r=$(grep -n -m1 -E "^rename $tmp $final\$" "$log" | cut -d: -f1)
  [ -n "$r" ] || fail "no rename of $tmp to $final"
  [ -n "$f" ] && [ "$f" -lt "$r" ] || fail "$tmp is renamed to $final without an fsync first"
  # ... before anything else is renamed (a later checkpoint's directory fsync does not count).
  d=$(tail -n +"$((r + 1))" "$log" | sed '/^rename /,$d' | grep -c -F "fsync_dir $(dirname "$final")")
  [ "$d" -gt 0 ] || fail "$final: the directory is not fsynced after the rename"
}

run=$dir/run
# 1. A fresh run to step 2, then a resume to 4 (which cuts the metrics log back): count the calls.
LD_PRELOAD=$preload SLT_FAULT_LOG=$dir/calls1 "$SLT" train "$dir/tiny.yaml" train.stop_after=2 \
  > "$dir/out" 2>&1 || fail "first run: $(tail -3 "$dir/out")"
durable "$dir/calls1" "$run/\.ckpt_00000002\.h5\.tmp" "$run/ckpt_00000002\.h5"
durable "$dir/calls1" "$run/config\.yaml\.tmp\.[A-Za-z0-9]+" "$run/config\.yaml"
cp -a "$run" "$dir/at2"
LD_PRELOAD=$preload SLT_FAULT_LOG=$dir/calls2 "$SLT" train "$dir/tiny.yaml" --resume auto \
  > "$dir/out" 2>&1 || fail "resumed run: $(tail -3 "$dir/out")"
durable "$dir/calls2" "$run/metrics\.jsonl\.tmp" "$run/metrics\.jsonl"
durable "$dir/calls2" "$run/\.ckpt_00000004\.h5\.tmp" "$run/ckpt_00000004\.h5"
mv "$run" "$dir/straight"

# one_line NAME WORD: the run failed (exit 1) with one stderr line containing WORD.
one_line() {
  [ "$(grep -c . "$dir/err")" = 1 ] || fail "$1: stderr is not one line: $(cat "$dir/err")"
  grep -q -- "$2" "$dir/err" || fail "$1: '$2' not in: $(cat "$dir/err")"
}
no_tmp() { ls -a "$run" | grep -q 'tmp' && fail "$1: left $(ls -a "$run" | grep tmp | tr '\n' ' ')"; true; }

# 2. Each fault while step 4's checkpoint is written.
for f in "fsync:.ckpt_00000004" "write:.ckpt_00000004" "rename:.ckpt_00000004" \
         "fsync_dir:ckpt_00000004"; do
  rm -rf "$run"; cp -a "$dir/at2" "$run"
  # A failed HDF5 write loses libhdf5's metadata accumulator buffer inside the library (see
  # tests/lsan_hdf5.supp): that one allocation is suppressed, leak checking stays on.
  extra_env=()
  [[ $f == write:* ]] && extra_env=("LSAN_OPTIONS=suppressions=$here/lsan_hdf5.supp:print_suppressions=0"
                                   "ASAN_OPTIONS=${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0")
  shim_run /dev/null "$f" train "$dir/tiny.yaml" --resume auto
  rc=$?
  extra_env=()
  [ "$rc" = 1 ] || fail "$f: exit $rc, expected 1: $(tail -3 "$dir/out")"
  case $f in
    fsync:*) one_line "$f" "fsync failed" ;;
    write:*) one_line "$f" "No space left" ;;
    rename:*) one_line "$f" "cannot rename" ;;
    fsync_dir:*) one_line "$f" "fsync of the directory failed" ;;
  esac
  no_tmp "$f"
  "$SLT" info "$run/ckpt_00000002.h5" > /dev/null 2>&1 || fail "$f: the step 2 checkpoint no longer loads"
  "$SLT" train "$dir/tiny.yaml" --resume auto > "$dir/out" 2>&1 || fail "$f: resume: $(tail -3 "$dir/out")"
  "$CMP" --optim "$run/ckpt_00000004.h5" "$dir/straight/ckpt_00000004.h5" > "$dir/cmp" ||
    fail "$f: after the fault the run did not end bitwise as the straight one: $(cat "$dir/cmp")"
done

# 3. config.yaml and the metrics log: one line, no temporary file left, and the old file kept
# when the failure came before the rename.
for f in "fsync:config.yaml.tmp" "rename:config.yaml.tmp" "fsync_dir:config.yaml" \
         "fsync:metrics.jsonl.tmp" "rename:metrics.jsonl.tmp" "fsync_dir:metrics.jsonl"; do
  rm -rf "$run"; cp -a "$dir/at2" "$run"
  shim_run /dev/null "$f" train "$dir/tiny.yaml" --resume auto
  rc=$?
  [ "$rc" = 1 ] || fail "$f: exit $rc, expected 1: $(tail -3 "$dir/out")"
  w=${f#*:}
  one_line "$f" "${w%.tmp}"
  no_tmp "$f"
  [[ $f == fsync_dir:* ]] && continue # renamed already: the new file is in place
  cmp -s "$run/config.yaml" "$dir/at2/config.yaml" || fail "$f: config.yaml changed"
  cmp -s "$run/metrics.jsonl" "$dir/at2/metrics.jsonl" || fail "$f: metrics.jsonl changed"
done
echo "durability: checkpoint, config.yaml and metrics rewrites fsync file and directory;" \
  "4 checkpoint faults and 6 config/metrics faults each ended in one line, no temporary file," \
  "a loadable previous checkpoint and a bitwise resume"
