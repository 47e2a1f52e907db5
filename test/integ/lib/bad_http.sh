# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The broken HTTP server of lib/bad_http.py, from a test script. Source this file, then:
#
#   bad_http_start MODE DIR   start bad_http.py in MODE (see its --help), its port file in DIR; wait
#                             until it listens (60 s at most); sets BAD_HTTP_PID and BAD_HTTP_PORT
#   bad_http_stop             stop it; safe to call twice or unstarted
#
# The caller registers bad_http_stop for exit (weed.sh's at_exit, or its own trap).
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
BAD_HTTP_PID=""
BAD_HTTP_PORT=""

bad_http_start() {
	local pf=$2/bad_http.$1.port
	bad_http_stop
	rm -f "$pf"
	python3 "$(dirname "${BASH_SOURCE[0]}")/bad_http.py" "$pf" "$1" &
	BAD_HTTP_PID=$!
	if ! wait_until 60 test -s "$pf"; then
		echo "bad_http_start: bad_http.py $1 wrote no port to $pf" >&2
		bad_http_stop
		return 1
	fi
	BAD_HTTP_PORT=$(cat "$pf")
}

bad_http_stop() {
	[ -n "$BAD_HTTP_PID" ] || return 0
	kill "$BAD_HTTP_PID" 2>/dev/null || true
	wait "$BAD_HTTP_PID" 2>/dev/null || true # (it dies of the SIGTERM: status 143)
	BAD_HTTP_PID=""
	return 0
}
