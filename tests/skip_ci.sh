#!/usr/bin/env bash
# A check whose data is missing is a loud skip locally and a failure under CI (CI=true), with one
# line naming the missing path: run a suite that reads the shared data with SLT_TEST_DATA pointing
# nowhere, once as CI and once not.
# usage: tests/skip_ci.sh SLT_TESTS_BINARY
set -u
T=${1:?usage: skip_ci.sh SLT_TESTS_BINARY}
fail() { echo "skip_ci: FAIL: $*" >&2; exit 1; }
missing=/nonexistent/slt-test-data-$$
out=$(mktemp /tmp/slt_skipci_XXXXXX)
trap 'rm -f "$out"' EXIT

CI=true SLT_TEST_DATA=$missing "$T" --suite ingest > "$out" 2>&1 && fail "CI=true: exit 0 with the data missing"
grep -q "^CI: a skip is a failure: .*$missing" "$out" || fail "CI=true: no line naming $missing: $(tail -5 "$out")"
grep -q "SKIPPED" "$out" && fail "CI=true: still says SKIPPED"

env -u CI SLT_TEST_DATA=$missing "$T" --suite ingest > "$out" 2>&1 || fail "local: a skip failed the run: $(tail -5 "$out")"
grep -q "SKIPPED .*$missing" "$out" || fail "local: no SKIPPED line naming $missing"
CI=false SLT_TEST_DATA=$missing "$T" --suite ingest > "$out" 2>&1 || fail "CI=false: a skip failed the run"
echo "skip_ci: missing data fails under CI=true (one line naming it), skips loudly otherwise"
