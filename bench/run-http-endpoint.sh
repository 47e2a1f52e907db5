#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelpd's HTTP endpoint ([http] listen) against the weed volume server, same fids, same client, same
# run: wrk -t1 -c DEPTH with bench/wrk-fids.lua (Accept-Encoding: gzip, keep-alive), on cpu 0, GETs
# of the same 4 KiB and 1 MiB needles from
#   weed   the volume server that wrote them (GET http://volume/<fid>)
#   kelpd  kelpd exporting the volume server's -dir (local path), [http] listen on 127.0.0.1
# kelpd: one lcore (cpu 1, parks after idle_park_us = 20 so that its control thread, which serves
# HTTP, gets the core when reads are few), control thread not pinned. weed not pinned. Each size
# runs ROUNDS times alternating weed / kelpd; the table shows the medians and the ratios.
#
# usage: bench/run-http-endpoint.sh [-D SECONDS] [-d DEPTH] [-r ROUNDS] [-o OUTDIR]
# Environment: BIN (default build/bin), N4K (default 10000 needles), N1M (default 200 needles),
# IDLE_PARK_US (kelpd's [engine] idle_park_us, default 20).
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=5
DEPTH=16
ROUNDS=3
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-d) DEPTH=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-http-endpoint.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[ -x "$BIN/kelpd" ] || { echo "run-http-endpoint.sh: $BIN/kelpd missing: run 'make'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "run-http-endpoint.sh: wrk missing: run 'make deps'" >&2; exit 1; }
. test/integ/lib/weed.sh
weed_require
weed_start 1
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-httpep.XXXXXX")}
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
PORT=$(weed_free_ports 1)
cat >"$WEED_DIR/kelp.conf" <<CONF
[engine]
lcores = 1
control_cpu = -1
idle_park_us = ${IDLE_PARK_US:-20}
socket = $WEED_DIR/kelpd.sock
arena_mb = 256
[export]
dirs = $VDIR
[rdma]
device = off
[http]
listen = 127.0.0.1:$PORT
CONF
kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
_up() { curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/healthz"; }
wait_until 30 _up || { echo "kelpd's endpoint does not answer" >&2; exit 1; }
# both answer every fid with 200 and the same bytes before anything is measured
for sz in 4k 1m; do
	f=$(head -n 1 "$WEED_DIR/fids$sz.txt")
	cmp -s <(curl -sf "http://$VURL/$f") <(curl -sf "http://127.0.0.1:$PORT/$f") ||
		{ echo "weed and kelpd differ on $f" >&2; exit 1; }
done

RUNS=$OUT/endpoint.json
: >"$RUNS"
for sz in 4k 1m; do
	for ((r = 0; r < ROUNDS; r++)); do
		for who in weed kelpd; do
			url=http://$VURL
			[ $who = kelpd ] && url=http://127.0.0.1:$PORT
			echo "-- $who $sz round $r: wrk -t1 -c$DEPTH -d${SECS}s" >&2
			FIDS=$WEED_DIR/fids$sz.txt LABEL="$who $sz" taskset -c 0 wrk -t1 -c"$DEPTH" \
				-d"${SECS}s" -s bench/wrk-fids.lua "$url" | tail -n 1 >>"$RUNS"
		done
	done
done
python3 - "$RUNS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for lab in sorted({r["label"] for r in rows}):
    rs = [r for r in rows if r["label"] == lab]
    med[lab] = {k: statistics.median(r[k] for r in rs) for k in ("ops_per_sec", "mb_per_sec", "errors")}
    med[lab]["p99"] = statistics.median(r["latency_us"]["p99"] for r in rs)
print("| size | server | ops/s | MB/s | p99 us | errors |")
print("|---|---|---:|---:|---:|---:|")
for sz in ("4k", "1m"):
    for who in ("weed", "kelpd"):
        m = med[f"{who} {sz}"]
        print(f"| {sz} | {who} | {m['ops_per_sec']:.0f} | {m['mb_per_sec']:.1f} | {m['p99']:.0f} | {m['errors']:.0f} |")
for sz in ("4k", "1m"):
    w, k = med[f"weed {sz}"], med[f"kelpd {sz}"]
    print(f"\n{sz}: kelpd/weed = {k['ops_per_sec'] / w['ops_per_sec']:.2f}x ops/s, "
          f"{k['mb_per_sec'] / w['mb_per_sec']:.2f}x MB/s")
PY
echo "runs: $RUNS" >&2
