#!/bin/sh
# Inside the Soft-RoCE VM (`test/rdma/run.sh bench`, `make bench-rdma`): perftest's ceiling on
# rxe0 <-> rxe1 and kelp's RDMA reads on the same pair, in the same VM run, at 4 KiB, in ROUNDS
# alternating rounds (the host is shared: one round says little, the spread says how much).
# Each round runs, one after the other (nothing else of ours running meanwhile):
#   ib_read_lat -s 4096 -n ITERS           one 4 KiB RDMA READ at a time; t_typical (median)
#   kelp-rdma bench --depth 1              4 KiB needle reads (request SEND, RDMA WRITE, reply
#                                          SEND), one at a time; p50
#   ib_read_bw -s 4096 -t 32 -n 5*ITERS    4 KiB RDMA READs, 32 in flight (perftest's defaults
#                                          otherwise: CQ moderation = TX depth, one WR per post);
#                                          message rate
#   kelp-rdma bench --depth 32             the same 4 KiB reads, 32 in flight; ops/s
# and, when test/rdma/run.sh started SeaweedFS on the host (KELP_RDMA_WEED_ENV), the same reads the
# way applications make them: kelp-bench --mode rdma (libkelp, KELP_SQE_F_RDMA_ONLY: RDMA or an
# error) through a reader kelpd on rxe1 (located by the master, `[rdma] peers` naming the export)
# and an export kelpd on rxe0 that exports the volume server's directory, at depth 1 (p50) and 32
# (ops/s). The two kelpds are started once and stopped (SIGSTOP) while the others measure, so their
# busy-polling lcores take no vCPU from perftest or kelp-rdma. A second pair, started the same way
# with `[rdma] inline_max = 0` on both (every read's bytes by RDMA WRITE, then the reply SEND, as
# before protocol version 2), gives the same rows for the A/B of inline replies (the first pair
# runs the default, 4 KiB reads inline); a third, the same as the
# first but with `[rdma] one_sided = true` on the reader, the one-sided rows (one RDMA READ per
# needle, verified by the reader; the export kelpd's lcore is not involved: it parks with
# `[rdma] export_park = true`, its CQ's completion channel would wake it for a request). The first two pairs run `one_sided = false`
# (two-sided). The client sleeps on its completions (--wait=0) in every row, and in one more
# one-sided row it polls them, as ib_read_lat's client does: with the export lcore parked that is
# two busy threads (client, reader lcore) for the VM's two vCPUs; in the two-sided rows the export
# lcore polls too, and a polling client made it three (p50 2-3x worse, measured).
# perftest runs its server on rxe0 and its client on rxe1 (GID index 0, -F); kelp-rdma serve
# exports on rxe0 and bench reads on rxe1, started fresh for each measurement so no idle kelp
# process shares the vCPUs with perftest.
# Prints each round with its ratios and then the medians and ranges of the ratios the issue sets
# as targets (p50 <= 2x ib_read_lat, ops/s >= 0.6x ib_read_bw's message rate). Timing only:
# nothing here asserts on it. Environment: KELP_BENCH_ITERS (default 2000), KELP_BENCH_ROUNDS (5: issue 14 item 5 asks for medians of >= 5 rounds).
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
W=$(mktemp -d /tmp/kelp-rdma-bench.XXXXXX)
ITERS=${KELP_BENCH_ITERS:-2000}
ROUNDS=${KELP_BENCH_ROUNDS:-5}
D=${KELP_RDMA_DATA:?run through test/rdma/run.sh}
mkdir -p "$W/vols"
cp "$D/vols/5.dat" "$D/vols/5.idx" "$D/vols/5.vif" "$W/vols/" || exit 1 # 4 KiB needles (prepare-data.sh)
fid=$(head -1 "$D/fids.5")
KELPD_PAIR=0 EXPORT_PID= READER_PID= YEXPORT_PID= YREADER_PID= OEXPORT_PID= OREADER_PID=
if [ -n "${KELP_RDMA_WEED_ENV:-}" ] && [ -s "$KELP_RDMA_WEED_ENV" ]; then
	. "$KELP_RDMA_WEED_ENV"
	[ -s "${WEED_BENCH_FIDS:-}" ] && KELPD_PAIR=1
