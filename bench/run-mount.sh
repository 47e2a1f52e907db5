#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 11's benchmark: files by path through one real filer (weed master + volume + filer on this
# host), the same files, the same run, four ways (bench/kelp-files-bench):
#   kelp-mount   open/read/close under a fresh kelp-mount (kelpd: [export] dirs = the volume's -dir,
#                [filer] address = the filer)
#   weed-mount   the same under a fresh `weed mount` (same weed binary, default options but a new
#                -cacheDir per run: its chunk cache cold)
#   path         libkelp's path API directly (kelp_path_read), one session per thread
#   path+ls      the same, listing the files' directories first (timed; --list-dirs), as a data
#                loader enumerates its data set: kelpd caches the listed entries, as kelp-mount's
#                first lookup in a directory lists it
#   http         keep-alive GETs of whole files to the filer, one connection per thread
#   path-base    (BASE_BIN=DIR) the path way again with DIR's kelpd and kelp-files-bench (another
#                build, e.g. main's: an A/B in the same rounds)
# Set-up: each thread's kelp session (path) or HTTP connection (http) is opened before the clock
# starts, as a data loader opens them once per worker before its epochs; files/s is the epoch
# alone, "with set-up" also counts the time the sessions / connections took to open. CPU per file
# counts everything of the process's lifetime (set-up included) for every way alike.
# Sets: (a) a data-loader epoch: 10,000 x 64 KiB files (10 directories of 1,000), every file read
# once by THREADS threads in one random order (the same order for every way); (b) 8 x 256 MiB
# files, 8 threads, 1 MiB reads.
# Cold: every kelp-mount / weed-mount run is a fresh mount (the kernel's page cache of a mount's
# files goes with it) and every kelp run a fresh kelpd (its metadata cache empty). The volume's
# .dat files and the filer's store stay in the host's page cache for all ways alike, unless
# --drop-caches (echo 3 > /proc/sys/vm/drop_caches before every run, then all read from disk).
# Rounds alternate the order of the ways; the table shows medians over the rounds (shared, noisy
# machine). CPU per file: the client's (getrusage) + kelpd's or weed mount's + the filer's + the
# volume server's (from /proc), divided by the files read.
#
# usage: bench/run-mount.sh [-r ROUNDS] [-t THREADS] [-o OUTDIR] [--small N] [--large N --large-mb M]
#                           [--drop-caches] [--ways LIST] [--sets LIST]
#   --ways LIST   comma-separated subset of kelp_mount,weed_mount,path,path_ls,http (default all)
#   --sets LIST   comma-separated subset of small,large (default both; a set left out is not
#                 uploaded either)
# Environment: BIN (default build/bin), BASE_BIN (adds the path-base way), WAIT_SPIN_US (path and
# path-base: kelp-files-bench --wait-spin-us; unset = libkelp's default).
# Writes OUTDIR/runs.json (one JSON line per run), OUTDIR/machine.txt, kelpd's counters after each
# path run (OUTDIR/kelpd-stats-path-SET-ROUND.json, kelpctl --json stats), and prints a Markdown
# table.
set -euo pipefail
. "$(dirname "$0")/prio.sh" "$0" "$@"
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
ROUNDS=3
THREADS=8
OUT=
NSMALL=10000
NLARGE=8
LARGE_MB=256
DROP=0
WAYS=kelp_mount,weed_mount,path,path_ls,http
SETS=small,large
while [ $# -gt 0 ]; do
	case $1 in
	-r) ROUNDS=$2; shift 2 ;;
	-t) THREADS=$2; shift 2 ;;
	-o) OUT=$2; shift 2 ;;
	--small) NSMALL=$2; shift 2 ;;
	--large) NLARGE=$2; shift 2 ;;
	--large-mb) LARGE_MB=$2; shift 2 ;;
	--drop-caches) DROP=1; shift ;;
	--ways) WAYS=$2; shift 2 ;;
	--sets) SETS=$2; shift 2 ;;
	-h|--help) sed -n '3,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-mount.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for tool in kelpd kelpctl kelp-mount kelp-files-bench; do
	[ -x "$BIN/$tool" ] || { echo "run-mount.sh: $BIN/$tool missing: run 'make' first" >&2; exit 1; }
