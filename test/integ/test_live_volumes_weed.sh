#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live local volumes against a real weed (issue 4 item 5): while build/test/integ/live_volume_reader
# reads the manifest's fids straight from the volume server's directory (core volume set, refreshed
# every 20 ms, two reader threads under the epoch scheme), this script uploads, deletes and vacuums
# (`weed shell` volume.vacuum -garbageThreshold=0.0001), twice. Pass: no read ever returned wrong
# bytes or -EIO, and after settling every live fid reads back exactly and every deleted one is gone.
# Then the weed-written volumes pass `kelp-vol verify`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
weed_require
BUILD=${BUILD:-build}
READER=$PWD/$BUILD/test/integ/live_volume_reader
KV=$PWD/$BUILD/bin/kelp-vol
[ -x "$READER" ] && [ -x "$KV" ] || { echo "FAIL: build first (make)" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }

weed_start 1
weed_upload_standard_set
vdir=${WEED_VOLUME_DIRS[0]}
src=$WEED_DIR/live
mkdir -p "$src"

"$READER" --dir "$vdir" --manifest "$WEED_MANIFEST" --until "$WEED_DIR/done" --duration 900 --settle 20 >"$WEED_DIR/reader.out" 2>"$WEED_DIR/reader.err" &
reader=$!
at_exit "kill $reader 2>/dev/null || true"


upload_round() { # ROUND COUNT: upload COUNT files, delete every third
	local i fid
	for ((i = 0; i < $2; i++)); do
		if ((i % 4 == 0)); then
			python3 -c "import sys; sys.stdout.write(('round $1 file $i compressible text\n') * (50 + $i))" >"$src/r$1-$i.txt"
			fid=$(weed_upload "$src/r$1-$i.txt" text)
		else
			head -c $((500 + i * 997)) /dev/urandom >"$src/r$1-$i.bin"
			fid=$(weed_upload "$src/r$1-$i.bin" plain)
		fi
		if ((i % 3 == 1)); then weed_delete "$fid"; fi
	done
}

upload_round 1 12
weed_vacuum || fail "vacuum failed"
echo "ok: round 1 uploaded, deleted, vacuumed"
upload_round 2 12
weed_vacuum || fail "vacuum failed"
upload_round 3 6
echo "ok: rounds 2 and 3 (second vacuum between)"
gen=$(awk -F'\t' '!/^#/' "$WEED_MANIFEST" | wc -l)
sleep 1
touch "$WEED_DIR/done"

rc=0
wait "$reader" || rc=$?
cat "$WEED_DIR/reader.out"
grep -v '^live_volume_reader: volume: ' "$WEED_DIR/reader.err" | head -20 >&2 || true
[ "$rc" -eq 0 ] || fail "live_volume_reader exited $rc (wrong bytes, -EIO, or the final state differs)"
grep -q "final: $gen rows, 0 bad" "$WEED_DIR/reader.out" || fail "the reader did not check all $gen manifest rows"
grep -q "wrong 0 eio 0" "$WEED_DIR/reader.out" || fail "wrong bytes or -EIO seen"
# the vacuums really happened: compaction revision > 0 in some superblock
revs=$(weed_compaction_revision "$vdir")
[ "${revs:-0}" -ge 1 ] || fail "no volume was compacted (revisions all 0): the vacuum did not run"
for d in "$vdir"/*.dat; do
	out=$("$KV" verify "$d" 2>&1) || fail "kelp-vol verify $d after the run: $out"
done
echo "ok: live reads through 2 vacuums: no wrong bytes; final state matches all $gen fids; weed volumes verify (max compaction revision $revs)"
