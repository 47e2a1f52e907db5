#!/usr/bin/env bash
# Runs each CMocka unit-test program; prints one summary line that CI can read.
set -u
pass=0; fail=0; failed=()
for t in "$@"; do
	if KELP_FIXTURES="$(pwd)/test/fixtures" "$t"; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$t"); fi
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
