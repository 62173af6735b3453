#!/usr/bin/env bash
# Build the libFuzzer harnesses in tests/fuzz (clang, ASan + UBSan) and run them concurrently,
# each for SECONDS (default 600), starting from the seed corpus in tests/fuzz/corpus/NAME.
#   scripts/fuzz.sh [SECONDS] [NAME...]      NAME: parquet jsonl shard config (default: all four)
# New corpus entries, logs and crash artifacts go to $SLT_FUZZ_OUT (default /tmp/slt-fuzz), never
# into the repository. Each harness's speed is printed as executions per CPU-second (user + sys
# of its process: on a shared machine wall-clock exec/s, which libFuzzer prints, says more about
# the neighbours than about the harness). Exit status: non-zero when a harness found a crash,
# failed to build, or ran slower than its floor.
#
# Floors, in executions per CPU-second (SLT_FUZZ_FLOOR_CONFIG=0 turns one off). fuzz_config, on
# 2 cores shared with other jobs (load average 2-4): alone 1,500-2,000 before its loader lost its
# quadratic work, 5,200-5,800 after; in fuzz_smoke (all four harnesses at once) 1,100 before,
# 3,900-4,800 after. 2,500 sits between the two with room for a loaded CI runner, so a return of
# the old costs fails here. The readers of binary files have no floor: they are not near one.
set -euo pipefail

# Executions per CPU-second from the execution count and a "user sys" file ("?" when unknown).
exec_rate() {
  local execs=$1 cpu
  cpu=$(tail -1 "$2" 2>/dev/null | awk 'NF == 2 && $1 + $2 > 0 {print $1 + $2}')
  case $execs in '' | *[!0-9]*) echo "?"; return ;; esac
  [ -n "$cpu" ] && awk -v e="$execs" -v c="$cpu" 'BEGIN {printf "%d", e / c}' || echo "?"
}

# One function, parsed whole before it runs, so editing this file mid-run is harmless.
main() {
  cd "$(dirname "$0")/.."

  secs=${1:-600}
  [ $# -gt 0 ] && shift
  names=("$@")
  [ ${#names[@]} -eq 0 ] && names=(parquet jsonl shard config)
  out=${SLT_FUZZ_OUT:-/tmp/slt-fuzz}
  cc=${CC:-clang}
  mkdir -p "$out"

  for n in "${names[@]}"; do
    case $n in parquet | jsonl | shard | config) ;;
      *) echo "unknown harness '$n' (parquet, jsonl, shard, config)" >&2; exit 2 ;;
    esac
  done
  # CMake builds the harnesses from its own source list (CMakeLists.txt, SLT_FUZZ), with clang.
  echo "== building ${names[*]/#/fuzz_} (clang, libFuzzer + ASan + UBSan) in $out/build"
  CC=$cc cmake -S . -B "$out/build" -DSLT_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug > "$out/cmake.log" 2>&1 ||
    { cat "$out/cmake.log" >&2; echo "fuzz: cmake failed" >&2; exit 1; }
  targets=()
  for n in "${names[@]}"; do targets+=(--target "fuzz_$n"); done
  cmake --build "$out/build" -j"$(nproc)" "${targets[@]}" > "$out/build.log" 2>&1 ||
    { tail -30 "$out/build.log" >&2; echo "fuzz: build failed" >&2; exit 1; }
  for n in "${names[@]}"; do cp "$out/build/fuzz_$n" "$out/fuzz_$n"; done

  stamp="$out/.started"
  touch "$stamp"
  pids=()
  for n in "${names[@]}"; do
    mkdir -p "$out/corpus_$n" "$out/artifacts_$n"
    echo "== running fuzz_$n for ${secs}s (log: $out/fuzz_$n.log)"
    # The first corpus directory receives new inputs; the seeds are only read.
    # bash's time keyword writes "user sys" of the harness to fuzz_NAME.cpu.
    (
      TIMEFORMAT='%3U %3S'
      time ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$n" -max_total_time="$secs" -timeout=25 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts_$n/" \
        "$out/corpus_$n" "tests/fuzz/corpus/$n" >"$out/fuzz_$n.log" 2>&1
    ) 2>"$out/fuzz_$n.cpu" &
    pids+=($!)
  done

  status=0
  for i in "${!names[@]}"; do
    n=${names[$i]}
    rc=0
    wait "${pids[$i]}" || rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz_$n.log" | grep -o '[0-9]*$' || echo "?")
    took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out/fuzz_$n.log" | awk '{print $5 "s"}' || true)
    [ -n "$took" ] || took="under ${secs}s (stopped early)"
    found=$(find "$out/artifacts_$n" -type f -newer "$stamp" | head -5 | tr '\n' ' ')
    rate=$(exec_rate "$execs" "$out/fuzz_$n.cpu")
    floor=0
    [ "$n" = config ] && floor=${SLT_FUZZ_FLOOR_CONFIG:-2500}
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
      echo "fuzz_$n: $execs executions in $took: CRASH (exit $rc) ${found:+artifacts: $found}"
      status=1
    elif [ "$floor" -gt 0 ] && [ "${rate%%.*}" -lt "$floor" ] 2>/dev/null; then
      echo "fuzz_$n: $execs executions in $took: no crash, but $rate exec per CPU-second is below" \
        "the floor of $floor (scripts/fuzz.sh: SLT_FUZZ_FLOOR_$(echo "$n" | tr a-z A-Z))"
      status=1
    else
      echo "fuzz_$n: $execs executions in $took: no crash, $rate exec per CPU-second"
    fi
  done
  return $status
}

main "$@"
