#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 4's benchmark against a real SeaweedFS on this host: the same fids, the same concurrency,
# 4 KiB and 1 MiB needles, read
#   http      kelp-bench --mode http: keep-alive GETs straight to the volume server (today's way)
#   local     through kelpd exporting the volume server's own -dir (kelpd [export] dirs = -dir)
#   fallback  through kelpd with [seaweedfs] force_http = true: kelpd's io_uring HTTP client
#   wrk       (when installed) wrk -t1 -c DEPTH with bench/wrk-fids.lua: a second HTTP baseline
# kelpd runs only during its own rows (its busy-polling lcore would otherwise take a core from
# weed); weed is not pinned. Client on cpu 0, kelpd's lcore on cpu 1; for the fallback rows the lcore
# parks when idle, the control thread is not pinned and the client waits with --wait (see
# start_kelpd).
# Connections: http opens one per slot (DEPTH); kelpd's HTTP client one per request in flight, at
# most 32 per server (kelpctl status shows them), so DEPTH as well.
# Writes $OUT/http.json, $OUT/http.png, $OUT/cpu.txt (CPU ms of client, kelpd and the volume server
# per row, from /proc and time(1); kelpd also per thread: kelp-lcoreN = the lcore, kelpd = the
# control thread; and each as us of CPU per request) and prints a Markdown table.
#
# usage: bench/run-http.sh [-D SECONDS] [-d DEPTH] [-r ROUNDS] [-o OUTDIR] [-s "4k 1m"]
#                          [--no-fallback] [--no-local]
# All rows run ROUNDS times (default 3) and the table shows the medians (shared machine). -s picks
# the needle sizes (default both); --no-local skips the local rows (e.g. to A/B the fallback only).
# Environment: BIN (default build/bin), N4K (default 10000 needles), N1M (default 200 needles),
# IDLE_PARK_US (the fallback kelpd's [engine] idle_park_us, default 20), WAIT (kelp-bench's wait
# option for the fallback rows, default --wait; e.g. --wait=0 or --wait=5), BASE_KELPD (another
# kelpd binary, e.g. one built from main: its fallback rows run too, labelled "fallback-base",
# right before this tree's, for an A/B in the same run), BASE_BENCH (another kelp-bench binary, e.g.
# one built from main: the "fallback-base" rows use it as the client, for an A/B of libkelp, which
# kelp-bench links statically; with BASE_KELPD unset those rows use this tree's kelpd), ARENA_MB
# (kelpd's [engine] arena_mb, default 256: the size of kelp-bench's arena. Its size costs kelpd
# nothing per row any more: kelpd allocates only [engine] arena_populate_mb, 8 MiB, of it when
# kelp-bench connects, and libkelp allocates the pages of kelp-bench's buffers in kelp-bench; a
# BASE_KELPD from before session 8 populates all of it in its control thread, ~0.4 s of CPU for
# 256 MiB here, in every row's kelpd CPU: 32 keeps that out of short 4 KiB rows).
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=5
DEPTH=16
ROUNDS=3
OUT=
FALLBACK=1
LOCAL=1
SIZES="4k 1m"
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-d) DEPTH=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-s) SIZES=$2; shift 2 ;;
	--no-fallback) FALLBACK=0; shift ;;
	--no-local) LOCAL=0; shift ;;
	-h|--help) sed -n '3,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-http.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for tool in kelpd kelp-bench; do
	[ -x "$BIN/$tool" ] || { echo "run-http.sh: $BIN/$tool missing: run 'make' first" >&2; exit 1; }
done
. test/integ/lib/weed.sh
weed_require

weed_start 1
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-http.XXXXXX")}
mkdir -p "$OUT"
VDIR=${WEED_VOLUME_DIRS[0]}
VURL=${WEED_VOLUME_URLS[0]}