done
if [ -n "${BASE_BIN:-}" ]; then
	for tool in kelpd kelp-files-bench; do
		[ -x "$BASE_BIN/$tool" ] || { echo "run-mount.sh: BASE_BIN: $BASE_BIN/$tool missing" >&2; exit 1; }
	done
	[[ ,$WAYS, == *,path_base,* ]] || WAYS=$WAYS,path_base
fi
SPIN=()
[ -z "${WAIT_SPIN_US:-}" ] || SPIN=(--wait-spin-us "$WAIT_SPIN_US")
. test/integ/lib/filer.sh
. test/integ/lib/kelpd.sh
weed_require
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/kelp-bench-mount.XXXXXX")}
mkdir -p "$OUT"
RUNS=$OUT/runs.json
: >"$RUNS"

weed_start 1
weed_start_filer
FILER_PID=${_WEED_PIDS[-1]} # weed.sh's record of the process just started: the filer
VDIR=${WEED_VOLUME_DIRS[0]}
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1 || true)

[[ ,$SETS, == *,small,* ]] || NSMALL=0
[[ ,$SETS, == *,large,* ]] || NLARGE=0
echo "== uploading $NSMALL x 64 KiB and $NLARGE x $LARGE_MB MiB to the filer" >&2
python3 - "$WEED_FILER" "$NSMALL" "$NLARGE" "$LARGE_MB" "$OUT" <<'PYEOF'
import http.client, os, sys, uuid
filer, nsmall, nlarge, large_mb, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
host, port = filer.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=600)
def put(path, data):
    b = uuid.uuid4().hex
    name = path.rsplit("/", 1)[1]
    body = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            name.encode() + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data +
            b"\r\n--" + b.encode() + b"--\r\n")
    conn.request("POST", path, body, {"Content-Type": "multipart/form-data; boundary=" + b})
    r = conn.getresponse()
    r.read()
    if r.status >= 300:
        sys.exit("upload of %s: HTTP %d" % (path, r.status))
with open(os.path.join(out, "small.list"), "w") as f:
    for i in range(nsmall):
        p = "/bench/loader/d%02d/f%05d.bin" % (i % 10, i)
        put(p, os.urandom(65536))
        f.write("%s\t65536\n" % p)
with open(os.path.join(out, "large.list"), "w") as f:
    for i in range(nlarge):
        p = "/bench/stream/f%d.bin" % i
        put(p, os.urandom(large_mb << 20))
        f.write("%s\t%d\n" % (p, large_mb << 20))
PYEOF

cat >"$OUT/kelp.conf" <<EOF
[engine]
lcores = 1
control_cpu = -1
idle_park_us = 20
socket = $OUT/kelpd.sock
arena_mb = 64
[export]
dirs = $VDIR
[seaweedfs]
master = $WEED_MASTER
[rdma]
device = off
[filer]
address = $WEED_FILER
EOF

MNT=$OUT/mnt
MOUNT_PID=""
mkdir -p "$MNT"
mounted() { [[ $(cat /proc/self/mountinfo) == *" $MNT "* ]]; }
unmount() {
	if mounted; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
	if [ -n "$MOUNT_PID" ]; then
		kill -TERM "$MOUNT_PID" 2>/dev/null || true
		wait "$MOUNT_PID" 2>/dev/null || true
		MOUNT_PID=""
	fi
}
at_exit unmount
at_exit kelpd_stop
cpu_ms() { # CPU time (user + system) of process $1 in ms, 0 when there is none
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{ print ($14 + $15) * 10 }' "/proc/$1/stat" || echo 0
}
drop() { [ "$DROP" = 0 ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }; }

