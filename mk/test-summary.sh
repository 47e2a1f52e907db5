#!/usr/bin/env bash
# The end of `make test`: adds up what every suite recorded in $KELP_TEST_RESULTS (mk/test-lib.sh),
# prints each suite's line and each skip, and closes with the line CI tools read:
#   test: N passed, N failed, N skipped
# Exits 1 if a test failed, a step failed (named in the arguments: e.g. a fuzz target, a build), a
# suite (unit, asan, integration, rdma) did not report, or a test was skipped that KELP_ALLOW_SKIP
# does not accept.
#   usage: mk/test-summary.sh [FAILED_STEP...]
set -u
# shellcheck source=mk/test-lib.sh
. "$(dirname "$0")/test-lib.sh"
dir=${KELP_TEST_RESULTS:?KELP_TEST_RESULTS: the directory the suites recorded into}
pass=0; fail=0; skip=0; bad=(); steps=("$@")
echo "== summary"
# in the order make test runs them, then any other
others=$(cd "$dir" && ls | grep -v -x -e unit -e asan -e integration -e rdma)
for suite in unit asan integration rdma $others; do
	f=$dir/$suite
	[ -f "$f" ] || continue
	{
		read -r p x s
		echo "$suite: $p passed, $x failed, $s skipped"
		pass=$((pass + p)); fail=$((fail + x)); skip=$((skip + s))
		while IFS=$'\t' read -r name reason; do
			if skip_allowed "$suite" "$name"; then
				echo "  skipped: $name: $reason (allowed by KELP_ALLOW_SKIP)"
			else
				echo "  SKIPPED: $name: $reason"; bad+=("$suite/$name")
			fi
		done
	} < "$f"
done
# a step that failed without a failed test of its own (build error, fuzz crash, docs check) is one failure
for s in "${steps[@]}"; do
	[ -f "$dir/$s" ] && [ "$(cut -d' ' -f2 < "$dir/$s" | head -1)" -gt 0 ] || fail=$((fail + 1))
done
# a suite that neither reported nor failed did not run at all: as loud as a failure
for suite in unit asan integration rdma; do
	if [ ! -f "$dir/$suite" ] && [[ " ${steps[*]} " != *" $suite "* ]]; then
		echo "$suite: did not report (did it run?)"; steps+=("$suite"); fail=$((fail + 1))
	fi
done
rc=0
if [ ${#steps[@]} -gt 0 ]; then echo "failed steps: ${steps[*]} (see above)"; rc=1; fi
if [ ${#bad[@]} -gt 0 ]; then
	echo "skips not allowed: ${bad[*]}: this run did not test them. Run where they can run (root, QEMU," \
		"weed: make deps), or accept the skip with KELP_ALLOW_SKIP=<suite or test>,... (README, Build)"
	rc=1
fi
echo "test: $pass passed, $fail failed, $skip skipped"
exit $rc