fi
cleanup() { for p in $EXPORT_PID $READER_PID $YEXPORT_PID $YREADER_PID $OEXPORT_PID $OREADER_PID; do kill -CONT "$p"; kill -KILL "$p"; done 2>/dev/null; }
trap cleanup EXIT

# perftest TOOL ARGS...: the 4096-byte result line's 5th column (t_typical, or MsgRate[Mpps]).
perftest() {
	perftest_pair "$@" > "$W/perftest" 2>&1 || { cat "$W/perftest"; exit 1; }
	awk '$1 == 4096 {print $5}' "$W/perftest"
}

# kelp_rdma BENCH-ARGS...: one exporter on rxe0, one bench on rxe1; prints the bench's line.
kelp_rdma() {
	"$BIN/kelp-rdma" serve --device rxe0 --gid-index 0 --listen 169.254.77.1:18516 "$W/vols" \
		> "$W/serve.log" 2>&1 &
	_serve=$!
	wait_tcp_listen 18516 || { cat "$W/serve.log"; exit 1; }
	"$BIN/kelp-rdma" bench --device rxe1 --gid-index 0 --peer 169.254.77.1:18516 --size 4096 \
		"$@" "$fid" > "$W/kelp" 2>&1 || { cat "$W/kelp" "$W/serve.log"; kill $_serve; exit 1; }
	kill -TERM $_serve
	wait $_serve
	grep -q "errors 0 resets 0" "$W/serve.log" || { echo "kelp-rdma serve saw errors:" >&2; cat "$W/serve.log" >&2; }
	cat "$W/kelp"
}

# start_kelpd_pair NAME PORT INLINE_MAX ONE_SIDED: the export kelpd (rxe0, listening on PORT; with
# ONE_SIDED also `[rdma] export_park`, since nothing per read reaches it) and the reader
# kelpd (rxe1), one lcore each, as test_kelpd_rdma_read.sh runs them, files $W/NAME-*; sets
# EXPORT_PID and READER_PID. kelp-bench warms up (locates the volume, connects) before measuring.
start_kelpd_pair() {
	cat > "$W/$1-export.conf" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $W/$1-export.sock
arena_mb = 8
[export]
dirs = $WEED_VS_DIR
[rdma]
device = rxe0
gid_index = 0
listen = 169.254.77.1:$2
inline_max = $3
export_park = $4
CONF
	cat > "$W/$1-reader.conf" <<CONF
[engine]
lcores = 0
control_cpu = -1
socket = $W/$1-reader.sock
arena_mb = 8
[seaweedfs]
master = $WEED_MASTER_GUEST
volume_address = public_url
http_timeout_ms = 20000
[rdma]
device = rxe1
gid_index = 0
peers = $WEED_VS_GUEST=169.254.77.1:$2
inline_max = $3
one_sided = $4
CONF
	"$BIN/kelpd" -c "$W/$1-export.conf" > "$W/$1-export.log" 2>&1 &
	EXPORT_PID=$!
	wait_tcp_listen "$2" || { cat "$W/$1-export.log"; exit 1; }
	"$BIN/kelpd" -c "$W/$1-reader.conf" > "$W/$1-reader.log" 2>&1 &
	READER_PID=$!
	_i=0
	until [ -S "$W/$1-reader.sock" ]; do
		_i=$((_i + 1)); [ $_i -lt 400 ] || { cat "$W/$1-reader.log"; exit 1; }; sleep 0.05
	done
}
# kelp_bench NAME EXPORT_PID READER_PID DEPTH COUNT [WAIT]: kelp-bench --mode rdma through pair
# NAME (woken for it, stopped again after); prints its JSON. The client sleeps on the completion
# ring (--wait=0) unless WAIT is "poll" (see the top).
kelp_bench() {
	kill -CONT $2 $3
	_wait=--wait=0
	[ "${6:-}" = poll ] && _wait=
	"$BIN/kelp-bench" --mode rdma --socket "$W/$1-reader.sock" --fids "$WEED_BENCH_FIDS" --size 4096 \
		--depth "$4" --count "$5" $_wait --json > "$W/kb" 2> "$W/kb.err" ||
		{ cat "$W/kb.err" "$W/kb"; tail -5 "$W/$1-reader.log" "$W/$1-export.log"; exit 1; }
	kill -STOP $2 $3
	# to stderr: stdout is captured as the figure (a second copy of the JSON line there once added a
	# bogus round to the medians)
	grep -q '"errors":0,' "$W/kb" || { echo "kelp-bench --mode rdma had errors:" >&2; cat "$W/kb" >&2; }
	cat "$W/kb"
}
json_num() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }
if [ $KELPD_PAIR = 1 ]; then
	start_kelpd_pair spin 18517 4096 false
	kelp_bench spin $EXPORT_PID $READER_PID 1 20 > /dev/null # warm-up: locate the volume, connect
	SEXPORT_PID=$EXPORT_PID SREADER_PID=$READER_PID
	kill -STOP $SEXPORT_PID $SREADER_PID
	start_kelpd_pair noinl 18518 0 false
	YEXPORT_PID=$EXPORT_PID YREADER_PID=$READER_PID
	kelp_bench noinl $YEXPORT_PID $YREADER_PID 1 20 > /dev/null
	start_kelpd_pair os 18519 4096 true
	OEXPORT_PID=$EXPORT_PID OREADER_PID=$READER_PID
	# warm-up: locate, connect, then the VOLMAP and the index (fetched right after the first
	# read that finds the peer up)
	kelp_bench os $OEXPORT_PID $OREADER_PID 1 20 > /dev/null
	kelp_bench os $OEXPORT_PID $OREADER_PID 1 200 > /dev/null
	EXPORT_PID=$SEXPORT_PID READER_PID=$SREADER_PID
