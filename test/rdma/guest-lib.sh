# shellcheck shell=sh
# Helpers for scripts that run inside the Soft-RoCE VM (sourced by tests.sh and bench.sh).

# Waits are bounded polls, never assertions on time: their limits are generous (at least 60 s
# here; under TCG on a loaded 2-core host the guest runs 10-50x slower than the host, and a kelpd
# that starts in 0.1 s on the host took seconds here), so a passing run never reaches them.
# Counted in tries, not seconds (dash has no $SECONDS): each try also spawns processes, so a slow
# guest only waits longer.

# wait_tcp_listen PORT: waits (>= 60 s) for a TCP listener on PORT.
wait_tcp_listen() {
	_i=0
	while ! ss -Hltn "sport = :$1" | grep -q .; do
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || return 1
		sleep 0.05
	done
}

# wait_socket PATH: waits (>= 60 s) for the Unix socket PATH. kelpd creates its control socket
# once it accepts, after its RDMA set-up (and its log lines about it) is done.
wait_socket() {
	_i=0
	until [ -S "$1" ]; do
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || return 1
		sleep 0.05
	done
}

# perftest_pair TOOL [ARGS...]: perftest TOOL server on rxe0, client on rxe1 (GID index 0, out-of-band
# exchange over 127.0.0.1:18515). The client's report goes to stdout; the server's only on failure.
# Returns non-zero when either side fails.
perftest_pair() {
	_tool=$1; shift
	_log=$(mktemp)
	"$_tool" -d rxe0 -x 0 -F "$@" > "$_log" 2>&1 &
	_srv=$!
	if ! wait_tcp_listen 18515; then
		echo "perftest_pair: $_tool server did not listen"; kill $_srv 2>/dev/null; cat "$_log"; return 1
	fi
	"$_tool" -d rxe1 -x 0 -F "$@" 127.0.0.1
	_crc=$?
	wait $_srv
	_src=$?
	[ $_src -eq 0 ] || { echo "perftest_pair: $_tool server failed ($_src):"; cat "$_log"; }
	rm -f "$_log"
	[ $_crc -eq 0 ] && [ $_src -eq 0 ]
}

# A tiny test runner: run_test NAME CMD [ARGS...] runs CMD, counting exit 0 as pass, 77 as skip,
# anything else as fail; test_summary prints the counts and returns non-zero on any failure.
T_PASS=0; T_FAIL=0; T_SKIP=0; T_FAILED=""
run_test() {
	_name=$1; shift
	echo "== $_name"
	_t0=$(date +%s)
	"$@"
	_rc=$?
	case $_rc in
	0) T_PASS=$((T_PASS + 1)); echo "   ok ($(( $(date +%s) - _t0 )) s)" ;;
	77) T_SKIP=$((T_SKIP + 1)); echo "   skipped" ;;
	*) T_FAIL=$((T_FAIL + 1)); T_FAILED="$T_FAILED $_name"; echo "   FAILED (exit $_rc)" ;;
	esac
}
test_summary() {
	echo "rdma: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped${T_FAILED:+ (failed:$T_FAILED)}"
	[ $T_FAIL -eq 0 ]
}
