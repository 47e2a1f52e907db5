#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions and simulated cache misses per local 4 KiB read in kelpd's lcore (callgrind), a
# figure that does not move with the load of this shared machine, unlike ops/s.
#
# usage: bench/callgrind-local.sh [-D SECONDS] [-o OUTDIR]     (build first: make)
# Creates a 50,000 x 4 KiB synthetic volume, runs kelpd under valgrind --tool=callgrind
# (--cache-sim=yes, collection only inside kelp_lcore_serve_session), reads random needles with
# kelp-bench (cpu 0, depth 16) for SECONDS (default 150), dumps, and prints per-read Ir, D1 and LL
# read misses, total and for the CRC-32C copy. Under valgrind kelpd serves only a few thousand
# reads in that time (enough: the counts per read are steady). kelp-bench --wait is not used: under
# valgrind the session stalled after a few dozen reads with it.
# Callgrind does not model hardware or software prefetch: LL misses are the DRAM lines touched.
# Environment: BIN (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
SECS=150
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-D) SECS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	-h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "callgrind-local.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
command -v valgrind >/dev/null || { echo "callgrind-local.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-callgrind.XXXXXX")
OUT=${OUT:-$DIR}
mkdir -p "$OUT"
VPID=
cleanup() {
	[ -z "$VPID" ] || kill -KILL "$VPID" 2>/dev/null || true
	rm -rf "$DIR/vol4k"
}
trap cleanup EXIT
mkdir "$DIR/vol4k"
"$BIN/kelp-vol" create "$DIR/vol4k" 11 --synthetic 50000 --size 4096 >/dev/null
cat >"$DIR/kelp.conf" <<CONF
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd.sock
arena_mb = 64
[export]
dirs = $DIR/vol4k
[rdma]
device = off
CONF
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" --cache-sim=yes \
	--toggle-collect=kelp_lcore_serve_session "$BIN/kelpd" -c "$DIR/kelp.conf" >"$OUT/kelpd.log" 2>&1 &
VPID=$!
for _ in $(seq 300); do [ -S "$DIR/kelpd.sock" ] && break; sleep 0.2; done
[ -S "$DIR/kelpd.sock" ] || { echo "callgrind-local.sh: kelpd did not start, see $OUT/kelpd.log" >&2; exit 1; }
cat "$DIR/vol4k/11.dat" >/dev/null
timeout $((SECS + 30)) "$BIN/kelp-bench" -c "$DIR/kelp.conf" --volume-dir "$DIR/vol4k" --cpu 0 \
	-d 16 -D "$SECS" -q --json >"$OUT/bench.json" || true
callgrind_control -d "$VPID" >/dev/null
sleep 1
kill -KILL "$VPID" 2>/dev/null || true
wait "$VPID" 2>/dev/null || true
VPID=
DUMP=$(ls -t "$OUT"/callgrind.out.* | head -1)
python3 - "$DUMP" <<'PY'
import re, subprocess, sys
dump = sys.argv[1]
txt = subprocess.run(["callgrind_annotate", "--inclusive=yes", dump],
                     capture_output=True, text=True, check=True).stdout
ev, rows = None, {}
for line in txt.splitlines():
    if line.startswith("Events shown:"):
        ev = line.split(":")[1].split()
        continue
    if not ev:
        continue
    vals, name = [], None
    for tok in line.split():
        if re.fullmatch(r"[\d,]+|\.", tok) and name is None and len(vals) < len(ev):
            vals.append(0 if tok == "." else int(tok.replace(",", "")))
        elif tok.startswith("("):
            continue
        else:
            name = tok
            break
    if len(vals) == len(ev) and name:
        key = "TOTAL" if name == "PROGRAM" else name.split(":")[-1]
        rows.setdefault(key, dict(zip(ev, vals)))
calls, want, names = 0, False, {}
for line in open(dump):  # names are compressed: "(id) name" the first time, "(id)" after
    if line.startswith("cfn="):
        m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        want = bool(m) and names.get(m.group(1), "") == "kelp_serve_local"
    elif line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
    elif want and line.startswith("calls="):
        calls += int(line.split("=")[1].split()[0])
        want = False
if not calls:
    sys.exit("callgrind-local.sh: no kelp_serve_local calls recorded")
print(f"reads served while collecting: {calls}")
for name in ("TOTAL", "kelp_serve_local", "kelp_crc32c_copy"):
    r = rows.get(name)
    if r:
        print(f"{name:18s} per read: Ir {r['Ir'] / calls:7.0f}  D1mr {r['D1mr'] / calls:6.1f}"
              f"  DLmr {r['DLmr'] / calls:6.1f}")
PY
echo "callgrind-local.sh: dump in $DUMP"
