# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# kelpd helpers for the kelpd integration tests, on top of lib/kelpd.sh. Source this file, then:
#
#   kelpd_require                 exit 77 (skip) unless kelpd, kelpctl, kelp-vol and the test client
#                                 are built; sets CLIENT (build/test/integ/kelp_client)
#   fail MSG...                   print FAIL: MSG and exit 1
#   kelpd_test_start DIR [EXPORT...]  write DIR/kelp.conf (socket DIR/kelpd.sock, lcore 1, parks
#                                 after $KELPD_IDLE_PARK_US, default 200 us idle, so tests do not
#                                 hold a core; $KELPD_EXTRA_CONF is appended: more sections) and
#                                 start kelpd
#   kelpd_stop_checked            SIGTERM, wait; returns kelpd's exit status (0 = clean stop)
#   kelpd_alive                   true while kelpd runs
#   kelpctl ARGS...               build/bin/kelpctl -c DIR/kelp.conf ARGS...
#   kelpd_sessions                number of sessions kelpd lists
#   kelpd_wait_sessions N         bounded wait (30 s) until kelpd lists N sessions
#
# Variables: KELPD_PID (lib/kelpd.sh), KELPD_CONF, KELPD_SOCK, KELPD_LOG.
BIN=${BIN:-build/bin}
. "$(dirname "${BASH_SOURCE[0]}")/kelpd.sh"

kelpd_require() {
	for t in kelpd kelpctl kelp-vol; do
		[ -x "$BIN/$t" ] || { echo "skip: $BIN/$t not built (make)"; exit 77; }
	done
	command -v jq >/dev/null || { echo "skip: jq missing (run 'make deps')"; exit 77; }
	CLIENT=${CLIENT:-${BUILD:-build}/test/integ/kelp_client}
	[ -x "$CLIENT" ] || { echo "skip: $CLIENT not built (make)"; exit 77; }
}

fail() { echo "FAIL: $*" >&2; exit 1; }

kelpd_test_start() {
	local dir=$1
	shift
	local dirs
	dirs=$(IFS=,; echo "$*")
	KELPD_CONF=$dir/kelp.conf
	KELPD_SOCK=$dir/kelpd.sock
	KELPD_LOG=$dir/kelpd.log
	cat >"$KELPD_CONF" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $KELPD_SOCK
idle_park_us = ${KELPD_IDLE_PARK_US:-200}
arena_mb = 32
queue_depth = 64
[export]
dirs = $dirs
[rdma]
device = off
${KELPD_EXTRA_CONF:-}
CONF
	kelpd_start "$KELPD_CONF" "$KELPD_LOG"
}

kelpd_stop_checked() {
	local rc=0
	kill -TERM "$KELPD_PID"
	wait "$KELPD_PID" || rc=$?
	KELPD_PID=""
	return $rc
}

kelpd_alive() { [ -n "$KELPD_PID" ] && kill -0 "$KELPD_PID" 2>/dev/null; }

kelpctl() { "$BIN/kelpctl" -c "$KELPD_CONF" "$@"; }

kelpd_sessions() { kelpctl --json sessions | jq '.sessions | length'; }

_kelpd_has_sessions() { [ "$(kelpd_sessions)" = "$1" ]; }
kelpd_wait_sessions() { wait_until 30 _kelpd_has_sessions "$1"; }
