#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: a sample volume, kelpd serving it, and kelp-bench comparing the ring round trip
# (nop), reads through kelpd (local) and the page-cache floor (pread, one thread, in-process).
#
# Layout on this 2-core machine: kelpd's worker lcore busy-polls cpu 1, the benchmark client runs
# on cpu 0. Environment: DEMO_NEEDLES (default 20000), DEMO_SIZE (default 4096), DEMO_SECONDS
# (default 3 per mode), DEMO_DEPTH (default 16), KEEP_DEMO=1 keeps the temp dir.
# Then, when weed is installed (make deps; DEMO_FILER=0 skips it), files by path: a weed master,
# volume server and filer, a file uploaded in 1 MiB chunks, and kelpctl ls / stat / cat reading it
# through kelpd (chunks from the volume server's files, which kelpd exports).
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

[ "${DEMO_FILER:-1}" = 1 ] || exit 0
if [ ! -x "$(bash mk/weed-path.sh)" ]; then
	echo "demo: weed is not installed (make deps): skipping the read by path"
	exit 0
fi
echo
echo "== 4. files by path: weed master + volume + filer, kelpd with [filer] address"
kelpd_stop
. test/integ/lib/filer.sh # replaces the EXIT trap: keep ours too
at_exit cleanup
weed_start 1 >/dev/null 2>&1
weed_start_filer >/dev/null 2>&1
head -c 3000000 /dev/urandom >"$DIR/big.bin"
echo "hello from the filer" >"$DIR/hello.txt"
filer_put /demo/big.bin "$DIR/big.bin" maxMB=1
filer_put /demo/hello.txt "$DIR/hello.txt"
cat >"$DIR/kelp-filer.conf" <<EOF
# written by mk/demo.sh
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd-filer.sock
[export]
dirs = ${WEED_VOLUME_DIRS[0]}
[seaweedfs]
master = $WEED_MASTER
[filer]
address = $WEED_FILER
[rdma]
device = off
EOF
kelpd_start "$DIR/kelp-filer.conf" "$DIR/kelpd-filer.log"
ctl() {
	echo "\$ kelpctl $*"
	"$BIN/kelpctl" -c "$DIR/kelp-filer.conf" "$@"
}
ctl ls -l /demo
ctl stat /demo/big.bin
ctl cat /demo/hello.txt
ctl cat /demo/big.bin -o "$DIR/big.out"
filer_get /demo/big.bin "$DIR/big.get"
if ! cmp -s "$DIR/big.out" "$DIR/big.get"; then
	echo "demo: kelpctl cat /demo/big.bin differs from the filer's GET" >&2
	exit 1
fi
echo "kelpctl cat /demo/big.bin (3 chunks) = the filer's own GET, byte for byte"
"$BIN/kelpctl" -c "$DIR/kelp-filer.conf" --json stats | python3 -c '
import json, sys
j = json.load(sys.stdin)
f = j["filer"]
# reads of cached plain local files are served on the lcore (path_lcore), the rest on the control
# thread (path_reads, with their chunk reads): show both, or two cats look like no read at all
print("kelpd filer counters:", {k: f[k] for k in ("lists", "lookups", "cache_hits", "path_reads",
      "chunk_reads_local", "chunk_reads_remote")}, "reads served on the lcore:",
      j.get("total", {}).get("path_lcore", 0))'