else
	echo "(no SeaweedFS on the host: the kelpd-to-kelpd rows are skipped)"
fi

echo "== 4 KiB reads on rxe0 <-> rxe1, same VM run ($(date -u +%FT%TZ), TCG, $(nproc) vCPUs," \
	"clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource))"
: > "$W/ratios"
r=1
while [ $r -le "$ROUNDS" ]; do
	read_lat=$(perftest ib_read_lat -s 4096 -n "$ITERS")
	kelp_lat=$(kelp_rdma --depth 1 --iters "$ITERS" | sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p')
	read_mpps=$(perftest ib_read_bw -s 4096 -t 32 -n "$((ITERS * 5))")
	kelp_ops=$(kelp_rdma --depth 32 --iters "$((ITERS * 5))" | sed -n 's/.* ops_per_s=\([0-9.]*\).*/\1/p')
	kd_lat=0 kd_ops=0 ky_lat=0 ky_ops=0 ko_lat=0 ko_ops=0 kp_lat=0 kp_ops=0
	if [ $KELPD_PAIR = 1 ]; then
		kp_lat=$(kelp_bench os $OEXPORT_PID $OREADER_PID 1 "$ITERS" poll | json_num p50)
		kp_ops=$(kelp_bench os $OEXPORT_PID $OREADER_PID 32 "$((ITERS * 5))" poll | json_num ops_per_sec)
		ko_lat=$(kelp_bench os $OEXPORT_PID $OREADER_PID 1 "$ITERS" | json_num p50)
		ko_ops=$(kelp_bench os $OEXPORT_PID $OREADER_PID 32 "$((ITERS * 5))" | json_num ops_per_sec)
		kd_lat=$(kelp_bench spin $EXPORT_PID $READER_PID 1 "$ITERS" | json_num p50)
		kd_ops=$(kelp_bench spin $EXPORT_PID $READER_PID 32 "$((ITERS * 5))" | json_num ops_per_sec)
		ky_lat=$(kelp_bench noinl $YEXPORT_PID $YREADER_PID 1 "$ITERS" | json_num p50)
		ky_ops=$(kelp_bench noinl $YEXPORT_PID $YREADER_PID 32 "$((ITERS * 5))" | json_num ops_per_sec)
	fi
	awk -v r="$r" -v rl="$read_lat" -v kp="$kelp_lat" -v mpps="$read_mpps" -v ko="$kelp_ops" \
		-v dl="$kd_lat" -v dops="$kd_ops" -v yl="$ky_lat" -v yops="$ky_ops" \
		-v ol="$ko_lat" -v oops="$ko_ops" -v pl="$kp_lat" -v pops="$kp_ops" 'BEGIN {
		printf "round %d: ib_read_lat %.1f us, kelp-rdma p50 %.1f us = %.2fx; ib_read_bw %.0f/s, kelp-rdma %.0f/s = %.2fx\n",
			r, rl, kp, kp / rl, mpps * 1e6, ko, ko / (mpps * 1e6)
		if (dl > 0)
			printf "         kelpd pair (kelp-bench --mode rdma): p50 %.1f us = %.2fx; %.0f/s = %.2fx\n",
				dl, dl / rl, dops, dops / (mpps * 1e6)
		if (yl > 0)
			printf "         kelpd pair, inline_max 0:           p50 %.1f us = %.2fx; %.0f/s = %.2fx\n",
				yl, yl / rl, yops, yops / (mpps * 1e6)
		if (ol > 0)
			printf "         kelpd pair, one-sided:              p50 %.1f us = %.2fx; %.0f/s = %.2fx\n",
				ol, ol / rl, oops, oops / (mpps * 1e6)
		if (pl > 0)
			printf "         kelpd pair, one-sided, client polls: p50 %.1f us = %.2fx; %.0f/s = %.2fx\n",
				pl, pl / rl, pops, pops / (mpps * 1e6)
	}'
	line="$read_lat $kelp_lat $read_mpps $kelp_ops $kd_lat $kd_ops $ky_lat $ky_ops $ko_lat $ko_ops $kp_lat $kp_ops"
	# every figure is one number: anything else would shift the medians, so say so and stop
	[ "$(echo "$line" | wc -l | tr -d " ")" = 1 ] && [ "$(echo "$line" | wc -w | tr -d " ")" = 12 ] ||
		{ echo "bench: round $r did not give one number per figure: $line" >&2; exit 1; }
	echo "$line" >> "$W/ratios"
	r=$((r + 1))
