#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Same-run A/B of two builds on the rows a change to the ring or local read path can move:
# nop round trip (d1, d16) and local 4 KiB reads at depth 1 and 16, one lcore on cpu 1, client on
# cpu 0, 50,000 x 4 KiB needles (200 MB, page cache warm), exactly as bench/run-local.sh runs them.
# The builds take turns (A, B, A, B, ...), each with its own kelpd and kelp-bench, so the host's
# drift hits both alike; the table shows each row's median and the B/A ratio of the medians, and
# the CPU per read of the client (time(1)) and of kelpd (/proc) as medians.
#
# usage: bench/ab-local.sh [-D SECONDS] [-r ROUNDS] [-o OUTDIR] A_BIN B_BIN
#   A_BIN, B_BIN: build/bin folders (e.g. of a `git worktree` at the previous commit, built with
#   make). Defaults: -D 3, -r 5. Raw JSON lines in OUTDIR/ab.json (default: a temp folder).
#   EXTRA_CONF: more [engine] lines for both kelpd (e.g. "idle_park_us = 0" to compare the
#   builds with the same idle policy when their defaults differ). WAIT: kelp-bench's wait option
#   for every row (e.g. --wait or --wait=0: the client sleeps in kelp_wait; default: busy-poll).
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
SECS=3
ROUNDS=5
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-r) ROUNDS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "ab-local.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || { echo "ab-local.sh: give two build/bin folders (see --help)" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
for bin in "$A" "$B"; do
	for tool in kelpd kelp-vol kelp-bench; do
		[ -x "$bin/$tool" ] || { echo "ab-local.sh: $bin/$tool missing: build that tree first" >&2; exit 1; }
	done
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-ab.XXXXXX")
OUT=${OUT:-$DIR/out}
mkdir -p "$OUT"
. test/integ/lib/kelpd.sh
cleanup() {
	kelpd_stop
	rm -rf "$DIR/vol4k"
	case $OUT in "$DIR"/*) echo "ab-local.sh: results kept in $OUT" >&2 ;; *) rm -rf "$DIR" ;; esac
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$DIR/vol4k"
"$B/kelp-vol" create "$DIR/vol4k" 11 --synthetic 50000 --size 4096 >/dev/null
cat >"$DIR/kelp.conf" <<EOF
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd.sock
arena_mb = 256
${EXTRA_CONF:-}
[export]
dirs = $DIR/vol4k
[rdma]
device = off
EOF
cat "$DIR"/vol4k/*.dat >/dev/null # warm the page cache

kelpd_cpu_ms() { # user + system CPU of the running kelpd in ms
	awk '{ print ($14 + $15) * 10 }' "/proc/$KELPD_PID/stat"
}
RUNS=$OUT/ab.json
: >"$RUNS"
{ date -u; echo "A=$A"; echo "B=$B"; echo "WAIT=${WAIT:-}"; lscpu | grep -E '^(Model name|CPU\(s\))'; uname -r; } >"$OUT/machine.txt"
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	for side in A B; do
		bin=$A
		[ $side = B ] && bin=$B
		KELPD_BIN=$bin/kelpd kelpd_start "$DIR/kelp.conf" "$DIR/kelpd-$side.log"
		for row in "nop d1:--mode nop -d 1" "nop d16:--mode nop -d 16" \
			"local 4k d1:--mode local --volume-dir $DIR/vol4k -d 1" \
			"local 4k d16:--mode local --volume-dir $DIR/vol4k -d 16"; do
			label="$side ${row%%:*}"
			k0=$(kelpd_cpu_ms)
			# shellcheck disable=SC2086
			/usr/bin/time -f "%U %S" -o "$DIR/time.txt" \
				"$bin/kelp-bench" --cpu 0 -D "$SECS" -q --json --label "$label" \
				-c "$DIR/kelp.conf" ${WAIT:-} ${row#*:} >"$DIR/row.json"
			# the row's JSON line plus the CPU ms of the client and of kelpd during it
			python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); u, s = open(sys.argv[2]).read().split()[-2:]
j["cpu_ms_client"] = (float(u) + float(s)) * 1000; j["cpu_ms_kelpd"] = int(sys.argv[3])
print(json.dumps(j))' "$DIR/row.json" "$DIR/time.txt" $(($(kelpd_cpu_ms) - k0)) >>"$RUNS"
		done
		kelpd_stop
	done
done
echo "== done; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2

python3 - "$RUNS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    side, name = r["label"].split(" ", 1)
    rows.setdefault(name, {}).setdefault(side, []).append(r)
print("| row | A ops/s (median, range) | B ops/s (median, range) | B/A | A p50 / B p50 us |"
      " CPU us/read client A / B | kelpd A / B |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, sides in rows.items():
    def med(side, key):
        return statistics.median(x[key] for x in sides[side])
    def p50(side):
        return statistics.median(x["latency_us"]["p50"] for x in sides[side])
    def rng(side):
        v = sorted(x["ops_per_sec"] for x in sides[side])
        return f"{v[0]:,.0f}-{v[-1]:,.0f}"
    def cpu(side, key):
        return statistics.median(x[key] * 1000 / x["ops"] for x in sides[side] if x["ops"])
    a, b = med("A", "ops_per_sec"), med("B", "ops_per_sec")
    print(f"| {name} | {a:,.0f} ({rng('A')}) | {b:,.0f} ({rng('B')}) | {b / a:.2f}x | "
          f"{p50('A'):.2f} / {p50('B'):.2f} | {cpu('A', 'cpu_ms_client'):.2f} / "
          f"{cpu('B', 'cpu_ms_client'):.2f} | {cpu('A', 'cpu_ms_kelpd'):.2f} / "
          f"{cpu('B', 'cpu_ms_kelpd'):.2f} |")
print()
print("every round (ops/s; CPU us/read client, kelpd):")
for name, sides in rows.items():
    for side in ("A", "B"):
        print(f"  {name} {side}: " + ", ".join(
            f"{x['ops_per_sec']:,.0f} ({x['cpu_ms_client'] * 1000 / max(x['ops'], 1):.2f}, "
            f"{x['cpu_ms_kelpd'] * 1000 / max(x['ops'], 1):.2f})" for x in sides[side]))
PY
