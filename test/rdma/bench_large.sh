#!/bin/sh
# Inside the Soft-RoCE VM: large needle reads over RDMA against perftest's ceiling on the same
# rxe0 <-> rxe1 pair, alternating, in ROUNDS rounds. Run it with
#   test/rdma/run.sh exec test/rdma/bench_large.sh      (after `test/rdma/run.sh test` made the data)
# Each round, one after the other (nothing else of ours running meanwhile):
#   ib_read_bw -s 1048576 -t 1 -n ITERS       1 MiB RDMA READs, one at a time: BW average (MB/s)
#   kelp-rdma bench --size 1048576 --depth 1  1 MiB needle reads through the exporter's bounce pool
#                                             (serve --bounce, as kelpd's export always does): one
#                                             copy into a 1 MiB buffer, one RDMA WRITE, the reply
#   kelp-rdma bench --size 1536000 --depth 1  1.5 MB reads of the same needles: two bounce buffers,
#                                             two RDMA WRITEs (1 MiB + 0.46 MiB), one reply
#                                             (nic/conn.h), which needs no second request
# The needles are volume 8 of prepare-data.sh (1.5-2.5 MB each). Prints each round and the ratio of
# kelp's MB/s to ib_read_bw's. Timing only: nothing here asserts on it. One at a time: with 8 MiB
# in flight, rxe in the TCG VM took seconds per read (retransmissions), and perftest as well.
# Environment: KELP_BENCH_ITERS (default 30 reads per row), KELP_BENCH_ROUNDS (3).
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
W=$(mktemp -d /tmp/kelp-rdma-bench-large.XXXXXX)
ITERS=${KELP_BENCH_ITERS:-30}
ROUNDS=${KELP_BENCH_ROUNDS:-3}
D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
[ -s "$D/fids.8" ] || { echo "no $D/fids.8: run test/rdma/run.sh test first (prepare-data.sh)"; exit 1; }
mkdir -p "$W/vols"
cp "$D/vols/8.dat" "$D/vols/8.idx" "$W/vols/" || exit 1
[ -e "$D/vols/8.vif" ] && cp "$D/vols/8.vif" "$W/vols/"
fid=$(head -1 "$D/fids.8")

# kelp_rdma SIZE: one exporter (bounce pool) on rxe0, one bench on rxe1; prints its MB_per_s.
kelp_rdma() {
	"$BIN/kelp-rdma" serve --bounce --device rxe0 --gid-index 0 --listen 169.254.77.1:18516 \
		"$W/vols" > "$W/serve.log" 2>&1 &
	_serve=$!
	wait_tcp_listen 18516 || { cat "$W/serve.log"; exit 1; }
	"$BIN/kelp-rdma" bench --device rxe1 --gid-index 0 --peer 169.254.77.1:18516 --size "$1" \
		--depth 1 --iters "$ITERS" --warmup 4 "$fid" > "$W/kelp" 2>&1 ||
		{ cat "$W/kelp" "$W/serve.log"; kill $_serve; exit 1; }
	kill -TERM $_serve
	wait $_serve
	grep -q "short_reads=0" "$W/kelp" || { echo "short reads:"; cat "$W/kelp"; exit 1; }
	# anything else it said (e.g. a reconnect) goes to stderr, the figure to stdout
	grep -v "^kelp-rdma bench:" "$W/kelp" >&2
	sed -n 's/^kelp-rdma bench:.*MB_per_s=\([0-9.]*\).*/\1/p' "$W/kelp"
}

echo "round  ib_read_bw_1MiB_MBps  kelp_1MiB_MBps  ratio  kelp_1.5MB_MBps  ratio"
for r in $(seq 1 "$ROUNDS"); do
	perftest_pair ib_read_bw -s 1048576 -t 1 -n "$ITERS" > "$W/perftest" 2>&1 ||
		{ cat "$W/perftest"; exit 1; }
	base=$(awk '$1 == 1048576 {print $4}' "$W/perftest")
	k1=$(kelp_rdma 1048576)
	k2=$(kelp_rdma 1536000)
	awk -v r="$r" -v b="$base" -v k1="$k1" -v k2="$k2" \
		'BEGIN { printf "%5d  %20.1f  %14.1f  %5.2f  %15.1f  %5.2f\n", r, b, k1, k1 / b, k2, k2 / b }'
done
rm -rf "$W"
