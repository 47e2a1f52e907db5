#!/bin/bash
# Inside the Soft-RoCE VM: a reader kelpd (rxe1, no local volumes) reads the needles of a real
# SeaweedFS volume server over RDMA from the export kelpd beside it (rxe0, [rdma] listen on the
# volume server's address, peer_port), discovery by the real weed master (mk/weed-path.sh):
#   - every fid read through the reader kelpd (libkelp, test/integ/kelp_read) equals kelp-vol cat;
#     the first read of each volume goes over HTTP (it makes the master lookup), the CQE paths and
#     the export kelpd's counters prove RDMA served the rest;
#   - the export kelpd killed (SIGKILL): every read moves to HTTP, zero wrong bytes.
# Exit 0 pass, 1 fail, 77 skip (no weed).
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
READ=build/test/integ/kelp_read
WEED=$(mk/weed-path.sh 2>/dev/null) || { echo "skip: no weed binary (mk/deps.sh)"; exit 77; }
[ -x "$READ" ] || { echo "FAIL: $READ not built"; exit 1; }
W=$(mktemp -d /tmp/kelpd-rdma-read.XXXXXX)
VS=169.254.77.1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$W"/*.log; do echo "--- $f"; tail -20 "$f"; done
	exit 1
}
VOLS="9 5" # 66 needles: gzip-stored files, 4 KiB (TCG: each read is a new libkelp session)
mkdir -p "$W/vs" "$W/none" "$W/master" "$W/out" "$W/http"
for v in $VOLS; do cp "$D/vols/$v".* "$W/vs/"; done
FIDS=$(for v in $VOLS; do cat "$D/fids.$v"; done)

"$WEED" master -ip=127.0.0.1 -ip.bind=127.0.0.1 -port=9333 -port.grpc=19333 -mdir="$W/master" \
	-peers=none > "$W/master.log" 2>&1 &
PIDS+=($!)
"$WEED" volume -ip=$VS -ip.bind=$VS -port=8080 -port.grpc=18080 -dir="$W/vs" \
	-master=127.0.0.1:9333.19333 -max=16 -preStopSeconds=0 > "$W/volume.log" 2>&1 &
PIDS+=($!)

conf() { # NAME DEVICE EXTRA-RDMA-LINES EXPORT-DIR MASTER LCORE
	cat > "$W/$1.conf" <<CONF
[engine]
lcores = $6
control_cpu = -1
socket = $W/$1.sock
idle_park_us = 200
arena_mb = 8
[export]
dirs = $4
[seaweedfs]
master = $5
http_timeout_ms = 20000
[rdma]
device = $2
gid_index = 0
$3
CONF
}
# separate CPUs: the export lcore never parks (lcore/rdma_export.h)
conf export rxe0 "listen = $VS:18516" "$W/vs" "" 1
conf reader rxe1 "peer_port = 18516" "$W/none" "127.0.0.1:9333" 0
"$BIN/kelpd" -c "$W/export.conf" > "$W/export.log" 2>&1 &
EXPORT_PID=$!; PIDS+=($EXPORT_PID)
"$BIN/kelpd" -c "$W/reader.conf" > "$W/reader.log" 2>&1 &
READER_PID=$!; PIDS+=($READER_PID)
wait_tcp_listen 18516 || fail "export kelpd did not listen"
# the volume server must have registered its volumes with the master (TCG: slow start)
for i in $(seq 1 600); do
	curl -sf -m 2 "http://127.0.0.1:9333/dir/lookup?volumeId=7" 2>/dev/null | grep -q "$VS:8080" &&
		curl -sf -m 2 "http://127.0.0.1:9333/dir/lookup?volumeId=5" 2>/dev/null | grep -q "$VS:8080" &&
		break
	sleep 0.2
done
curl -sf "http://127.0.0.1:9333/dir/lookup?volumeId=9" | grep -q "$VS:8080" || fail "weed did not locate the volumes"
echo "   weed ready after ${SECONDS}s"

# read_all OUTDIR: every fid through the reader kelpd into OUTDIR/<fid>, paths into OUTDIR.paths
read_all() {
	: > "$1.paths"
	for fid in $FIDS; do
		"$READ" -c "$W/reader.conf" "$fid" > "$1/$fid" 2> "$W/meta" || fail "kelp_read $fid: $(cat "$W/meta")"
		grep -q "^result=[0-9]" "$W/meta" || fail "$fid: $(cat "$W/meta")"
		sed -n 's/.* path=\([a-z]*\).*/\1/p' "$W/meta" >> "$1.paths"
		[ $(( $(wc -l < "$1.paths") % 20 )) -ne 0 ] || echo "   $(wc -l < "$1.paths") read at ${SECONDS}s"
	done
	mkdir -p "$W/exp"
	(cd "$D/expect" && cp $FIDS "$W/exp/") || fail "copying expected bytes"
	diff -r "$W/exp" "$1" > "$W/diff" || { head "$W/diff"; fail "bytes differ from kelp-vol cat"; }
	rm -rf "$W/exp"
	echo "   $(ls "$1" | wc -l) needles byte-identical to kelp-vol cat; paths:" \
		$(sort "$1.paths" | uniq -c)
}

echo "-- every needle through the reader kelpd"
read_all "$W/out"
n=$(echo $FIDS | wc -w)
rdma=$(grep -c '^rdma$' "$W/out.paths")
# the first read of each volume makes the lookup over HTTP; nearly all others must be RDMA
[ "$rdma" -ge $((n - 10)) ] || fail "only $rdma of $n reads served over RDMA"

echo "-- export kelpd killed: reads move to HTTP, no wrong bytes"
kill -KILL $EXPORT_PID; wait $EXPORT_PID 2>/dev/null
read_all "$W/http"
grep -q '^rdma$' "$W/http.paths" && fail "reads served over RDMA from a dead exporter"

kill -TERM $READER_PID; wait $READER_PID; rc=$?
cat "$W/reader.log"
[ $rc -eq 0 ] || fail "reader kelpd exited $rc"
grep -q "RDMA peer $VS:18516 (volume server $VS:8080): requests [1-9]" "$W/reader.log" ||
	fail "reader kelpd reports no RDMA requests to the peer"
rm -rf "$W"
echo "kelpd RDMA reads: ok"
