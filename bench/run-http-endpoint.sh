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
# IDLE_PARK_US (kelpd's [engine] idle_park_us, default 20), CONTROL_CPU (kelpd's [engine] control_cpu,
# the thread that serves HTTP; default -1: not pinned), BASE_BIN (a second kelpd build, e.g. main's,
# measured in the same rounds as "kelpd-base"). The table also gives the CPU the server (every
# thread) and wrk used per request, and as % of one core.
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
	-h|--help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# kelpd_conf NAME PORT: a kelpd configuration exporting the volume server's -dir
kelpd_conf() {
	cat <<CONF
[engine]
lcores = 1
control_cpu = ${CONTROL_CPU:--1}
idle_park_us = ${IDLE_PARK_US:-20}
socket = $WEED_DIR/$1.sock
arena_mb = 256
[export]
dirs = $VDIR
[rdma]
device = off
[http]
listen = 127.0.0.1:$2
CONF
}
_up() { curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$1/healthz"; }
# both answer every fid with 200 and the same bytes before anything is measured
_same() {
	local sz f
	for sz in 4k 1m; do
		f=$(head -n 1 "$WEED_DIR/fids$sz.txt")
		cmp -s <(curl -sf "http://$VURL/$f") <(curl -sf "http://127.0.0.1:$1/$f") ||
			{ echo "weed and kelpd ($1) differ on $f" >&2; exit 1; }
	done
}
{ read -r PORT && read -r BPORT; } < <(weed_free_ports 2)
kelpd_conf kelpd "$PORT" >"$WEED_DIR/kelp.conf"
kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
wait_until 30 _up "$PORT" || { echo "kelpd's endpoint does not answer" >&2; exit 1; }
_same "$PORT"
SERVERS="weed kelpd"
if [ -n "${BASE_BIN:-}" ]; then # a second kelpd, e.g. main's build, measured in the same rounds
	kelpd_conf kelpd-base "$BPORT" >"$WEED_DIR/kelp-base.conf"
	"$BASE_BIN/kelpd" -c "$WEED_DIR/kelp-base.conf" >"$WEED_DIR/kelpd-base.log" 2>&1 &
	BASE_PID=$!
	at_exit 'kill -TERM $BASE_PID 2>/dev/null; wait $BASE_PID 2>/dev/null || true'
	wait_until 30 _up "$BPORT" || { echo "the base kelpd's endpoint does not answer" >&2; exit 1; }
	_same "$BPORT"
	SERVERS="weed kelpd kelpd-base"
fi

# CPU time (clock ticks, every thread) process $1 has used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
command -v /usr/bin/time >/dev/null || { echo "run-http-endpoint.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
RUNS=$OUT/endpoint.json
: >"$RUNS"
echo "== $(date -u '+%F %T') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for sz in 4k 1m; do
	for ((r = 0; r < ROUNDS; r++)); do
		for who in $SERVERS; do
			url=http://$VURL
			[ $who = kelpd ] && url=http://127.0.0.1:$PORT
			[ $who = kelpd-base ] && url=http://127.0.0.1:$BPORT
			pid=${_WEED_PIDS[1]}
			[ $who = kelpd ] && pid=$KELPD_PID
			[ $who = kelpd-base ] && pid=$BASE_PID
			echo "-- $who $sz round $r: wrk -t1 -c$DEPTH -d${SECS}s" >&2
			s0=$(cpu_ticks "$pid")
			FIDS=$WEED_DIR/fids$sz.txt LABEL="$who $sz" /usr/bin/time -f '%U %S' -o "$OUT/wrk.time" \
				taskset -c 0 wrk -t1 -c"$DEPTH" -d"${SECS}s" -s bench/wrk-fids.lua "$url" |
				tail -n 1 >"$OUT/wrk.json"
			s1=$(cpu_ticks "$pid")
			# the JSON line plus the CPU seconds the server and wrk used during the run
			python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read())
d["server_cpu_s"] = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
d["client_cpu_s"] = sum(float(x) for x in open(sys.argv[5]).read().split()[-2:])
print(json.dumps(d))' "$OUT/wrk.json" "$s0" "$s1" "$(getconf CLK_TCK)" "$OUT/wrk.time" >>"$RUNS"
		done
	done
done
echo "== done $(date -u '+%T') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$RUNS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
labels = sorted({r["label"] for r in rows})
who_all = [w for w in ("weed", "kelpd", "kelpd-base") if any(l.startswith(w + " ") for l in labels)]
med = {}
for lab in labels:
    rs = [r for r in rows if r["label"] == lab]
    med[lab] = {k: statistics.median(r[k] for r in rs) for k in ("ops_per_sec", "mb_per_sec", "errors")}
    med[lab]["p99"] = statistics.median(r["latency_us"]["p99"] for r in rs)
    med[lab]["rounds"] = [r["ops_per_sec"] for r in rs]
    # CPU per request: server (all its threads) and wrk, microseconds, median over the rounds
    med[lab]["srv_us"] = statistics.median(r["server_cpu_s"] / r["ops"] * 1e6 for r in rs)
    med[lab]["cli_us"] = statistics.median(r["client_cpu_s"] / r["ops"] * 1e6 for r in rs)
    med[lab]["srv_pct"] = statistics.median(100 * r["server_cpu_s"] / r["seconds"] for r in rs)
    med[lab]["cli_pct"] = statistics.median(100 * r["client_cpu_s"] / r["seconds"] for r in rs)
print("| size | server | ops/s (median) | MB/s | p99 us | errors | server CPU % / us per req | "
      "wrk CPU % / us per req | ops/s per round |")
print("|---|---|---:|---:|---:|---:|---:|---:|---|")
for sz in ("4k", "1m"):
    for who in who_all:
        m = med[f"{who} {sz}"]
        print(f"| {sz} | {who} | {m['ops_per_sec']:.0f} | {m['mb_per_sec']:.1f} | {m['p99']:.0f} | "
              f"{m['errors']:.0f} | {m['srv_pct']:.0f} % / {m['srv_us']:.1f} | "
              f"{m['cli_pct']:.0f} % / {m['cli_us']:.1f} | {' / '.join(f'{x:.0f}' for x in m['rounds'])} |")
print()
for sz in ("4k", "1m"):
    w = med[f"weed {sz}"]
    for who in who_all[1:]:
        k = med[f"{who} {sz}"]
        per = [a / b for a, b in zip(k["rounds"], w["rounds"])]
        print(f"{sz}: {who}/weed = {k['ops_per_sec'] / w['ops_per_sec']:.2f}x ops/s, "
              f"{k['mb_per_sec'] / w['mb_per_sec']:.2f}x MB/s (per round: "
              f"{' / '.join(f'{x:.2f}x' for x in per)})")
PY
echo "runs: $RUNS" >&2
