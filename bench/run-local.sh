#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 3's benchmark: kelpd with one worker lcore (cpu 1), kelp-bench on cpu 0, page cache warm.
#   - nop round trip at depth 1 (p50 / p99)
#   - local reads through kelpd at depth 16 and 32 vs --mode pread (one thread, depth 1), same run,
#     for 4 KiB, 64 KiB and 1 MiB needles
# Writes the JSON lines to $OUT/local.json, a PNG (bench/plot.py) and a Markdown table to stdout.
#
# usage: bench/run-local.sh [-D SECONDS] [-r ROUNDS] [-o OUTDIR]     (build first: make)
# Every row runs ROUNDS times (default 3), interleaved, and the table shows the median: this machine
# is shared, so single runs swing with other people's load (the load average is logged to
# $OUT/machine.txt).
# Environment: BIN (default build/bin).
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=5
ROUNDS=3
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-local.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for tool in kelpd kelp-vol kelp-bench; do
	[ -x "$BIN/$tool" ] || { echo "run-local.sh: $BIN/$tool missing: run 'make' first" >&2; exit 1; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-local.XXXXXX")
OUT=${OUT:-$DIR/out}
mkdir -p "$OUT"
. test/integ/lib/kelpd.sh
cleanup() {
	kelpd_stop
	case $OUT in
	"$DIR"/*) # results inside the temp dir: keep them, drop the volumes
		find "$DIR" -maxdepth 1 -name 'vol*' -exec rm -rf {} +
		echo "run-local.sh: results kept in $OUT" >&2 ;;
	*) rm -rf "$DIR" ;;
	esac
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Volumes: 4 KiB x 50000 (200 MB), 64 KiB x 4000 (256 MB), 1 MiB x 256 (256 MB): all fit in RAM.
echo "== volumes" >&2
for spec in "4k 11 50000 4096" "64k 12 4000 65536" "1m 13 256 1048576"; do
	set -- $spec
	mkdir -p "$DIR/vol$1"
	"$BIN/kelp-vol" create "$DIR/vol$1" "$2" --synthetic "$3" --size "$4" >/dev/null
done

cat >"$DIR/kelp.conf" <<EOF
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd.sock
arena_mb = 256
[export]
dirs = $DIR/vol4k, $DIR/vol64k, $DIR/vol1m
[rdma]
device = off
EOF
kelpd_start "$DIR/kelp.conf" "$DIR/kelpd.log"
cat "$DIR"/vol*/*.dat >/dev/null # warm the page cache

RUNS=$OUT/local.json
: >"$RUNS"
bench() { # label, args...
	local label=$1
	shift
	echo "-- $label: kelp-bench $*" >&2
	"$BIN/kelp-bench" --cpu 0 -D "$SECS" -q --json --label "$label" "$@" >>"$RUNS"
}
{ date -u; lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[23])'; uname -r; } >"$OUT/machine.txt"
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	bench "nop d1" --mode nop -c "$DIR/kelp.conf" -d 1
	bench "nop d16" --mode nop -c "$DIR/kelp.conf" -d 16
	for sz in 4k 64k 1m; do
		bench "pread $sz d1" --mode pread --volume-dir "$DIR/vol$sz" -d 1
		for d in 16 32; do
			bench "local $sz d$d" --mode local -c "$DIR/kelp.conf" --volume-dir "$DIR/vol$sz" -d "$d"
		done
	done
done
echo "== done; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2

python3 bench/plot.py -o "$OUT/local.png" --title "kelp local reads vs pread ($(date -u +%F))" "$RUNS" >&2 || true
python3 bench/table.py "$RUNS" --baseline pread
