#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13's benchmark, one run: random reads of 4 KiB and 1 MiB needles
#   - Python kelp: Session.read_many depth 32 (bench/py-bench.py kelp), one thread, copies (bytes)
#     and zero-copy (copy=False: memoryviews)
#   - C kelp-bench --mode local -d 32, one thread
#   - Python HTTP GETs (keep-alive, one connection, sequential) to a weed volume server serving
#     the same volumes, with each installed client (urllib3, requests, http.client)
#   - one epoch of python/examples/loader.py (2 worker processes) over the 4 KiB needles
# kelpd: one worker lcore (cpu 1, never parks: idle_park_us = 0, as before the adaptive park
# became the default), control thread and every client on cpu 0; page cache warm.
# -r ROUNDS: the kelp rows (Python copies, Python views, C) run ROUNDS times, alternating, so that
# each ratio compares runs seconds apart on a shared, noisy machine; the table gives the median of
# each row and of each round's ratio (the HTTP rows and the epoch run once).
# Prints a Markdown table with the ratios against the issue's targets; JSON lines in $OUT/python.json.
#
# usage: bench/run-python.sh [-D SECONDS] [-r ROUNDS] [-o OUTDIR]   (build first: make && make python)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=5
ROUNDS=1
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-python.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for tool in kelpd kelp-vol kelp-bench; do
	[ -x "$BIN/$tool" ] || { echo "run-python.sh: $BIN/$tool missing: run 'make' first" >&2; exit 1; }
done
ls python/kelp/_kelp*.so >/dev/null 2>&1 || { echo "run-python.sh: run 'make python' first" >&2; exit 1; }

. test/integ/lib/weed.sh
. test/integ/lib/kelpd.sh
weed_require
at_exit kelpd_stop
OUT=${OUT:-$WEED_DIR/out}
mkdir -p "$OUT"
weed_start_master
VDIR=$WEED_DIR/volume0 # weed_start_volume serves this directory: the volumes go there first
mkdir -p "$VDIR"
echo "== volumes: 4 KiB x 20000 (volume 11), 1 MiB x 160 (volume 13)" >&2
"$BIN/kelp-vol" create "$VDIR" 11 --synthetic 20000 --size 4096 >/dev/null
"$BIN/kelp-vol" create "$VDIR" 13 --synthetic 160 --size 1048576 >/dev/null
weed_start_volume
weed_wait_ready 1
cat >"$WEED_DIR/kelp.conf" <<CONF
[engine]
lcores = 1
control_cpu = 0
socket = $WEED_DIR/kelpd.sock
arena_mb = 256
idle_park_us = 0
[export]
dirs = $VDIR
[rdma]
device = off
CONF
kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
cat "$VDIR"/*.dat >/dev/null # warm the page cache
"$BIN/kelp-vol" ls "$VDIR/11.dat" | awk 'NR>1 {print $1}' >"$WEED_DIR/fids4k"
"$BIN/kelp-vol" ls "$VDIR/13.dat" | awk 'NR>1 {print $1}' >"$WEED_DIR/fids1m"

RUNS=$OUT/python.json
: >"$RUNS"
{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -n) $(uname -r); $(nproc) cpus; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "python: $(python3 --version 2>&1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
for size in 4k 1m; do
	for ((round = 1; round <= ROUNDS; round++)); do
		echo "-- $size round $round/$ROUNDS: python kelp read_many -d 32" >&2
		taskset -c 0 python3 bench/py-bench.py kelp --socket "$WEED_DIR/kelpd.sock" \
			--fids "$WEED_DIR/fids$size" -d 32 -D "$SECS" --label "python-kelp-$size" >>"$RUNS"
		echo "-- $size round $round/$ROUNDS: python kelp read_many -d 32 copy=False" >&2
		taskset -c 0 python3 bench/py-bench.py kelp --socket "$WEED_DIR/kelpd.sock" \
			--fids "$WEED_DIR/fids$size" -d 32 -D "$SECS" --zero-copy \
			--label "python-kelp-$size zero-copy" >>"$RUNS"
		echo "-- $size round $round/$ROUNDS: C kelp-bench --mode local -d 32" >&2
		"$BIN/kelp-bench" --cpu 0 -q --json -c "$WEED_DIR/kelp.conf" --fids "$WEED_DIR/fids$size" \
			--volume-dir "$VDIR" -d 32 -D "$SECS" --label "c-kelp-$size" >>"$RUNS"
	done
	echo "-- $size: python HTTP GETs to weed ${WEED_VOLUME_URLS[0]}" >&2
	taskset -c 0 python3 bench/py-bench.py http --server "${WEED_VOLUME_URLS[0]}" --fids "$WEED_DIR/fids$size" \
		-D "$SECS" | sed "s/\"label\": \"python http /\"label\": \"python-http-$size /" >>"$RUNS"
done
echo "-- one epoch of python/examples/loader.py over the 4 KiB needles, 2 worker processes" >&2
taskset -c 0 python3 python/examples/loader.py --socket "$WEED_DIR/kelpd.sock" --fids "$WEED_DIR/fids4k" \
	--workers 2 | tee "$OUT/epoch.txt"
cat "$OUT/machine.txt"
python3 - "$RUNS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:  # label -> its runs, in order (run i of each kelp label is round i)
    by.setdefault(r["label"], []).append(r)
med = statistics.median
print("\n| size | reader | runs | ops/s (median) | MB/s (median) | each run's ops/s | errors |")
print("|---|---|---:|---:|---:|---|---:|")
for label, rs in by.items():
    print("| %s | %s | %d | %.0f | %.1f | %s | %s |" % (
        label.split("-")[2].split()[0], label, len(rs), med(r["ops_per_sec"] for r in rs),
        med(r["mb_per_sec"] for r in rs), " / ".join("%.0f" % r["ops_per_sec"] for r in rs),
        sum(r.get("errors", 0) for r in rs)))
for size in ("4k", "1m"):
    c = by["c-kelp-" + size]
    http = max((r for r in rows if r["label"].startswith("python-http-" + size)), key=lambda r: r["ops_per_sec"])
    for label in ("python-kelp-" + size, "python-kelp-%s zero-copy" % size):
        ratios = [p["mb_per_sec"] / q["mb_per_sec"] for p, q in zip(by[label], c)]
        print("\n%s: python/C per round %s, median %.2fx; median python kelp / best python HTTP (%s) %.1fx"
              % (label, " / ".join("%.2fx" % x for x in ratios), med(ratios),
                 http["label"].split(" ", 1)[1], med(r["ops_per_sec"] for r in by[label]) / http["ops_per_sec"]))
print("\ntargets: 4k python >= 0.5x C ops/s; 1m python >= 0.9x C MB/s; 4k python >= 20x python HTTP")
PY
