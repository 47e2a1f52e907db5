#!/usr/bin/env bash
# Runs each CMocka unit-test program; prints one summary line that CI can read:
#   unit: N passed, N failed, N skipped
# A program that exits 0 but skipped a test (CMocka's skip(), e.g. no root for huge pages) counts
# as skipped, not passed, and the run fails unless KELP_ALLOW_SKIP accepts it (mk/test-lib.sh).
# The suite is called $KELP_UNIT_SUITE (default unit; `make test` names the ASan run asan).
set -u
# shellcheck source=mk/test-lib.sh
. "$(dirname "$0")/test-lib.sh"
suite=${KELP_UNIT_SUITE:-unit}
pass=0; fail=0; failed=(); skipped=()
log=$(mktemp /tmp/kelp-unit-log.XXXXXX)
for t in "$@"; do
	if KELP_FIXTURES="$(pwd)/test/fixtures" run_logged "$log" "$t"; then
		# CMocka: "[  SKIPPED ] <test>" for each skipped test (and again in its closing list)
		cases=$(grep -a '^\[  SKIPPED \] ' "$log" | grep -v ' test(s)' | sed 's/^\[  SKIPPED \] //' |
			sort -u | tr '\n' ' ')
		if [ -n "$cases" ]; then
			skipped+=("$(basename "$t")"$'\t'"${cases% }: $(skip_reason "$log")")
		else
			pass=$((pass+1))
		fi
	else
		fail=$((fail+1)); failed+=("$t")
	fi
done
rm -f "$log"
[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
test_report "$suite" "$pass" "$fail" "${skipped[@]}"
