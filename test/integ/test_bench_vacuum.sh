#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 4 test: vacuum and new uploads while kelp-bench runs, end to end through kelpd.
# A real weed volume server holds set A (read all the time) and set B (deleted, then vacuumed away)
# in the same volumes. kelpd exports the volume server's -dir; `kelp-bench --mode local --verify`
# reads set A through it the whole time, checking every read against the needle's stored CRC,
# while this script deletes B, vacuums (`weed shell` volume.vacuum -garbageThreshold=0.0001: new
# files renamed over the old ones), uploads set C, and vacuums again.
# Pass: zero wrong bytes (verify_failures 0), zero failed reads of A, kelpd alive and answering,
# and the vacuums really compacted the volumes. Nothing here depends on timing: the reader runs
# until the script is done with the volume server, then stops on SIGINT and prints its summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
. test/integ/lib/kelpd.sh
weed_require
BIN=${BIN:-build/bin}
for tool in kelp-bench kelpd kelpctl; do
	[ -x "$BIN/$tool" ] || { echo "skip: $BIN/$tool not built (make)"; exit 77; }
done
fail() { echo "FAIL: $*" >&2; exit 1; }

weed_start 1
VDIR=${WEED_VOLUME_DIRS[0]}
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 300 --size 4096 >"$WEED_DIR/setA.txt"
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 100 --size 6000 >"$WEED_DIR/setB.txt"
echo "ok: uploaded 300 needles to read (A) and 100 to delete (B)"

# Gentle on 2 cores: the lcore parks when idle, the client sleeps in kelp_wait and reads at most
# 20,000 needles a second, so weed's deletes, vacuums and uploads get CPU.
cat >"$WEED_DIR/kelp.conf" <<EOF
[engine]
lcores = 1
control_cpu = -1
idle_park_us = 50
socket = $WEED_DIR/kelpd.sock
[export]
dirs = $VDIR
[rdma]
device = off
EOF
at_exit kelpd_stop
kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"

"$BIN/kelp-bench" --mode local -c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" --fids "$WEED_DIR/setA.txt" \
	--verify --wait -d 4 --rate 20000 -D 600 --json -q >"$WEED_DIR/bench.json" 2>"$WEED_DIR/bench.err" &
bench=$!
at_exit "kill $bench 2>/dev/null || true"

# Wait until kelp-bench has completed reads (its progress is on a file we can poll: kelpctl stats).
reads() { "$BIN/kelpctl" -c "$WEED_DIR/kelp.conf" --json stats | jq '[.. | objects | .requests? | numbers] | add // 0'; }
reads_reach() { [ "$(reads)" -ge "$1" ] || ! kill -0 "$bench" 2>/dev/null; }
wait_until 120 reads_reach 101 || true
[ "$(reads)" -gt 100 ] || fail "kelp-bench is not reading: $(cat "$WEED_DIR/bench.err")"
before=$(reads)

VURL=${WEED_VOLUME_URLS[0]} # the only volume server
while read -r fid; do
	curl -sf -X DELETE "http://$VURL/$fid" >/dev/null || fail "DELETE $fid"
done <"$WEED_DIR/setB.txt"
weed_vacuum || fail "vacuum failed"
echo "ok: deleted B and vacuumed while kelp-bench read A"
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 100 --size 5000 >"$WEED_DIR/setC.txt"
weed_vacuum || fail "vacuum failed"
echo "ok: uploaded C and vacuumed again"
# Let the reader see the final state for a while: until it has done as many reads again.
wait_until 60 reads_reach $(($(reads) + before)) || true

kill -0 "$bench" 2>/dev/null || fail "kelp-bench died: $(cat "$WEED_DIR/bench.err")"
kill -INT "$bench"
rc=0
wait "$bench" || rc=$?
out=$(cat "$WEED_DIR/bench.json")
[ -n "$out" ] || fail "kelp-bench printed no summary (exit $rc): $(cat "$WEED_DIR/bench.err")"
python3 - "$out" <<'PYEOF' || fail "kelp-bench under vacuum: $out"
import json, sys
d = json.loads(sys.argv[1])
assert d["verify_failures"] == 0, "wrong bytes returned"
assert d["verified"] > 0 and d["verified"] == d["ops"], "not every read was verified"
assert d["errors"] == 0, "reads of live needles failed: %r" % d["errors_by_code"]
assert d["served_by"] == {"local": d["ops"]}, "not all served locally"
print("ok: %d reads of A through kelpd during deletes, vacuums and uploads: 0 wrong bytes, 0 errors"
      % d["ops"])
PYEOF
[ "$rc" = 0 ] || fail "kelp-bench exited $rc"
kill -0 "$KELPD_PID" || fail "kelpd died: $(tail -20 "$WEED_DIR/kelpd.log")"
"$BIN/kelpctl" -c "$WEED_DIR/kelp.conf" status >/dev/null || fail "kelpd does not answer kelpctl status"
revs=$(weed_compaction_revision "$VDIR")
[ "${revs:-0}" -ge 1 ] || fail "no volume was compacted (revisions all 0): the vacuum did not run"
echo "ok: kelpd alive; volumes compacted (highest compaction revision $revs)"