# run WAY SET SERVER_PID ARGS...: one kelp-files-bench run ($FB, default $BIN's); its JSON line
# gets the CPU of the server side
run() {
	local way=$1 set=$2 server_pid=$3 f0 v0 s0 line fb=${FB:-$BIN/kelp-files-bench}
	shift 3
	local rs=1048576
	drop
	f0=$(cpu_ms "$FILER_PID") v0=$(cpu_ms "$VPID") s0=$(cpu_ms "$server_pid")
	echo "-- $way $set: kelp-files-bench $*" >&2
	line=$("$fb" -t "$THREADS" -s "$rs" -l "$OUT/$set.list" -L "$way $set" "$@") ||
		echo "run-mount.sh: $way $set had errors: $line" >&2
	python3 -c 'import json, sys
r = json.loads(sys.argv[1])
r.update(way=sys.argv[2], set=sys.argv[3], filer_cpu_s=int(sys.argv[4]) / 1e3,
         volume_cpu_s=int(sys.argv[5]) / 1e3, server_cpu_s=int(sys.argv[6]) / 1e3)
r["cpu_us_per_file"] = (r["client_cpu_s"] + r["filer_cpu_s"] + r["volume_cpu_s"] +
                        r["server_cpu_s"]) / max(r["files"], 1) * 1e6
print(json.dumps(r))' "$line" "$way" "$set" $(($(cpu_ms "$FILER_PID") - f0)) \
		$(($(cpu_ms "$VPID") - v0)) $(($(cpu_ms "$server_pid") - s0)) >>"$RUNS"
}

way_kelp_mount() { # SET
	kelpd_start "$OUT/kelp.conf" "$OUT/kelpd.log"
	"$BIN/kelp-mount" -c "$OUT/kelp.conf" "$MNT" 2>>"$OUT/kelp-mount.log" &
	MOUNT_PID=$!
	wait_until 60 mounted || { echo "kelp-mount did not mount" >&2; exit 1; }
	# kelp-mount's and kelpd's CPU both: a child shell cannot sum two pids, so kelpd's is added here
	local k0
	k0=$(cpu_ms "$KELPD_PID")
	run kelp-mount "$1" "$MOUNT_PID" -m fs -D "$MNT"
	python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[-1]); k = int(sys.argv[2]) / 1e3
r["server_cpu_s"] += k
r["cpu_us_per_file"] += k / max(r["files"], 1) * 1e6
lines[-1] = json.dumps(r)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")' "$RUNS" $(($(cpu_ms "$KELPD_PID") - k0))
	unmount
	kelpd_stop
}
way_weed_mount() { # SET
	local cache
	cache=$(mktemp -d "$OUT/weedcache.XXXXXX")
	"$WEED" mount -filer="$WEED_FILER_ARG" -dir="$MNT" -cacheDir="$cache" >>"$OUT/weed-mount.log" 2>&1 &
	MOUNT_PID=$!
	wait_until 60 mounted || { echo "weed mount did not mount" >&2; exit 1; }
	run weed-mount "$1" "$MOUNT_PID" -m fs -D "$MNT"
	unmount
	rm -rf "$cache"
}
way_path() { # SET
	kelpd_start "$OUT/kelp.conf" "$OUT/kelpd.log"
	run path "$1" "$KELPD_PID" -m path -c "$OUT/kelp.conf" "${SPIN[@]}"
	# kelpd's counters of the run (reads served on the lcore, plans displaced, listings, lookups)
	"$BIN/kelpctl" -c "$OUT/kelp.conf" --json stats >"$OUT/kelpd-stats-path-$1-$round.json" ||
		echo "run-mount.sh: kelpctl stats failed (see above)" >&2
	kelpd_stop
}
way_path_base() { # SET: the same with BASE_BIN's kelpd and kelp-files-bench (libkelp)
	KELPD_BIN=$BASE_BIN/kelpd kelpd_start "$OUT/kelp.conf" "$OUT/kelpd.log"
	FB=$BASE_BIN/kelp-files-bench run path-base "$1" "$KELPD_PID" -m path -c "$OUT/kelp.conf" "${SPIN[@]}"
	kelpd_stop
}
way_path_ls() { # SET: the path API as a data loader that enumerates its data set first
	kelpd_start "$OUT/kelp.conf" "$OUT/kelpd.log"
	run path+ls "$1" "$KELPD_PID" -m path --list-dirs -c "$OUT/kelp.conf"
	kelpd_stop
}
way_http() { # SET
	run http "$1" "" -m http -f "$WEED_FILER"
}

