# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Sourced at the top of the benchmark scripts (and make demo), before any cd, as
#   . "$(dirname "$0")/prio.sh" "$0" "$@"
#
# On a shared machine the busy-polling threads (kelpd's lcore, the client) lose whole time slices to
# other people's processes, and a "benchmark" then measures the scheduler. With autogroup scheduling
# (Linux's default for sessions) plain `nice` does not help across sessions, so this re-runs the
# script in its own session (= its own scheduling group) and gives that group nice -10: everything
# the script starts (kelpd, kelp-bench, weed, wrk) competes together, with about 90 % of the CPU
# against a default group. Set KELP_BENCH_PRIO=0 to measure without it. Needs root or CAP_SYS_NICE;
# without them it says so and goes on.
if [ "${KELP_BENCH_PRIO:-1}" = 1 ] && [ -z "${_KELP_BENCH_GROUP:-}" ] && command -v setsid >/dev/null &&
	[ -w /proc/self/autogroup ]; then
	export _KELP_BENCH_GROUP=1
	# Not exec: the new session does not get the terminal's Ctrl-C, so this shell forwards it.
	setsid -w bash "$(readlink -f "$1")" "${@:2}" &
	_prio_child=$!
	trap 'kill -TERM -- "-$_prio_child" 2>/dev/null || kill -TERM "$_prio_child" 2>/dev/null' INT TERM
	_prio_rc=0
	wait "$_prio_child" || _prio_rc=$?
	while kill -0 "$_prio_child" 2>/dev/null; do wait "$_prio_child" || _prio_rc=$?; done
	exit "$_prio_rc"
fi
if [ -n "${_KELP_BENCH_GROUP:-}" ]; then
	if echo -10 >/proc/self/autogroup 2>/dev/null; then
		echo "prio: own scheduling group, nice -10 ($(cat /proc/self/autogroup))" >&2
	else
		echo "prio: cannot raise the scheduling group's priority (not root?); results may be noisy" >&2
	fi
fi
