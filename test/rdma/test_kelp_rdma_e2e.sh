#!/bin/sh
# Inside the Soft-RoCE VM: kelp's RDMA data path end to end on real verbs (rxe0 <-> rxe1).
# An exporter (kelp-rdma serve on rxe0) serves real SeaweedFS volumes; a reader (kelp-rdma get on
# rxe1) has every needle RDMA-WRITTEN into its memfd arena; every fid's bytes must equal
# `kelp-vol cat` (taken on the host by prepare-data.sh). Then: errors (missing needle, missing
# volume), the bounce-pool path, and an exporter killed mid-run (in-flight reads fail, the reader
# reconnects with backoff, zero wrong bytes). Exit 0 pass, 1 fail.
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
W=$(mktemp -d /tmp/kelp-rdma-e2e.XXXXXX)
VOLS=$W/vols
ADDR=169.254.77.1
PORT=18515
DEV0="--device rxe0 --gid-index 0"
# a reply 2 s late (kelp-rdma's default timeout) is no failure on a loaded host under TCG: the
# reader would reset and reconnect, and the exporter's counters checked below would not match
DEV1="--device rxe1 --gid-index 0 --timeout-ms 10000"
SERVE_PID=
fail() { echo "FAIL: $*"; [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; exit 1; }

start_serve() { # extra serve options...
	"$BIN/kelp-rdma" serve $DEV0 --listen "$ADDR:$PORT" "$@" "$VOLS" > "$W/serve.log" 2>&1 &
	SERVE_PID=$!
	wait_tcp_listen $PORT || { cat "$W/serve.log"; fail "exporter did not listen"; }
}
stop_serve() {
	kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; _rc=$?; SERVE_PID=
	cat "$W/serve.log"
	[ $_rc -eq 0 ] || fail "exporter exited $_rc"
}
# same_bytes OUTDIR FIDFILE...: OUTDIR holds exactly those fids, each equal to kelp-vol cat's bytes.
same_bytes() {
	_out=$1; shift
	rm -rf "$W/exp"; mkdir "$W/exp"
	(cd "$D/expect" && cp $(cat "$@") "$W/exp/") || fail "copying expected bytes"
	diff -r "$W/exp" "$_out" > "$W/diff" || { head "$W/diff"; fail "bytes differ from kelp-vol cat"; }
	echo "   $(ls "$_out" | wc -l) needles byte-identical to kelp-vol cat"
}

mkdir -p "$W/out"
cp -r "$D/vols" "$VOLS" # onto the VM's tmpfs, like a volume server's local disk

echo "-- every needle over RDMA"
start_serve
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$D"/fids.*) > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "get failed"; }
cat "$W/get.log"
same_bytes "$W/out" "$D"/fids.*
grep -q " 0 failed" "$W/get.log" || fail "get reports failures"

echo "-- errors: missing needle, missing volume"
first=$(head -1 "$D/fids.7")
bad_cookie="${first%????????}00000000"
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W" "$bad_cookie" "99,0100000000" > "$W/err.log" 2>&1
rc=$?
cat "$W/err.log"
[ $rc -eq 1 ] || fail "get of missing needles exited $rc, want 1"
grep -q "$bad_cookie: No such file" "$W/err.log" || fail "missing needle not reported as ENOENT"
grep -q "99,0100000000: No route to host" "$W/err.log" || fail "missing volume not reported"
stop_serve
# Linux < 6.2 pins read-only ranges with FOLL_FORCE|FOLL_WRITE, which a shared read-only file
# mapping refuses (EFAULT): then the exporter must have fallen back to the bounce pool.
grep -Eq "[1-9][0-9]* registered read-only|not registered \(Bad address\)" "$W/serve.log" ||
	fail "volumes neither registered nor refused for the known reason"
grep -Eq "requests [1-9][0-9]+ replies [1-9][0-9]+ " "$W/serve.log" || fail "exporter served nothing"
grep -q "errors 0 " "$W/serve.log" || fail "exporter counted errors"

echo "-- bounce pool forced (--bounce)"
rm -rf "$W/out"; mkdir -p "$W/out"
start_serve --bounce
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$D/fids.7" "$D/fids.9") > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "get (bounce) failed"; }
cat "$W/get.log"
same_bytes "$W/out" "$D/fids.7" "$D/fids.9"
stop_serve
grep -Eq "bounced [1-9]" "$W/serve.log" || fail "bounce pool not used"

echo "-- a reader with a wrong rkey breaks only its own connection"
rm -rf "$W/out"; mkdir -p "$W/out" "$W/bad"
start_serve
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/bad" --corrupt-rkey --no-retry \
	$(cat "$D/fids.9") > "$W/bad.log" 2>&1
rc=$?
cat "$W/bad.log"
[ $rc -eq 1 ] || fail "the reader with a wrong rkey exited $rc, want 1"
[ -z "$(ls "$W/bad")" ] || fail "a read with a wrong rkey produced a file"
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$D/fids.7") > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "a good reader failed after the bad one"; }
cat "$W/get.log"
same_bytes "$W/out" "$D/fids.7"
stop_serve
grep -q "(exporter) failed: " "$W/serve.log" || fail "exporter did not report the bad rkey"
grep -Eq "resets [1-9]" "$W/serve.log" || fail "exporter did not reset the bad connection"

echo "-- exporter killed mid-run, then restarted: reader reconnects, no wrong bytes"
rm -rf "$W/out"; mkdir -p "$W/out"
start_serve
timeout -s KILL 600 "$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" --repeat 15 \
	$(cat "$D/fids.10") > "$W/get.log" 2>&1 &
GET_PID=$!
i=0
until [ "$(ls "$W/out" | wc -l)" -ge 20 ]; do
	i=$((i + 1)); [ $i -lt 3000 ] || fail "reader made no progress"; sleep 0.05
done
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
kill -0 $GET_PID 2>/dev/null || fail "reader finished before the exporter was killed (raise --repeat)"
sleep 1
start_serve
wait $GET_PID; rc=$?
cat "$W/get.log"
[ $rc -ne 137 ] || { stop_serve; fail "reader hung (killed after 600 s)"; }
[ $rc -eq 0 ] || fail "reader did not recover (exit $rc)"
grep -Eq "[1-9][0-9]* resets" "$W/get.log" || fail "reader saw no connection reset"
grep -q "reconnected" "$W/get.log" || fail "reader did not reconnect"
same_bytes "$W/out" "$D/fids.10"
stop_serve
rm -rf "$W"
echo "kelp RDMA end-to-end: ok"
