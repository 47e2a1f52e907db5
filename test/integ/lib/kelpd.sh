# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Start and stop one kelpd from a script (integration tests, bench/run-*.sh, make demo):
#
#   kelpd_start CONF [LOG]   start $KELPD_BIN -c CONF in the background, wait until the socket named
#                            by CONF's [engine] socket exists (kelpd creates it only once it listens);
#                            on failure print the log and return 1
#   kelpd_stop               SIGTERM, wait up to 5 s, then SIGKILL; safe to call twice or unstarted
#
# Sets KELPD_PID. The caller registers kelpd_stop for exit (weed.sh's at_exit, or its own trap).
KELPD_BIN=${KELPD_BIN:-${BIN:-build/bin}/kelpd}
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
KELPD_PID=""

kelpd_start() {
	local conf=$1 log=${2:-${1%.conf}.log} sock
	sock=$(awk -F'=' '/^\[/ { sec = $0 } sec == "[engine]" && $1 ~ /^[ \t]*socket[ \t]*$/ {
		gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }' "$conf")
	[ -n "$sock" ] || { echo "kelpd_start: $conf has no [engine] socket" >&2; return 1; }
	rm -f "$sock"
	"$KELPD_BIN" -c "$conf" >>"$log" 2>&1 &
	KELPD_PID=$!
	wait_until 60 _kelpd_listens_or_gone "$sock" && kill -0 "$KELPD_PID" 2>/dev/null && [ -S "$sock" ] &&
		return 0
	echo "kelpd_start: kelpd -c $conf did not open $sock; its log ($log):" >&2
	tail -n 30 "$log" >&2
	kelpd_stop
	return 1
}

# kelpd creates its socket only once it listens (a rename): its existence is the readiness check
_kelpd_listens_or_gone() { [ -S "$1" ] || ! kill -0 "$KELPD_PID" 2>/dev/null; }

kelpd_stop() {
	[ -n "$KELPD_PID" ] || return 0
	local i
	kill -TERM "$KELPD_PID" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$KELPD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$KELPD_PID" 2>/dev/null || true
	wait "$KELPD_PID" 2>/dev/null || true
	KELPD_PID=""
	return 0
}
