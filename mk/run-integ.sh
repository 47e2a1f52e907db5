#!/usr/bin/env bash
# Runs the integration tests (real SeaweedFS, real kelpd): every test/integ/test_*.sh, each exiting
# 0 pass, 77 skip, anything else fail.
set -u
pass=0; fail=0; skip=0
for t in test/integ/test_*.sh; do
	[ -e "$t" ] || continue
	echo "== $t"
	bash "$t"; rc=$?
	case $rc in 0) pass=$((pass+1));; 77) skip=$((skip+1)); echo "   skipped";; *) fail=$((fail+1)); echo "   FAILED ($rc)";; esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
