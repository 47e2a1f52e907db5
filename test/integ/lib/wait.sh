# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Bounded waits for scripts (integration tests, benchmarks). Source this file, then:
#
#   wait_until SECS CMD...   run CMD every 0.1 s until it succeeds (returns 0) or SECS seconds have
#                            passed (returns 1, after one last try)
#
# Tests never assert on timing: a wait is for a condition, and its deadline is only there so that
# a broken build fails instead of hanging. Deadlines are generous (CI shares 2 cores with builds
# and VMs, where starting python3 alone can take seconds); a passing run never waits them out.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -le "$end" ] || return 1
		sleep 0.1
	done
}
