#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelp-bench against real SeaweedFS (no timing asserted, only counts and bytes):
#   - --list-fids over a weed volume directory lists exactly the manifest's live fids;
#   - --mode pread and --mode http, each reading every live needle once (--seq --count N), move
#     exactly the bytes the volume server stores for them, with no errors;
#   - --verify checks every read against the needle's stored CRC, and catches a corrupted needle;
#   - deleted fids give one -ENOENT per read; --json has the documented fields;
#   - bad usage fails with a message, not a crash.
#   - --mode local through a real kelpd exporting the volume server's -dir moves the same bytes, all
#     served by the local path; --mode nop completes every request.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
. test/integ/lib/kelpd.sh
weed_require
BIN_DIR=${BIN:-build/bin}
BENCH=${BENCH:-$BIN_DIR/kelp-bench}
[ -x "$BENCH" ] || { echo "skip: $BENCH not built (make)"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

weed_start 1
weed_upload_standard_set
VDIR=${WEED_VOLUME_DIRS[0]}
VURL=${WEED_VOLUME_URLS[0]}
weed_manifest_rows live | cut -f1 | sort >"$WEED_DIR/live.txt"
weed_manifest_rows deleted | cut -f1 >"$WEED_DIR/dead.txt"
n_live=$(wc -l <"$WEED_DIR/live.txt")

# 1. Enumeration through core/ finds exactly the live needles weed wrote.
"$BENCH" --volume-dir "$VDIR" --list-fids | sort >"$WEED_DIR/listed.txt"
cmp -s "$WEED_DIR/live.txt" "$WEED_DIR/listed.txt" ||
	fail "--list-fids differs from the manifest: $(diff "$WEED_DIR/live.txt" "$WEED_DIR/listed.txt" | head -5)"
echo "ok: --list-fids finds the $n_live live needles of the weed volumes"

# The bytes each mode must move: the stored size of each needle (gzip-stored ones as stored, which
# is what both pread and an Accept-Encoding: gzip GET return).
want=0
while read -r fid; do
	n=$(curl -sf -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "http://$VURL/$fid")
	want=$((want + n))
done <"$WEED_DIR/live.txt"

field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d[sys.argv[1]])' "$1"; }

# 2. pread and http: every live needle once, exact bytes, no errors.
for mode in pread http; do
	out=$("$BENCH" --mode "$mode" --volume-dir "$VDIR" --http-server "$VURL" --seq --count "$n_live" \
		-d 4 --json -q --verify)
	python3 - "$out" <<'EOF' || fail "$mode: --json lacks a documented field: $out"
import json, sys
d = json.loads(sys.argv[1])
for k in ("ops_per_sec", "mb_per_sec", "errors"):
    assert isinstance(d[k], (int, float)), k
for k in ("p50", "p90", "p99", "p999", "max"):
    assert isinstance(d["latency_us"][k], (int, float)), k
assert d["latency_us"]["p50"] <= d["latency_us"]["p99"] <= d["latency_us"]["max"]
EOF
	[ "$(field ops <<<"$out")" = "$n_live" ] || fail "$mode: $(field ops <<<"$out") reads, want $n_live"
	[ "$(field errors <<<"$out")" = 0 ] || fail "$mode: errors: $out"
	[ "$(field bytes <<<"$out")" = "$want" ] || fail "$mode: moved $(field bytes <<<"$out") bytes, want $want"
	[ "$(field verified <<<"$out")" = "$n_live" ] && [ "$(field verify_failures <<<"$out")" = 0 ] ||
		fail "$mode: --verify: $out"
	echo "ok: --mode $mode read all $n_live needles once: $want bytes, 0 errors, all verified"
done

# Regression: --count below --threads used to leave the idle threads running forever.
out=$(timeout 30 "$BENCH" --mode pread --volume-dir "$VDIR" -t 3 --count 1 --json -q) ||
	fail "--count 1 with 3 threads did not finish"
