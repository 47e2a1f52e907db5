#!/usr/bin/env bash
# Runs the integration tests (real SeaweedFS, real kelpd): every test/integ/test_*.sh, each exiting
# 0 pass, 77 skip, anything else fail. Prints "integration: N passed, N failed, N skipped" (and each skip
# with the reason the test gave); a skip fails the run unless KELP_ALLOW_SKIP accepts it
# (mk/test-lib.sh).
#   usage: mk/run-integ.sh [test/integ/test_X.sh ...]     (default: all of them)
set -u
# shellcheck source=mk/test-lib.sh
. "$(dirname "$0")/test-lib.sh"
pass=0; fail=0; skipped=(); failed=()
log=$(mktemp /tmp/kelp-integ-log.XXXXXX)
[ $# -gt 0 ] || set -- test/integ/test_*.sh
for t in "$@"; do
	[ -e "$t" ] || continue
	echo "== $t"
	run_logged "$log" bash "$t"; rc=$?
	case $rc in
	0) pass=$((pass+1));;
	77) skipped+=("$(basename "$t" .sh)"$'\t'"$(skip_reason "$log")"); echo "   skipped";;
	*) fail=$((fail+1)); failed+=("$t"); echo "   FAILED ($rc)";;
	esac
done
rm -f "$log"
[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
test_report integration "$pass" "$fail" "${skipped[@]}"