done

# Medians (and ranges) over the rounds.
sort_col() { awk -v c="$1" '{print $c}' "$W/ratios" | sort -g; }
median() { awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
awk '{print $2 / $1}' "$W/ratios" | sort -g > "$W/lat_ratio"
awk '{print $4 / ($3 * 1e6)}' "$W/ratios" | sort -g > "$W/bw_ratio"
awk '{print $5 / $1}' "$W/ratios" | sort -g > "$W/kd_lat_ratio"
awk '{print $6 / ($3 * 1e6)}' "$W/ratios" | sort -g > "$W/kd_bw_ratio"
awk '{print $7 / $1}' "$W/ratios" | sort -g > "$W/ky_lat_ratio"
awk '{print $8 / ($3 * 1e6)}' "$W/ratios" | sort -g > "$W/ky_bw_ratio"
awk '{print $9 / $1}' "$W/ratios" | sort -g > "$W/ko_lat_ratio"
awk '{print $10 / ($3 * 1e6)}' "$W/ratios" | sort -g > "$W/ko_bw_ratio"
awk '{print $11 / $1}' "$W/ratios" | sort -g > "$W/kp_lat_ratio"
awk '{print $12 / ($3 * 1e6)}' "$W/ratios" | sort -g > "$W/kp_bw_ratio"
echo
echo "== medians over $ROUNDS rounds (range)"
printf "ib_read_lat  t_typical  %8.1f us\n" "$(sort_col 1 | median)"
printf "kelp-rdma    p50        %8.1f us    ratio %.2fx (%.2f-%.2f)  target <= 2x\n" \
	"$(sort_col 2 | median)" "$(median < "$W/lat_ratio")" "$(head -1 "$W/lat_ratio")" "$(tail -1 "$W/lat_ratio")"
printf "ib_read_bw   msg rate   %8.0f ops/s\n" "$(awk '{print $3 * 1e6}' "$W/ratios" | sort -g | median)"
printf "kelp-rdma    32 deep    %8.0f ops/s ratio %.2fx (%.2f-%.2f)  target >= 0.6x\n" \
	"$(sort_col 4 | median)" "$(median < "$W/bw_ratio")" "$(head -1 "$W/bw_ratio")" "$(tail -1 "$W/bw_ratio")"
if [ $KELPD_PAIR = 1 ]; then
	printf "two-sided (kelpd pair, [rdma] one_sided = false):\n"
	printf "kelpd pair   p50        %8.1f us    ratio %.2fx (%.2f-%.2f)  target <= 2x\n" \
		"$(sort_col 5 | median)" "$(median < "$W/kd_lat_ratio")" "$(head -1 "$W/kd_lat_ratio")" "$(tail -1 "$W/kd_lat_ratio")"
	printf "kelpd pair   32 deep    %8.0f ops/s ratio %.2fx (%.2f-%.2f)  target >= 0.6x\n" \
		"$(sort_col 6 | median)" "$(median < "$W/kd_bw_ratio")" "$(head -1 "$W/kd_bw_ratio")" "$(tail -1 "$W/kd_bw_ratio")"
	printf "inline off   p50        %8.1f us    ratio %.2fx (%.2f-%.2f)  target <= 2x\n" \
		"$(sort_col 7 | median)" "$(median < "$W/ky_lat_ratio")" "$(head -1 "$W/ky_lat_ratio")" "$(tail -1 "$W/ky_lat_ratio")"
	printf "inline off   32 deep    %8.0f ops/s ratio %.2fx (%.2f-%.2f)  target >= 0.6x\n" \
		"$(sort_col 8 | median)" "$(median < "$W/ky_bw_ratio")" "$(head -1 "$W/ky_bw_ratio")" "$(tail -1 "$W/ky_bw_ratio")"
	printf "one-sided (kelpd pair, [rdma] one_sided = true):\n"
	printf "one-sided    p50        %8.1f us    ratio %.2fx (%.2f-%.2f)  target <= 2x\n" \
		"$(sort_col 9 | median)" "$(median < "$W/ko_lat_ratio")" "$(head -1 "$W/ko_lat_ratio")" "$(tail -1 "$W/ko_lat_ratio")"
	printf "one-sided    32 deep    %8.0f ops/s ratio %.2fx (%.2f-%.2f)  target >= 0.6x\n" \
		"$(sort_col 10 | median)" "$(median < "$W/ko_bw_ratio")" "$(head -1 "$W/ko_bw_ratio")" "$(tail -1 "$W/ko_bw_ratio")"
	printf "one-sided, client polls (as ib_read_lat's):\n"
	printf "one-sided    p50        %8.1f us    ratio %.2fx (%.2f-%.2f)  target <= 2x\n" \
		"$(sort_col 11 | median)" "$(median < "$W/kp_lat_ratio")" "$(head -1 "$W/kp_lat_ratio")" "$(tail -1 "$W/kp_lat_ratio")"
	printf "one-sided    32 deep    %8.0f ops/s ratio %.2fx (%.2f-%.2f)  target >= 0.6x\n" \
		"$(sort_col 12 | median)" "$(median < "$W/kp_bw_ratio")" "$(head -1 "$W/kp_bw_ratio")" "$(tail -1 "$W/kp_bw_ratio")"
	kill -CONT $EXPORT_PID $READER_PID $YEXPORT_PID $YREADER_PID $OEXPORT_PID $OREADER_PID
	"$BIN/kelpctl" --socket "$W/spin-reader.sock" peers
	"$BIN/kelpctl" --socket "$W/os-reader.sock" peers
	"$BIN/kelpctl" --socket "$W/os-export.sock" stats | grep "^rdma export" || true
	# the one-sided export's lcore: how often it parked (its polls stay few when it sleeps)
	"$BIN/kelpctl" --socket "$W/os-export.sock" stats | sed -n '/^lcore /{n;p;q}' || true
	kill -TERM $EXPORT_PID $READER_PID $YEXPORT_PID $YREADER_PID $OEXPORT_PID $OREADER_PID
	wait $EXPORT_PID $READER_PID $YEXPORT_PID $YREADER_PID $OEXPORT_PID $OREADER_PID
	grep "one-sided\|registered" "$W/os-export.log" "$W/os-reader.log" | head -8
	EXPORT_PID= READER_PID= YEXPORT_PID= YREADER_PID= OEXPORT_PID= OREADER_PID=
fi
rm -rf "$W"
