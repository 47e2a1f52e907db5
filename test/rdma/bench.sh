#!/bin/sh
# Inside the Soft-RoCE VM (`test/rdma/run.sh bench`, `make bench-rdma`): perftest's ceiling on
# rxe0 <-> rxe1 and kelp's RDMA reads on the same pair, in the same VM run, at 4 KiB.
#   ib_read_lat / ib_write_lat: one 4 KiB operation at a time, median (t_typical)
#   ib_read_bw -t 32: 4 KiB RDMA READs, 32 in flight, message rate
#   kelp-rdma bench --depth 1: 4 KiB needle reads (request SEND, RDMA WRITE, reply SEND), p50
#   kelp-rdma bench --depth 32: the same with 32 in flight, ops/s
# Prints a summary with the ratios the issue sets as targets (p50 <= 2x ib_read_lat,
# ops/s >= 0.6x ib_read_bw's message rate). Timing only: nothing here asserts on it.
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
W=$(mktemp -d /tmp/kelp-rdma-bench.XXXXXX)
ITERS=${KELP_BENCH_ITERS:-2000}

perftest_pair ib_read_lat -s 4096 -n "$ITERS" > "$W/read_lat" || { cat "$W/read_lat"; exit 1; }
perftest_pair ib_write_lat -s 4096 -n "$ITERS" > "$W/write_lat" || { cat "$W/write_lat"; exit 1; }
# -t 32: the same 32 reads in flight as kelp's --depth 32.
perftest_pair ib_read_bw -s 4096 -t 32 -n "$((ITERS * 5))" > "$W/read_bw" || { cat "$W/read_bw"; exit 1; }
cat "$W/read_lat" "$W/write_lat" "$W/read_bw" | grep -E "^ *4096 "
# t_typical is the 5th column of the latency line; MsgRate[Mpps] the 5th of the bandwidth line.
read_lat=$(awk '$1 == 4096 {print $5}' "$W/read_lat")
write_lat=$(awk '$1 == 4096 {print $5}' "$W/write_lat")
read_mpps=$(awk '$1 == 4096 {print $5}' "$W/read_bw")

D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
mkdir -p "$W/vols"
cp "$D/vols/5.dat" "$D/vols/5.idx" "$D/vols/5.vif" "$W/vols/" || exit 1 # 4 KiB needles (prepare-data.sh)
fid=$(head -1 "$D/fids.5")
"$BIN/kelp-rdma" serve --device rxe0 --gid-index 0 --listen 169.254.77.1:18516 "$W/vols" > "$W/serve.log" 2>&1 &
serve=$!
wait_tcp_listen 18516 || { cat "$W/serve.log"; exit 1; }
common="--device rxe1 --gid-index 0 --peer 169.254.77.1:18516 --size 4096"
"$BIN/kelp-rdma" bench $common --depth 1 --iters "$ITERS" "$fid" > "$W/kelp_lat" || exit 1
"$BIN/kelp-rdma" bench $common --depth 32 --iters "$((ITERS * 5))" "$fid" > "$W/kelp_bw" || exit 1
kill -TERM $serve; wait $serve
cat "$W/kelp_lat" "$W/kelp_bw" "$W/serve.log" | grep -E "bench:|registered|connections"
kelp_p50=$(sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p' "$W/kelp_lat")
kelp_ops=$(sed -n 's/.* ops_per_s=\([0-9.]*\).*/\1/p' "$W/kelp_bw")

echo
echo "== 4 KiB on rxe0 <-> rxe1, same VM run ($(date -u +%FT%TZ), TCG, $(nproc) vCPUs)"
awk -v rl="$read_lat" -v wl="$write_lat" -v mpps="$read_mpps" -v kp="$kelp_p50" -v ko="$kelp_ops" 'BEGIN {
	printf "ib_read_lat  t_typical  %8.1f us\n", rl
	printf "ib_write_lat t_typical  %8.1f us\n", wl
	printf "ib_read_bw   msg rate   %8.0f ops/s\n", mpps * 1e6
	printf "kelp read    p50        %8.1f us   = %.2fx ib_read_lat  (target <= 2x)\n", kp, kp / rl
	printf "kelp read    32 deep    %8.0f ops/s = %.2fx ib_read_bw  (target >= 0.6x)\n", ko, ko / (mpps * 1e6)
}'
rm -rf "$W"