{ date -u; lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[23])'; uname -r; "$WEED" version
  echo "BASE_BIN ${BASE_BIN:-none}, WAIT_SPIN_US ${WAIT_SPIN_US:-default}"
  echo "threads $THREADS, small $NSMALL x 64 KiB, large $NLARGE x $LARGE_MB MiB, drop_caches $DROP"; } >"$OUT/machine.txt"
IFS=, read -ra ways <<<"$WAYS"
IFS=, read -ra sets <<<"$SETS"
for round in $(seq "$ROUNDS"); do
	echo "== round $round of $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
	for set in "${sets[@]}"; do
		# alternate the order: round 2 runs the ways backwards
		order=()
		for w in "${ways[@]}"; do
			if [ $((round % 2)) = 0 ]; then order=("$w" "${order[@]}"); else order+=("$w"); fi
		done
		for w in "${order[@]}"; do "way_$w" "$set"; done
	done
done

python3 - "$RUNS" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(way, st, key):
    # a BASE_BIN build older than session 8 reports no set-up fields: nan, not a crash
    v = [r[key] for r in runs if r["way"] == way and r["set"] == st and r.get(key) is not None]
    return statistics.median(v) if v else float("nan")
print("| set | way | files/s | files/s with set-up | set-up s | MB/s | p50 ms | p99 ms | CPU us/file | errors | runs |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for st in ("small", "large"):
    for way in ("kelp-mount", "weed-mount", "path", "path-base", "path+ls", "http"):
        n = sum(1 for r in runs if r["way"] == way and r["set"] == st)
        if n == 0:
            continue
        err = sum(r["errors"] + r["wrong_size"] for r in runs if r["way"] == way and r["set"] == st)
        print("| %s | %s | %.0f | %.0f | %.3f | %.1f | %.2f | %.2f | %.0f | %d | %d |" % (
            st, way, med(way, st, "files_per_sec"), med(way, st, "files_per_sec_with_setup"),
            med(way, st, "setup_seconds"), med(way, st, "mb_per_sec"),
            med(way, st, "p50_us") / 1e3, med(way, st, "p99_us") / 1e3,
            med(way, st, "cpu_us_per_file"), err, n))
print()
for way in ("path", "path-base", "http"):
    rs = [r for r in runs if r["way"] == way and r["set"] == "small"]
    if rs:
        print("%s rounds (files/s, with set-up; set-up s): %s" % (way, ", ".join(
            "%.0f / %.0f; %.3f" % (r["files_per_sec"], r.get("files_per_sec_with_setup") or float("nan"),
                                   r.get("setup_seconds") or float("nan")) for r in rs)))
print()
def ratio(a, b, st, key):
    return med(a, st, key) / med(b, st, key)
print("kelp-mount / weed mount, files/s on (a): %.2fx (target >= 3x)" % ratio("kelp-mount", "weed-mount", "small", "files_per_sec"))
print("kelp-mount / weed mount, MB/s on (b): %.2fx (target >= 1.5x)" % ratio("kelp-mount", "weed-mount", "large", "mb_per_sec"))
print("path API / filer GETs, files/s on (a): %.2fx (target >= 10x)" % ratio("path", "http", "small", "files_per_sec"))
print("path API / filer GETs, files/s with set-up on (a): %.2fx" % ratio("path", "http", "small", "files_per_sec_with_setup"))
if any(r["way"] == "path-base" for r in runs):
    print("base path API (BASE_BIN) / filer GETs, files/s on (a): %.2fx, with set-up %.2fx" % (
        ratio("path-base", "http", "small", "files_per_sec"),
        ratio("path-base", "http", "small", "files_per_sec_with_setup")))
    print("path API / base path API, files/s on (a): %.2fx, with set-up %.2fx" % (
        ratio("path", "path-base", "small", "files_per_sec"),
        ratio("path", "path-base", "small", "files_per_sec_with_setup")))
print("path API listing its directories first / filer GETs, files/s on (a): %.2fx" % ratio("path+ls", "http", "small", "files_per_sec"))
print("kelp-mount / filer GETs, files/s on (a): %.2fx" % ratio("kelp-mount", "http", "small", "files_per_sec"))
PYEOF
echo "run-mount.sh: results in $OUT" >&2
