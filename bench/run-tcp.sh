#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 12's benchmark against a real SeaweedFS on this host: the same fids, 4 KiB and 1 MiB needles,
# DEPTH requests in flight (default 16 and 64), read
#   http      kelp-bench --mode http: keep-alive GETs straight to the volume server (today's way)
#   tcp       kelp-bench --mode tcp through a kelpd pair: a reader kelpd (no local volumes, masters,
#             [peer] transports = tcp) and an exporter kelpd beside the volume server ([export]
#             dirs = its -dir, [peer] tcp_listen), over loopback TCP with a [peer] secret
#   fallback  the same reader kelpd with [peer] transports empty: kelpd's HTTP fallback to weed
# The kelpd pair runs only during the tcp and fallback rows. Each kelpd has one lcore, parked when
# idle (idle_park_us); the client runs on cpu 0 with --wait. LAYOUT says where the rest runs:
#   shared  (default) both kelpd (lcores) on cpu 1, control threads and weed unpinned: the kelpd
#           pair shares one CPU while weed may use both (the layout of the first runs)
#   hosts   two hosts of one CPU each, as the reader and the volume server are in a real cluster:
#           cpu 0 = the client and the reader kelpd (lcore and control thread), cpu 1 = the weed
#           volume server (pinned for the whole run, every row) and the exporter kelpd
# CPU per read: user + system time of both kelpd (and of the volume server) over the row, from
# /proc/<pid>/stat, divided by the reads of the row; written to $OUT/cpu.txt. That includes the
# session's setup and teardown (the reader allocates the first [engine] arena_populate_mb, 8 MiB,
# of kelp-bench's arena when it connects and frees the segment at the end; before session 8 it
# populated the whole ARENA_MB arena: 2-4 us per read of a 3 s 4 KiB row with 256 MB), so tcp rows
# also get a "steady" figure: the pair's CPU (schedstat, every thread) over the reader's TCP
# replies (kelpctl peers) from a third of the row on to half a second before its end.
# Writes $OUT/tcp.json, $OUT/cpu.txt, $OUT/machine.txt and prints a Markdown table (ratios against
# http of the same round and size; medians over ROUNDS rounds).
#
# usage: bench/run-tcp.sh [-D SECONDS] [-r ROUNDS] [-o OUTDIR] [--depths "16 64"]
# Environment: BIN (default build/bin), N4K (default 5000 needles), N1M (default 100 needles), LAYOUT,
# ROWS (default "http tcp fallback"), SIZES (default "4k 1m"), PERF=1: perf record both kelpd
# during the tcp rows and the reader kelpd during the fallback rows (into $OUT/perf-*.data),
# BASE_BIN=DIR: also a "tcpbase" row per round through a kelpd pair of DIR/kelpd (another build:
# an A/B of a change in the same run), ARENA_MB (both kelpd's [engine] arena_mb, default 256: the
# size of kelp-bench's arena; 1 MiB rows at depth 64 need 64 or more. Its size costs kelpd nothing
# per row any more: kelpd allocates only [engine] arena_populate_mb, 8 MiB, of it when kelp-bench
# connects, and libkelp allocates the pages of kelp-bench's buffers in kelp-bench; BASE_BIN
# builds from before session 8 populate all of it in the reader's control thread).
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=5
ROUNDS=3
DEPTHS="16 64"
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	--depths) DEPTHS=$2; shift 2 ;;
	-h|--help) sed -n '3,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-tcp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for tool in kelpd kelp-bench kelpctl; do
	[ -x "$BIN/$tool" ] || { echo "run-tcp.sh: $BIN/$tool missing: run 'make' first" >&2; exit 1; }
done
. test/integ/lib/weed.sh
weed_require
weed_start 1
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-tcp.XXXXXX")}
mkdir -p "$OUT"
VDIR=${WEED_VOLUME_DIRS[0]}
VURL=${WEED_VOLUME_URLS[0]}
read -r TPORT <<<"$(weed_free_ports 1)"
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

echo "== uploading ${N4K:-5000} x 4 KiB and ${N1M:-100} x 1 MiB through the volume server" >&2
python3 bench/weed-fill.py --master "$WEED_MASTER" -n "${N4K:-5000}" --size 4096 >"$WEED_DIR/fids4k.txt"
python3 bench/weed-fill.py --master "$WEED_MASTER" -n "${N1M:-100}" --size 1048576 >"$WEED_DIR/fids1m.txt"
sleep 1 # let the volume server's .idx writes land before kelpd maps the files
cat "$VDIR"/*.dat >/dev/null

EPID="" RPID=""
stop_pair() {
	for p in "$RPID" "$EPID"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	EPID="" RPID=""
}
at_exit stop_pair
# start_kelpd NAME CPU CONTROL_CPU BODY: one kelpd (one lcore on CPU, parks when idle); sets LAST_PID
start_kelpd() {
	cat >"$WEED_DIR/$1.conf" <<EOF
[engine]
lcores = $2
control_cpu = $3
socket = $WEED_DIR/$1.sock
arena_mb = ${ARENA_MB:-256}
idle_park_us = 20
[rdma]
device = off
$4
EOF
	rm -f "$WEED_DIR/$1.sock"
	"${KELPD:-$BIN/kelpd}" -c "$WEED_DIR/$1.conf" >>"$WEED_DIR/$1.log" 2>&1 &
	LAST_PID=$!
	. test/integ/lib/wait.sh
	wait_until 60 test -S "$WEED_DIR/$1.sock" || { tail "$WEED_DIR/$1.log" >&2; exit 1; }
}
start_pair() { # transports of the reader
	start_kelpd exporter 1 "$EXP_CTL" "[export]
dirs = $VDIR
[peer]
tcp_listen = 127.0.0.1:$TPORT
secret = $SECRET"
	EPID=$LAST_PID
	start_kelpd reader "$RD_CPU" "$RD_CTL" "[seaweedfs]
master = $WEED_MASTER
[peer]
transports = $1
tcp_peers = $VURL=127.0.0.1:$TPORT
secret = $SECRET"
	RPID=$LAST_PID
}

RUNS=$OUT/tcp.json
: >"$RUNS"
: >"$OUT/cpu.txt"
cpu_ms() { # CPU time (user + system) of process $1 in ms, 0 when there is none
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{ print ($14 + $15) * 10 }' "/proc/$1/stat" || echo 0
}
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1 || true)
case ${LAYOUT:=shared} in
hosts)
	RD_CPU=0 RD_CTL=0 EXP_CTL=1
	[ -n "$VPID" ] || { echo "run-tcp.sh: no weed volume process to pin" >&2; exit 1; }
	taskset -apc 1 "$VPID" >/dev/null ;;
shared) RD_CPU=1 RD_CTL=-1 EXP_CTL=-1 ;;
*) echo "run-tcp.sh: LAYOUT=$LAYOUT: want hosts or shared" >&2; exit 2 ;;
esac
pair_ns() { # CPU time of every thread of both kelpd in ns (schedstat), and the reader's TCP replies
	local ns=0 t rep
	for p in "$EPID" "$RPID"; do
		for t in /proc/"$p"/task/*/schedstat; do
			[ -r "$t" ] && read -r t _ <"$t" && ns=$((ns + t))
		done
	done
	rep=$("$BIN/kelpctl" -c "$WEED_DIR/reader.conf" --json peers 2>/dev/null |
		python3 -c 'import json,sys; print(sum(p["replies"] for p in json.load(sys.stdin)["tcp"]["peers"]))' 2>/dev/null || echo 0)
	echo "$ns $rep"
}
bench() { # label, args...
	local label=$1 e0 r0 v0 ops steady="" sp
	shift
	echo "-- $label: kelp-bench $*" >&2
	e0=$(cpu_ms "$EPID") r0=$(cpu_ms "$RPID") v0=$(cpu_ms "$VPID")
	# the same figure without the session's setup and teardown: CPU over TCP replies from a
	# third of the row on to half a second before its end
	if [ -n "$RPID" ] && [[ " $* " == *" --mode tcp "* ]] && [ "$SECS" -ge 3 ]; then
		steady=$(mktemp)
		(sleep "$(python3 -c "print($SECS / 3)")"; pair_ns; sleep "$(python3 -c "print($SECS * 2 / 3 - 0.5)")"; pair_ns) >"$steady" &
		sp=$!
	fi
	"$BIN/kelp-bench" --cpu 0 -D "$SECS" -q --json --label "$label" "$@" >>"$RUNS"
	ops=$(tail -n 1 "$RUNS" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["ops"] if "ops" in r else int(r["ops_per_sec"] * r["seconds"]))' 2>/dev/null || echo 0)
	local e=$(($(cpu_ms "$EPID") - e0)) r=$(($(cpu_ms "$RPID") - r0)) v=$(($(cpu_ms "$VPID") - v0))
	local st=""
	if [ -n "$steady" ]; then
		wait "$sp"
		st=$(python3 -c 'import sys; a = [list(map(int, l.split())) for l in open(sys.argv[1])]
print("; steady us/read kelpd pair %.2f (%d reads)" % ((a[1][0] - a[0][0]) / 1000 / max(a[1][1] - a[0][1], 1), a[1][1] - a[0][1]) if len(a) == 2 else "")' "$steady" 2>/dev/null || true)
		rm -f "$steady"
	fi
	echo "$label: reads $ops CPU ms exporter $e reader $r weed-volume $v;" \
		"us/read kelpd pair $(python3 -c "print(round(($e + $r) * 1000 / max($ops, 1), 2))")" \
		"weed $(python3 -c "print(round($v * 1000 / max($ops, 1), 2))")$st" >>"$OUT/cpu.txt"
}
warm() { # reads every fid once through the reader (locates the volumes, connects)
	for sz in 4k 1m; do
		"$BIN/kelp-bench" --socket "$WEED_DIR/reader.sock" --fids "$WEED_DIR/fids$sz.txt" -n 2000 -q \
			--json >/dev/null
	done
}
{ date -u; echo "layout: $LAYOUT"; lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[23])'; uname -r; "$WEED" version; } >"$OUT/machine.txt"
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	[[ " ${ROWS:-http tcp fallback} " == *" http "* ]] && for d in $DEPTHS; do
		for sz in ${SIZES:-4k 1m}; do
			bench "http $sz d$d" --mode http -d "$d" --http-server "$VURL" --fids "$WEED_DIR/fids$sz.txt"
		done
	done
	[[ " ${ROWS:-http tcp fallback} " == *" tcp "* ]] && start_pair tcp && warm && for d in $DEPTHS; do
		for sz in ${SIZES:-4k 1m}; do
			[ "${PERF:-0}" = 1 ] && for p in "$EPID" "$RPID"; do
				perf record -g -o "$OUT/perf-$p-$sz-d$d.data" -p "$p" -- sleep "$SECS" >/dev/null 2>&1 &
			done
			bench "tcp $sz d$d" --mode tcp -d "$d" --wait --socket "$WEED_DIR/reader.sock" \
				--fids "$WEED_DIR/fids$sz.txt"
		done
	done
	[ -n "$RPID" ] && "$BIN/kelpctl" -c "$WEED_DIR/reader.conf" --json peers >"$OUT/peers-round$round.json"
	stop_pair
	[ -n "${BASE_BIN:-}" ] && KELPD=$BASE_BIN/kelpd start_pair tcp && warm && for d in $DEPTHS; do
		for sz in ${SIZES:-4k 1m}; do
			bench "tcpbase $sz d$d" --mode tcp -d "$d" --wait --socket "$WEED_DIR/reader.sock" \
				--fids "$WEED_DIR/fids$sz.txt"
		done
	done
	stop_pair
	[[ " ${ROWS:-http tcp fallback} " == *" fallback "* ]] && start_pair "" && warm && for d in $DEPTHS; do
		for sz in ${SIZES:-4k 1m}; do
			[ "${PERF:-0}" = 1 ] &&
				perf record -g -o "$OUT/perf-fallback-$sz-d$d.data" -p "$RPID" -- sleep "$SECS" >/dev/null 2>&1 &
			bench "fallback $sz d$d" --mode local -d "$d" --wait --socket "$WEED_DIR/reader.sock" \
				--fids "$WEED_DIR/fids$sz.txt"
		done
	done
	stop_pair
done
python3 bench/table.py "$RUNS" --baseline http
cat "$OUT/cpu.txt"
echo "run-tcp.sh: results in $OUT" >&2