echo "== uploading ${N4K:-10000} x 4 KiB and ${N1M:-200} x 1 MiB through the volume server" >&2
python3 bench/weed-fill.py --master "$WEED_MASTER" -n "${N4K:-10000}" --size 4096 >"$WEED_DIR/fids4k.txt"
python3 bench/weed-fill.py --master "$WEED_MASTER" -n "${N1M:-200}" --size 1048576 >"$WEED_DIR/fids1m.txt"
sleep 1 # let the volume server's .idx writes land before kelpd maps the files
cat "$VDIR"/*.dat >/dev/null

. test/integ/lib/kelpd.sh
at_exit kelpd_stop
start_kelpd() { # force_http true|false
	# The fallback path works on kelpd's control thread, not on the lcore: on this 2-core box the
	# lcore parks when idle (idle_park_us) and the control thread is not pinned beside the client,
	# else a busy-polling lcore and client leave the control thread (and weed) one shared core.
	# Parking sooner (2 us) with a client that sleeps at once (--wait=0) costs less CPU per read
	# (client + kelpd 58 -> 32-40 us) but is slower: the rows then wait on wake-ups, not on CPU
	# (0.55x vs 0.75x of http at load 8-9, BENCHMARKS.md, h11).
	local engine_extra="control_cpu = 0"
	[ "$1" = true ] && engine_extra="control_cpu = -1
idle_park_us = ${IDLE_PARK_US:-20}"
	cat >"$WEED_DIR/kelp.conf" <<EOF
[engine]
lcores = 1
$engine_extra
socket = $WEED_DIR/kelpd.sock
arena_mb = ${ARENA_MB:-256}
[export]
dirs = $VDIR
[seaweedfs]
master = $WEED_MASTER
force_http = $1
[rdma]
device = off
EOF
	kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
}

RUNS=$OUT/http.json
: >"$RUNS"
: >"$OUT/cpu.txt"
cpu_ms() { # CPU time (user + system) of process $1 in ms, 0 when there is none
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{ print ($14 + $15) * 10 }' "/proc/$1/stat" || echo 0
}
thread_ticks() { # "comm ticks" per thread of process $1 (utime + stime, clock ticks)
	local t
	[ -n "$1" ] || return 0
	for t in /proc/"$1"/task/*; do
		awk -v c="$(cat "$t/comm" 2>/dev/null)" '{ print c, $14 + $15 }' "$t/stat" 2>/dev/null || true
	done
}
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1 || true)
bench() { # label, args...
	local label=$1 k0 v0 k1 v1 cl ops ops_s threads
	shift
	echo "-- $label: kelp-bench $*" >&2
	thread_ticks "$KELPD_PID" >"$OUT/threads0.txt"
	k0=$(cpu_ms "$KELPD_PID")
	v0=$(cpu_ms "$VPID")
	/usr/bin/time -f "%U %S" -o "$OUT/time.txt" \
		"${BENCH_BIN:-$BIN/kelp-bench}" --cpu 0 -D "$SECS" -d "$DEPTH" -q --json --label "$label" "$@" >>"$RUNS"
	k1=$(($(cpu_ms "$KELPD_PID") - k0))
	v1=$(($(cpu_ms "$VPID") - v0))
	thread_ticks "$KELPD_PID" >"$OUT/threads1.txt"
	cl=$(awk '{ print int(($1 + $2) * 1000) }' "$OUT/time.txt")
	read -r ops ops_s < <(tail -n 1 "$RUNS" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["ops"], int(j["ops_per_sec"]))')
	# per thread name: CPU ms during the row (the kelpd threads of the same name summed)
	threads=$(awk 'NR == FNR { a[$1] += $2; next } { b[$1] += $2 }
		END { for (c in b) if (b[c] - a[c] > 0) printf " %s=%d", c, (b[c] - a[c]) * 10 }' \
		"$OUT/threads0.txt" "$OUT/threads1.txt")
	echo "$label: CPU ms client $cl kelpd $k1 weed-volume $v1 ops/s $ops_s" \
		"| us/op client $(awk -v c="$cl" -v n="$ops" 'BEGIN { printf "%.1f", n ? c * 1000 / n : 0 }')" \
		"kelpd $(awk -v c="$k1" -v n="$ops" 'BEGIN { printf "%.1f", n ? c * 1000 / n : 0 }')" \
		"weed-volume $(awk -v c="$v1" -v n="$ops" 'BEGIN { printf "%.1f", n ? c * 1000 / n : 0 }')" \
		"| kelpd threads (ms):${threads:- -}" >>"$OUT/cpu.txt"
}
{ date -u; lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[23])'; uname -r; "$WEED" version; } >"$OUT/machine.txt"
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	for sz in $SIZES; do
		bench "http $sz" --mode http --http-server "$VURL" --volume-dir "$VDIR" --fids "$WEED_DIR/fids$sz.txt"
		if command -v wrk >/dev/null; then # an independent keep-alive HTTP client, same connections
			echo "-- wrk $sz: wrk -t1 -c$DEPTH -d${SECS}s" >&2
			FIDS=$WEED_DIR/fids$sz.txt LABEL="wrk $sz" taskset -c 0 wrk -t1 -c"$DEPTH" -d"${SECS}s" \
				-s bench/wrk-fids.lua "http://$VURL" | tail -n 1 >>"$RUNS"
		fi
	done
	if [ "$LOCAL" = 1 ]; then
		start_kelpd false
		for sz in $SIZES; do
			bench "local $sz" --mode local -c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" --fids "$WEED_DIR/fids$sz.txt"
		done
		kelpd_stop
	fi
	if [ "$FALLBACK" = 1 ] && [ -n "${BASE_KELPD:-}${BASE_BENCH:-}" ]; then
		KELPD_BIN_SAVED=$KELPD_BIN
		KELPD_BIN=${BASE_KELPD:-$KELPD_BIN}
		start_kelpd true
		for sz in $SIZES; do
			BENCH_BIN=${BASE_BENCH:-} bench "fallback-base $sz" --mode local "${WAIT:---wait}" \
				-c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" --fids "$WEED_DIR/fids$sz.txt"
		done
		kelpd_stop
		KELPD_BIN=$KELPD_BIN_SAVED
	fi
	if [ "$FALLBACK" = 1 ]; then
		start_kelpd true
		for sz in $SIZES; do
			# --wait: the client sleeps between completions, like an HTTP client blocked in recv
			bench "fallback $sz" --mode local "${WAIT:---wait}" -c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" \
				--fids "$WEED_DIR/fids$sz.txt"
		done
		kelpd_stop
	fi
done

python3 bench/plot.py -o "$OUT/http.png" --title "kelp vs HTTP to weed ($(date -u +%F))" "$RUNS" >&2 || true
python3 bench/table.py "$RUNS" --baseline http
rm -f "$OUT/time.txt" "$OUT/threads0.txt" "$OUT/threads1.txt"
echo "run-http.sh: results in $OUT" >&2