[ "$(field ops <<<"$out")" = 1 ] || fail "--count 1 with 3 threads: $out"
echo "ok: --count below --threads reads exactly that many and stops"

# 3. local (and nop) through kelpd exporting the weed volume directory: the same bytes again.
if [ -x "$KELPD_BIN" ]; then
	at_exit kelpd_stop
	printf '[engine]\nlcores = 1\ncontrol_cpu = 0\nsocket = %s\n[export]\ndirs = %s\n[rdma]\ndevice = off\n' \
		"$WEED_DIR/kelpd.sock" "$VDIR" >"$WEED_DIR/kelp.conf"
	kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
	out=$("$BENCH" --mode local -c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" --seq --count "$n_live" -d 4 --json -q --verify)
	[ "$(field errors <<<"$out")" = 0 ] || fail "local: errors: $out"
	[ "$(field verify_failures <<<"$out")" = 0 ] || fail "local: --verify: $out"
	[ "$(field bytes <<<"$out")" = "$want" ] || fail "local: moved $(field bytes <<<"$out") bytes, want $want"
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["served_by"] == {"local": int(sys.argv[2])}, d' \
		"$out" "$n_live" || fail "local: not all served by the local path: $out"
	echo "ok: --mode local through kelpd read all $n_live needles once: $want bytes, all local"
	out=$("$BENCH" --mode nop -c "$WEED_DIR/kelp.conf" --count 5000 -d 8 --json -q)
	[ "$(field ops <<<"$out")" = 5000 ] && [ "$(field errors <<<"$out")" = 0 ] || fail "nop: $out"
	echo "ok: --mode nop: 5000 round trips, 0 errors"
	kelpd_stop
else
	echo "note: $KELPD_BIN not built; local/nop modes not checked"
fi

# 4. --verify catches wrong bytes: a copy of the volumes with one byte of the large needle flipped
#    (its stored CRC untouched), read with pread: that read fails verification, the exit status is 1.
cp -r "$VDIR" "$WEED_DIR/corrupt"
large=$(weed_manifest_rows live | awk -F'\t' '$6 == "large" { print $1 }')
read -r dat off < <("$BIN_DIR/kelp-vol" ls "$WEED_DIR/corrupt/${large%%,*}.dat" --json |
	python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if d["fid"] == sys.argv[1]: print(sys.argv[2], d["offset"] + 16 + 4 + 1000)' "$large" \
	"$WEED_DIR/corrupt/${large%%,*}.dat")
[ -n "${off:-}" ] || fail "cannot find $large with kelp-vol ls"
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xFF]))' "$dat" "$off"
set +e
out=$("$BENCH" --mode pread --volume-dir "$WEED_DIR/corrupt" --seq --count "$n_live" -d 1 --json -q --verify 2>/dev/null)
rc=$?
set -e
[ "$rc" = 1 ] || fail "--verify over a corrupted needle exited $rc, want 1"
[ "$(field verify_failures <<<"$out")" = 1 ] || fail "--verify should catch exactly the corrupted needle: $out"
echo "ok: --verify catches the one corrupted needle (exit 1)"

# 5. http through the master's lookup, deleted fids: every read is ENOENT.
out=$("$BENCH" --mode http --master "$WEED_MASTER" --fids "$WEED_DIR/dead.txt" --count 20 -d 2 --json -q)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["errors"] == 20 and d["errors_by_code"] == {"ENOENT": 20}, d' "$out" ||
	fail "deleted fids: $out"
echo "ok: deleted fids give ENOENT (master lookup path)"

# 6. Bad usage: clear messages, exit 2, no crash.
for args in "--mode pread --fids $WEED_DIR/live.txt" "--mode bogus" "--depth 0" "--mode http --volume-dir $VDIR"; do
	set +e
	msg=$("$BENCH" $args -n 1 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || fail "kelp-bench $args: exit $rc, want 1 or 2"
	[ -n "$msg" ] || fail "kelp-bench $args: no message"
done
echo "ok: bad usage is refused with a message"
