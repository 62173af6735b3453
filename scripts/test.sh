#!/usr/bin/env bash
# Installs dependencies, builds slt (Release, then with ASan+UBSan) and runs the unit suites.
# Exit status: non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== Floors (scripts/check-layers.sh)"
bash scripts/check-layers.sh

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure

echo "== Sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer) and tests"
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DSLT_SANITIZE=ON >/dev/null
cmake --build build-san -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure
