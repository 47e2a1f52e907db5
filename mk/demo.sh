#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: a sample volume, kelpd serving it, and kelp-bench comparing the ring round trip
# (nop), reads through kelpd (local) and the page-cache floor (pread, one thread, in-process).
#
# Layout on this 2-core machine: kelpd's worker lcore busy-polls cpu 1, the benchmark client runs
# on cpu 0. Environment: DEMO_NEEDLES (default 20000), DEMO_SIZE (default 4096), DEMO_SECONDS
# (default 3 per mode), DEMO_DEPTH (default 16), KEEP_DEMO=1 keeps the temp dir.
set -euo pipefail
. "$(dirname "$0")/../bench/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
NEEDLES=${DEMO_NEEDLES:-20000}
SIZE=${DEMO_SIZE:-4096}
SECONDS_PER_MODE=${DEMO_SECONDS:-3}
DEPTH=${DEMO_DEPTH:-16}

for tool in kelpd kelp-vol kelp-bench; do
	if [ ! -x "$BIN/$tool" ]; then
		echo "demo: $BIN/$tool is not built; run 'make' first (and see its errors)." >&2
		exit 1
	fi
done

. test/integ/lib/kelpd.sh
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-demo.XXXXXX")
cleanup() {
	kelpd_stop
	if [ "${KEEP_DEMO:-0}" = 1 ]; then echo "demo: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== 1. a sample volume: $NEEDLES needles of $SIZE bytes (kelp-vol create)"
mkdir -p "$DIR/vol"
"$BIN/kelp-vol" create "$DIR/vol" 1 --synthetic "$NEEDLES" --size "$SIZE" >"$DIR/fids.txt"

cat >"$DIR/kelp.conf" <<EOF
# written by mk/demo.sh
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd.sock
arena_mb = 128
[export]
dirs = $DIR/vol
[rdma]
device = off
EOF

echo "== 2. kelpd -c $DIR/kelp.conf (worker lcore on cpu 1)"
kelpd_start "$DIR/kelp.conf" "$DIR/kelpd.log"

cat "$DIR"/vol/*.dat >/dev/null # page cache warm, for every mode alike

echo "== 3. kelp-bench, client on cpu 0, $SECONDS_PER_MODE s per mode"
run() { # label, args...
	local label=$1
	shift
	echo "-- $label: kelp-bench $*"
	"$BIN/kelp-bench" --cpu 0 -D "$SECONDS_PER_MODE" --json --label "$label" "$@" >>"$DIR/runs.json"
}
run "nop d1" --mode nop -c "$DIR/kelp.conf" -d 1
run "local d$DEPTH" --mode local -c "$DIR/kelp.conf" --volume-dir "$DIR/vol" -d "$DEPTH"
run "pread d1" --mode pread --volume-dir "$DIR/vol" -d 1

echo
python3 - "$DIR/runs.json" <<'EOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in runs if r["mode"] == "pread"), None)
print(f'{"run":<12} {"ops/s":>12} {"MB/s":>10} {"p50 us":>8} {"p99 us":>8} {"p99.9 us":>9} {"errors":>7} {"vs pread":>9}')
for r in runs:
    lat = r["latency_us"]
    ratio = f'{r["ops_per_sec"] / base["ops_per_sec"]:.2f}x' if base and r["mode"] != "nop" else "-"
    print(f'{r["label"]:<12} {r["ops_per_sec"]:>12,.0f} {r["mb_per_sec"]:>10,.1f} {lat["p50"]:>8.2f} '
          f'{lat["p99"]:>8.2f} {lat["p999"]:>9.2f} {r["errors"]:>7} {ratio:>9}')
EOF
echo
echo "(nop = ring round trip only; local = reads through kelpd; pread = this process reading the"
echo " .dat itself, one thread. Figures and methodology: BENCHMARKS.md)"
if [ "$(python3 -c 'import json,sys; print(sum(json.loads(l)["errors"] for l in open(sys.argv[1]) if l.strip()))' "$DIR/runs.json")" != 0 ]; then
	echo "demo: some reads failed (see the errors column)" >&2
	exit 1
fi
