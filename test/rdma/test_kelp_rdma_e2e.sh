#!/bin/sh
# Inside the Soft-RoCE VM: kelp's RDMA data path end to end on real verbs (rxe0 <-> rxe1).
# An exporter (kelp-rdma serve on rxe0) serves real SeaweedFS volumes; a reader (kelp-rdma get on
# rxe1) has every needle RDMA-WRITTEN into its memfd arena; every fid's bytes must equal
# `kelp-vol cat`. Then: errors (missing needle, missing volume), the bounce-pool path, and an
# exporter killed mid-run (in-flight reads fail, the reader reconnects with backoff, zero wrong bytes).
# Exit 0 pass, 1 fail.
set -u
BIN=build/bin
W=$(mktemp -d /tmp/kelp-rdma-e2e.XXXXXX)
VOLS=$W/vols
ADDR=169.254.77.1
PORT=18515
DEV0="--device rxe0 --gid-index 0"
DEV1="--device rxe1 --gid-index 0"
SERVE_PID=
fail() { echo "FAIL: $*"; [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; exit 1; }
. test/rdma/guest-lib.sh

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
# compare_all FIDFILE OUTDIR: every fid's file equals kelp-vol cat of its volume.
compare_all() {
	_n=0
	while read -r fid; do
		vid=${fid%%,*}
		"$BIN/kelp-vol" cat "$VOLS/$vid.dat" "$fid" > "$W/expect" || fail "kelp-vol cat $fid"
		cmp -s "$W/expect" "$2/$fid" || fail "bytes of $fid differ from kelp-vol cat"
		_n=$((_n + 1))
	done < "$1"
	echo "   $_n needles byte-identical to kelp-vol cat"
}

mkdir -p "$VOLS" "$W/out"
# Volumes: small and mid-size synthetic needles, needles larger than the reader's 1 MiB request
# buffer (read in pieces), gzip-stored text files, and SeaweedFS's own test volume 43.dat.
"$BIN/kelp-vol" create "$VOLS" 7 --synthetic 120 --size 1-256K --seed 7 > "$W/fids.7" || fail "create 7"
"$BIN/kelp-vol" create "$VOLS" 8 --synthetic 3 --size 1500K-2500K --seed 8 > "$W/fids.8" || fail "create 8"
"$BIN/kelp-vol" create "$VOLS" 9 --gzip /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$W/fids.9" || fail "create 9"
# Many small needles for the kill test (enough reads that it is still running when killed).
"$BIN/kelp-vol" create "$VOLS" 10 --synthetic 300 --size 1-8K --seed 10 > "$W/fids.10" || fail "create 10"
cp test/fixtures/43.dat "$VOLS/43.dat"
"$BIN/kelp-vol" ls "$VOLS/43.dat" | awk '/^[0-9]+,/ {print $1}' > "$W/fids.43"
cat "$W/fids.7" "$W/fids.8" "$W/fids.9" "$W/fids.43" > "$W/fids"
[ "$(wc -l < "$W/fids")" -gt 120 ] || fail "too few fids"

echo "-- every needle over RDMA (registered volume mappings)"
start_serve
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$W/fids") > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "get failed"; }
cat "$W/get.log"
compare_all "$W/fids" "$W/out"
grep -q "0 failed" "$W/get.log" || fail "get reports failures"

echo "-- errors: missing needle, missing volume"
first=$(head -1 "$W/fids.7")
bad_cookie="${first%????????}00000000"
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" "$bad_cookie" "99,0100000000" > "$W/err.log" 2>&1
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

echo "-- bounce pool (volumes not registered)"
rm -rf "$W/out"; mkdir -p "$W/out"
start_serve --bounce
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" $(cat "$W/fids.7" "$W/fids.9") > "$W/get.log" 2>&1 \
	|| { cat "$W/get.log"; fail "get (bounce) failed"; }
cat "$W/get.log"
cat "$W/fids.7" "$W/fids.9" > "$W/fids.b"
compare_all "$W/fids.b" "$W/out"
stop_serve
grep -Eq "bounced [1-9]" "$W/serve.log" || fail "bounce pool not used"

echo "-- exporter killed mid-run, then restarted: reader reconnects, no wrong bytes"
rm -rf "$W/out"; mkdir -p "$W/out"
start_serve
"$BIN/kelp-rdma" get $DEV1 --peer "$ADDR:$PORT" --out "$W/out" --repeat 15 $(cat "$W/fids.10") > "$W/get.log" 2>&1 &
GET_PID=$!
i=0
until [ "$(ls "$W/out" | wc -l)" -ge 20 ]; do
	i=$((i + 1)); [ $i -lt 600 ] || fail "reader made no progress"; sleep 0.05
done
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
kill -0 $GET_PID 2>/dev/null || fail "reader finished before the exporter was killed (raise --repeat)"
sleep 1
start_serve
wait $GET_PID; rc=$?
cat "$W/get.log"
[ $rc -eq 0 ] || fail "reader did not recover (exit $rc)"
grep -Eq "resets [1-9]" "$W/get.log" || fail "reader saw no connection reset"
compare_all "$W/fids.10" "$W/out"
stop_serve
rm -rf "$W"
echo "kelp RDMA end-to-end: ok"
