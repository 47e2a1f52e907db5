#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelpd under misbehaving clients (no timing asserted; waits are bounded polls):
#   1. a client SIGKILLed with reads in flight: kelpd stays healthy, the session is freed
#      (kelpctl sessions), a new client reads correctly;
#   2. a client writing garbage SQEs (random bytes, out-of-arena buffers, huge lengths, bad
#      opcodes) gets an error CQE for each while another session keeps reading the right bytes;
#      a session publishing an impossible ring index is stopped (-EPROTO), listed as broken;
#   3. kelpd stopped (SIGTERM) while clients wait: they end with a clear error, not a hang;
#   4. silent connections are closed (hello timeout); running out of fds backs off, then recovers.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-faults.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	kelpd_stop
	rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/vol"
"$BIN/kelp-vol" create "$D/vol" 3 --synthetic 50 --size 4K-64K --seed 3 >"$D/fids"
FID=$(sed -n 1p "$D/fids")
"$BIN/kelp-vol" cat "$D/vol/3.dat" "$FID" >"$D/want"
kelpd_test_start "$D" "$D/vol"

# wait_line FILE TEXT: bounded wait until FILE has a line containing TEXT
has_line() { grep -q "$2" "$1" 2>/dev/null; }
wait_line() { wait_until 60 has_line "$1" "$2"; }

# 1. SIGKILL with reads in flight
"$CLIENT" "$KELPD_SOCK" hammer "$FID" 32 >"$D/hammer1.out" 2>&1 &
H=$!
PIDS+=("$H")
wait_line "$D/hammer1.out" ready || fail "hammer client never got going: $(cat "$D/hammer1.out")"
[ "$(kelpd_sessions)" = 1 ] || fail "want 1 session: $(kelpctl sessions)"
kill -KILL "$H"
wait "$H" 2>/dev/null || true
kelpd_wait_sessions 0 || fail "session of the killed client not freed: $(kelpctl sessions)"
kelpd_alive || fail "kelpd died"
kelpctl status >/dev/null || fail "kelpctl status failed after the client crash"
kelpctl get "$FID" -o "$D/got1"
cmp -s "$D/got1" "$D/want" || fail "read after the crash differs"
echo "ok: client killed with 32 reads in flight: session freed, kelpd healthy, reads correct"

# 2. garbage SQEs next to an honest reader, then a broken ring index
mkfifo "$D/hold"
"$CLIENT" "$KELPD_SOCK" garbage "$FID" 2000 <"$D/hold" >"$D/garbage.out" 2>&1 &
G=$!
PIDS+=("$G")
exec 7>"$D/hold" # keeps the garbage client's stdin open until we looked at the sessions
wait_line "$D/garbage.out" "garbage session still reads" || {
	cat "$D/garbage.out"
	fail "garbage client did not finish"
}
cat "$D/garbage.out"
grep -q "bad SQEs answered with an error: 2000/2000" "$D/garbage.out" || fail "bad SQEs"
grep -q "honest reads alongside: 2000, mismatches 0, errors 0" "$D/garbage.out" || fail "honest reads"
grep -q "impossible ring index -> -EPROTO: yes" "$D/garbage.out" || fail "ring index"
kelpctl --json sessions | python3 -c '
import json, sys
s = json.load(sys.stdin)["sessions"]
assert any(x["state"] == "broken" for x in s), s
assert any(x["state"] == "live" for x in s), s' || fail "sessions: $(kelpctl sessions)"
exec 7>&-
wait "$G" || fail "garbage client failed"
kelpd_wait_sessions 0 || fail "sessions not freed: $(kelpctl sessions)"
kelpctl --json stats | python3 -c '
import json, sys
t = json.load(sys.stdin)["total"]
assert t["errors"]["bad_sqe"] >= 1600, t
assert t["sessions_broken"] == 1, t' || fail "stats: $(kelpctl stats)"
kelpctl get "$FID" -o "$D/got2"
cmp -s "$D/got2" "$D/want" || fail "read after the garbage differs"
echo "ok: garbage SQEs all answered with errors, honest session unaffected, broken ring isolated"

# 3. kelpd stopped while clients wait
for i in 1 2; do
	"$CLIENT" "$KELPD_SOCK" hammer "$FID" 8 >"$D/h$i.out" 2>&1 &
	PIDS+=("$!")
done
wait_line "$D/h1.out" ready || fail "client 1 not running"
wait_line "$D/h2.out" ready || fail "client 2 not running"
kelpd_stop_checked || fail "kelpd did not stop cleanly with clients attached"
for i in 1 2; do
	rc=0
	wait "${PIDS[-$i]}" || rc=$?
	[ "$rc" = 3 ] || fail "client exit $rc: $(cat "$D/h$((3 - i)).out")"
done
grep -q "session ended: kelpd stopped or crashed" "$D/h1.out" || fail "message: $(cat "$D/h1.out")"
echo "ok: kelpd stopped under load: clients end with '$(grep 'session ended' "$D/h1.out")'"

# 4. peers that hold connections: silent ones are closed after the hello timeout (5 s); running
#    out of fds makes kelpd back off (no busy loop) and serve again once they are gone
( ulimit -n 48; exec "$BIN/kelpd" -c "$KELPD_CONF" ) >>"$KELPD_LOG" 2>&1 &
KELPD_PID=$!
wait_until 60 _kelpd_listens_or_gone "$KELPD_SOCK" && [ -S "$KELPD_SOCK" ] ||
	fail "kelpd with 48 fds did not start: $(tail -5 "$KELPD_LOG")"
python3 - "$KELPD_SOCK" <<'PY' || fail "connection hogs"
import socket, sys, time
path = sys.argv[1]
hogs = []
for i in range(80):  # more than kelpd's 48 fds
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    hogs.append(s)
# every hog is eventually closed by kelpd (hello timeout), none answered
hogs[0].settimeout(120)  # a bound, not a timing check: the hello timeout is 5 s
assert hogs[0].recv(1) == b"", "silent connection was answered"
for s in hogs:
    s.close()
PY
kelpd_alive || fail "kelpd died while out of fds"
grep -q "Too many open files; retrying every 100 ms" "$KELPD_LOG" || fail "no back-off message: $(cat "$KELPD_LOG")"
wait_until 60 kelpctl get "$FID" -o "$D/got3" 2>/dev/null && cmp -s "$D/got3" "$D/want" ||
	fail "kelpd does not serve again after the fd exhaustion"
kelpd_stop_checked || fail "kelpd did not stop cleanly"
echo "ok: silent connections closed after the hello timeout; fd exhaustion backs off, then serves"
