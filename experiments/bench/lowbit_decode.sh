#!/usr/bin/env bash
# Decode tokens/s at batch 1 (KV cache) of one TriLM-99M-shaped ternary model (16 layers, d 512,
# SwiGLU 1280, 8 heads, vocab VOCAB, random weights) three ways, side by side (SPEC §8):
#   slt-packed   slt export --packed, run by slt's packed int8 kernels (layers/packed_linear.h)
#   slt-fp32     the same weights dequantized to fp32 (OpenBLAS GEMV), same slt decoder
#   llama-tq2_0  slt export --gguf --type tq2_0 of the packed file, run by llama.cpp (the
#                node-llama-cpp prebuilt libraries, as tests/gguf_llama.sh installs them)
# with 1 and 2 threads. ROUNDS rounds, each running every contender and thread count in turn
# (REPS timed repeats of TOKENS tokens per process), so load changes hit all alike; medians and
# ratios at the end, with the CPU, its flags, the kernel path and the load average.
# usage: experiments/bench/lowbit_decode.sh BUILD_DIR NPM_DIR [ROUNDS] [VOCAB]
set -eu
BUILD=${1:?usage: lowbit_decode.sh BUILD_DIR NPM_DIR [ROUNDS] [VOCAB]}
NPM=${2:?usage: lowbit_decode.sh BUILD_DIR NPM_DIR [ROUNDS] [VOCAB]}
ROUNDS=${3:-3}
VOCAB=${4:-256}
REPS=3
TOKENS=64
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$NPM/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
LC=$NPM/llama.cpp
[ -f "$LC/include/llama.h" ] || { echo "no llama.cpp under $NPM: run tests/gguf_llama.sh first" >&2; exit 1; }
dir=$(mktemp -d /tmp/slt_decode_XXXXXX)
trap 'rm -rf "$dir"' EXIT
cc -O2 -std=c11 -Wall -Wextra -Werror -I"$LC/include" -I"$LC/ggml/include" \
  "$SRC/experiments/bench/llama/decode.c" -o "$dir/llama_decode" "$BIN"/libllama*.so \
  "$BIN"/libggml.*so "$BIN"/libggml-base.so -Wl,-rpath,"$(cd "$BIN" && pwd)"
"$BUILD/bench_lowbit_decode" make "$dir" "$VOCAB"
"$BUILD/slt" export --gguf "$dir/packed.h5" "$dir/m.gguf" --type tq2_0
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    "$BUILD/bench_lowbit_decode" run "$dir/packed.h5" "$t" "$REPS" "$TOKENS" | tee -a "$dir/all" |
      grep -v '^#' || true
    "$dir/llama_decode" "$dir/m.gguf" "$BIN" "$t" "$REPS" "$TOKENS" 2> /dev/null | tee -a "$dir/all" |
      grep -v '^#' || true
  done
done
grep -m3 '^# [Cfp]' "$dir/all" | sort -u
grep -m1 '^# llama' "$dir/all" | cut -c1-60
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
grep -v '^#' "$dir/all" | python3 -c '
import sys, statistics as st
v = {}
for line in sys.stdin:
    k, t, x = line.split(); v.setdefault((k, int(t)), []).append(float(x))
print("median tok/s over %d runs each (batch 1, KV cache):" % len(next(iter(v.values()))))
for t in (1, 2):
    m = {k: st.median(v[(k, t)]) for k in ("slt-packed", "slt-fp32", "llama-tq2_0") if (k, t) in v}
    print("  %d thread(s): " % t + ", ".join("%s %.1f" % kv for kv in m.items()) +
          "; packed/fp32 %.2fx, packed/llama %.2fx" % (m["slt-packed"] / m["slt-fp32"],
                                                       m["slt-packed"] / m["llama-tq2_0"]))'
