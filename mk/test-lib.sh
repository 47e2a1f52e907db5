# Shared by the test runners (mk/run-unit.sh, mk/run-integ.sh, test/rdma/run.sh) and
# mk/test-summary.sh: how a suite reports what it ran, and when a skip is accepted. Sourced, not run.
#
# A skipped test fails the run unless KELP_ALLOW_SKIP names it: a comma-separated list of suites
# (unit, asan, integration, rdma), test names (test_lcore_session_fault, kelpd_rdma_read, rdma-vm), or
# `all`. A green run therefore never hides a test that did not run.
#
# Under `make test`, KELP_TEST_RESULTS is a directory: each suite writes its counts there
# (test_report) instead of failing on a skip itself, and mk/test-summary.sh adds them up at the end.
# Run on their own (`make unit`, `make integ`, `make test-rdma`), the runners apply the rule themselves.

# skip_allowed SUITE NAME: does KELP_ALLOW_SKIP accept that NAME (of SUITE) was skipped?
skip_allowed() {
	local w IFS=,
	for w in ${KELP_ALLOW_SKIP:-}; do
		if [ "$w" = all ] || [ "$w" = "$1" ] || [ "$w" = "$2" ]; then return 0; fi
	done
	return 1
}

# run_logged LOG CMD [ARG...]: runs CMD with its output on this terminal as it comes and in LOG too;
# returns CMD's exit status. CMD runs in the foreground (a background job would ignore SIGINT, and
# so would the daemons it starts). Not a pipe into tee: a daemon that a test leaks would hold the
# pipe open and hang the run. tail follows LOG until a stand-in process ends, which happens when
# CMD has; it prints what is left, then stops.
run_logged() {
	local log=$1 rc=0 spid tpid; shift
	: > "$log"
	sleep 2147483647 &
	spid=$!
	tail -n +1 -s 0.1 -f --pid="$spid" "$log" &
	tpid=$!
	"$@" >> "$log" 2>&1 || rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid" "$tpid" 2>/dev/null
	return "$rc"
}

# skip_reason LOG: the last "skip: ..." line a test printed (without "skip: "), or "no reason given".
skip_reason() {
	local r
	r=$(grep -a '^skip: ' "$1" 2>/dev/null | tail -1 | tr -d '\r')
	r=${r#skip: }
	echo "${r:-no reason given}"
}

# test_report SUITE PASSED FAILED [SKIPPED_NAME<TAB>REASON ...]: prints the suite's summary line
# ("SUITE: N passed, N failed, N skipped", the format CI tools read) and one line per skipped test;
# records them under $KELP_TEST_RESULTS when it is set. Returns 1 if a test failed, or if a skip is
# not allowed and no summary follows (KELP_TEST_RESULTS unset); 0 otherwise.
test_report() {
	local suite=$1 pass=$2 fail=$3 s name reason bad=0; shift 3
	echo "$suite: $pass passed, $fail failed, $# skipped"
	for s in "$@"; do
		name=${s%%$'\t'*}; reason=${s#*$'\t'}
		if skip_allowed "$suite" "$name"; then
			echo "  skipped: $name: $reason (allowed by KELP_ALLOW_SKIP)"
		else
			echo "  SKIPPED: $name: $reason"; bad=$((bad + 1))
		fi
	done
	if [ -n "${KELP_TEST_RESULTS:-}" ]; then
		mkdir -p "$KELP_TEST_RESULTS"
		{ echo "$pass $fail $#"; for s in "$@"; do echo "$s"; done; } > "$KELP_TEST_RESULTS/$suite"
	elif [ $bad -gt 0 ]; then
		echo "$suite: $bad skipped test(s) not allowed: run where they can run, or accept the skip with" \
			"KELP_ALLOW_SKIP=$suite (or the test's name; see README, Build)"
		return 1
	fi
	[ "$fail" -eq 0 ]
}
