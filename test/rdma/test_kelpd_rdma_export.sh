#!/bin/sh
# Inside the Soft-RoCE VM: kelpd's RDMA export ([rdma] listen, lcore/rdma/rdma_export.h) on rxe0 serves
# its local volumes to a reader on rxe1 (kelp-rdma get, the reader side of the same protocol):
# every fid's bytes equal `kelp-vol cat`; a missing needle is ENOENT and a volume kelpd does not
# hold is EHOSTUNREACH; kelpd's export counters (printed at its clean stop) prove it served them,
# the small ones inline in the reply ([rdma] inline_max). The readers are gone once kelp-rdma
# exits: with `[peer] idle_timeout_s = 1` kelpd's keepalives find that out and reset both
# connections (nobody tells the export otherwise).
# Exit 0 pass, 1 fail.
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
W=$(mktemp -d /tmp/kelpd-rdma-export.XXXXXX)
ADDR=169.254.77.1
PORT=18516
# a reply 2 s late (kelp-rdma's default timeout) is no failure on a loaded host under TCG: the
# reader would reset and reconnect, and the exporter's counters checked below would not match
DEV1="--device rxe1 --gid-index 0 --timeout-ms 10000"
KELPD_PID=
fail() { echo "FAIL: $*"; [ -n "$KELPD_PID" ] && kill "$KELPD_PID" 2>/dev/null; cat "$W/kelpd.log"; exit 1; }

cp -r "$D/vols" "$W/vols"
mkdir -p "$W/out"
cat > "$W/kelp.conf" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $W/kelpd.sock
idle_park_us = 200
arena_mb = 8
[export]
dirs = $W/vols
[rdma]
device = rxe0
gid_index = 0
listen = $ADDR:$PORT
inline_max = 4096
[peer]
idle_timeout_s = 1
CONF
"$BIN/kelpd" -c "$W/kelp.conf" > "$W/kelpd.log" 2>&1 &
KELPD_PID=$!
wait_tcp_listen $PORT || fail "kelpd's RDMA export did not listen"
# (the export listens before it logs; the control socket appears after both)
wait_socket "$W/kelpd.sock" || fail "kelpd has no socket"
grep -q "RDMA export on rxe0" "$W/kelpd.log" || fail "kelpd did not report its RDMA export"

echo "-- every needle from kelpd over RDMA"
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$D"/fids.*) > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "get failed"; }
cat "$W/get.log"
grep -q " 0 failed" "$W/get.log" || fail "get reports failures"
mkdir "$W/exp"
(cd "$D/expect" && cp $(cat "$D"/fids.*) "$W/exp/") || fail "copying expected bytes"
diff -r "$W/exp" "$W/out" > "$W/diff" || { head "$W/diff"; fail "bytes differ from kelp-vol cat"; }
n=$(ls "$W/out" | wc -l)
echo "   $n needles byte-identical to kelp-vol cat"

echo "-- errors: missing needle, volume not held by this kelpd"
first=$(head -1 "$D/fids.7")
bad_cookie="${first%????????}00000000"
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W" "$bad_cookie" "99,0100000000" > "$W/err.log" 2>&1
rc=$?
cat "$W/err.log"
[ $rc -eq 1 ] || fail "get of missing needles exited $rc, want 1"
grep -q "$bad_cookie: No such file" "$W/err.log" || fail "missing needle not reported as ENOENT"
grep -q "99,0100000000: No route to host" "$W/err.log" || fail "missing volume not reported"

echo "-- the readers exited: keepalives reset their connections"
ctl() { "$BIN/kelpctl" --socket "$W/kelpd.sock" "$@"; }
# (the keepalive goes out after 1 s idle; a gone reader's fails after the QP's retries, ~0.5 s)
_i=0
while :; do
	st=$(ctl stats --json) || fail "kelpctl stats failed"
	gone=$(echo "$st" | jq -r .rdma_export.idle_resets)
	up=$(echo "$st" | jq -r .rdma_export.up)
	[ "$gone" = 2 ] && [ "$up" = 0 ] && break
	_i=$((_i + 1))
	[ $_i -lt 600 ] || fail "after 60+ s: $gone connections reset by keepalive (want 2), $up up (want 0): $st"
	sleep 0.1
done
ctl stats | grep "^rdma export"

kill -TERM "$KELPD_PID"; wait "$KELPD_PID"; rc=$?; KELPD_PID=
cat "$W/kelpd.log"
[ $rc -eq 0 ] || fail "kelpd exited $rc"
# every request the readers sent (large needles take several) was answered by kelpd's export
reqs() { sed -n 's/.*over RDMA: \([0-9]*\) requests.*/\1/p' "$1"; }
want=$(( $(reqs "$W/get.log") + $(reqs "$W/err.log") ))
[ "$want" -ge $((n + 2)) ] || fail "readers report only $want requests"
grep -Eq "RDMA export: connections 2 .* requests $want replies $want .* errors 0 " "$W/kelpd.log" ||
	fail "kelpd's export counters do not show $want requests served on 2 connections"
# each reset connection got a new QP (nic/conn.h), and no completion named nothing
grep -Eq "RDMA export: .* inlined [1-9][0-9]* keepalives [1-9][0-9]* idle resets 2 new QPs 2 stale completions [0-9]+ unknown 0$" "$W/kelpd.log" ||
	fail "kelpd's export counters show no inline replies, or not the 2 keepalive resets with a new QP each and no unknown completion"
rm -rf "$W"
echo "kelpd RDMA export: ok"
