#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 8 item 15: `kelp-bench --verify` while needles are overwritten. A real weed volume server
# holds set K (never touched) and set W (overwritten again and again through weed while the bench
# runs: POST to the same fid, new bytes). The bench built its targets (sizes, CRCs) before the
# overwrites, so reads of W return other versions: they must count as "changed during the run"
# (verify_changed), confirmed by a STAT (HEAD in http mode) after the run, never as wrong bytes
# (verify_failures), which stays reserved for a needle that did not change.
#   1. --mode local through kelpd (exporting the volume server's -dir);
#   2. --mode http straight to the volume server.
# Nothing here depends on timing: the overwrite loop has a fixed count; the script waits until
# kelpd serves the last version of every W needle and the bench has done many reads after that,
# then stops the bench (SIGINT) and reads its summary.
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
VURL=${WEED_VOLUME_URLS[0]}
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 20 --size 4096 >"$WEED_DIR/keep.txt"
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 6 --size 4096 >"$WEED_DIR/overwrite.txt"
cat "$WEED_DIR/keep.txt" "$WEED_DIR/overwrite.txt" >"$WEED_DIR/targets.txt"
mkdir -p "$WEED_DIR/last"

# overwrite_all ROUND: POST new random bytes (3000..4095 of them: within the bench's 4 KiB buffer)
# to every fid of W; the bytes are kept in last/<fid> (',' as '_') for the checks below.
overwrite_all() {
	local fid f
	while read -r fid; do
		f=$WEED_DIR/last/${fid/,/_} # curl -F reads "a,b" as two files
		head -c $((3000 + (RANDOM + $1) % 1096)) /dev/urandom >"$f"
		curl -sf -m 30 -F "file=@$f" "http://$VURL/$fid" >/dev/null ||
			{ echo "POST $VURL/$fid: $(curl -s -m 30 -F "file=@$f" "http://$VURL/$fid")" >&2; return 1; }
	done <"$WEED_DIR/overwrite.txt"
}
# overwrite_rounds N: N rounds, or fewer when the bench ($bench) is gone.
overwrite_rounds() {
	local i
	for ((i = 1; i <= $1; i++)); do
		kill -0 "$bench" 2>/dev/null || return 0
		overwrite_all "$i" || return 1
	done
}
# check_summary FILE NAME: the bench's JSON: no wrong bytes, some changed, no errors.
check_summary() {
	python3 - "$1" "$2" <<'PYEOF'
import json, sys
d = json.loads(open(sys.argv[1]).read())
name = sys.argv[2]
assert d["verify_failures"] == 0, "%s: %d reads counted as wrong bytes: %r" % (name, d["verify_failures"], d)
assert d["verify_changed"] > 0, "%s: no read counted as changed: %r" % (name, d)
assert d["verified"] == d["ops"] and d["errors"] == 0, "%s: %r" % (name, d)
print("ok: %s: %d reads verified while W was overwritten: 0 wrong, %d changed during the run"
      % (name, d["verified"], d["verify_changed"]))
PYEOF
}
# stop_bench JSON: SIGINT, wait; fails unless it printed a summary and exited 0.
stop_bench() {
	kill -0 "$bench" 2>/dev/null || fail "kelp-bench died: $(cat "$WEED_DIR/bench.err")"
	kill -INT "$bench"
	local rc=0
	wait "$bench" || rc=$?
	[ -s "$1" ] || fail "kelp-bench printed no summary (exit $rc): $(cat "$WEED_DIR/bench.err")"
	[ "$rc" = 0 ] || fail "kelp-bench exited $rc: $(cat "$1") $(cat "$WEED_DIR/bench.err")"
}

# 1. Through kelpd. Gentle on 2 cores: the lcore parks when idle, the client sleeps in kelp_wait
# and reads at most 5,000 needles a second, so weed's uploads get CPU.
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
KCTL=("$BIN/kelpctl" -c "$WEED_DIR/kelp.conf")

"$BIN/kelp-bench" --mode local -c "$WEED_DIR/kelp.conf" --volume-dir "$VDIR" --fids "$WEED_DIR/targets.txt" \
	--verify --wait -d 4 --rate 5000 -D 600 --json -q >"$WEED_DIR/bench.json" 2>"$WEED_DIR/bench.err" &
bench=$!
at_exit "kill $bench 2>/dev/null || true"
reads() { "${KCTL[@]}" --json stats | jq '[.. | objects | .requests? | numbers] | add // 0'; }
reads_reach() { [ "$(reads)" -ge "$1" ] || ! kill -0 "$bench" 2>/dev/null; }
wait_until 120 reads_reach 101 || true
[ "$(reads)" -gt 100 ] || fail "kelp-bench is not reading: $(cat "$WEED_DIR/bench.err")"

overwrite_rounds 20 || fail "overwriting W through weed failed"
# kelpd serves the last version of every W needle (it follows the .idx every 250 ms) ...
serves_last() {
	local fid
	while read -r fid; do
		"${KCTL[@]}" get "$fid" -o "$WEED_DIR/got" 2>/dev/null && cmp -s "$WEED_DIR/got" "$WEED_DIR/last/${fid/,/_}" ||
			return 1
	done <"$WEED_DIR/overwrite.txt"
}
wait_until 60 serves_last || fail "kelpd does not serve the last version of the overwritten needles"
# ... and the bench reads it many times over (26 targets, 6 of them overwritten)
wait_until 120 reads_reach $(($(reads) + 2000)) || fail "kelp-bench stopped reading: $(cat "$WEED_DIR/bench.err")"
stop_bench "$WEED_DIR/bench.json"
check_summary "$WEED_DIR/bench.json" "local (kelpd)"
grep -q "overwritten or deleted during the run" "$WEED_DIR/bench.err" ||
	fail "kelp-bench does not say that reads saw changed needles: $(cat "$WEED_DIR/bench.err")"

# 2. Straight to the volume server (--mode http): the ETag names the version read, a HEAD after
# the run confirms the change. Progress lines (one a second, on stderr) show the bench reading.
"$BIN/kelp-bench" --mode http --master "$WEED_MASTER" --volume-dir "$VDIR" --fids "$WEED_DIR/targets.txt" \
	--verify -d 2 --rate 500 -D 600 --json >"$WEED_DIR/bench-http.json" 2>"$WEED_DIR/bench.err" &
bench=$!
at_exit "kill $bench 2>/dev/null || true"
progress() { grep -c 'ops/s' "$WEED_DIR/bench.err" 2>/dev/null || true; }
progress_reach() { [ "$(progress)" -ge "$1" ] || ! kill -0 "$bench" 2>/dev/null; }
wait_until 120 progress_reach 1 || true
[ "$(progress)" -ge 1 ] || fail "kelp-bench --mode http is not reading: $(cat "$WEED_DIR/bench.err")"
overwrite_rounds 5 || fail "overwriting W through weed failed"
# weed serves a new version at once; let the bench read for two more seconds of progress
wait_until 120 progress_reach $(($(progress) + 2)) || fail "kelp-bench --mode http stopped: $(cat "$WEED_DIR/bench.err")"
stop_bench "$WEED_DIR/bench-http.json"
check_summary "$WEED_DIR/bench-http.json" "http (weed)"

kill -0 "$KELPD_PID" || fail "kelpd died: $(tail -20 "$WEED_DIR/kelpd.log")"
