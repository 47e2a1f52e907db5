#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A client attacks what it was handed: its doorbell and every word of its segment (issue 8).
# 1-3. The doorbell eventfd it got in its welcome (item 1). Each session has
# its own doorbell, which kelpd only watches: whatever a client does to it can delay only its own
# requests. Checked for each attack, with a real kelpd and a real client (no timing asserted; every
# wait is a bounded poll, every read has a 10 s deadline that only a lost wake-up can miss):
#   saturate  0xfffffffffffffffe written into it, lcore never parking: kelpctl still answers (the
#             control thread once blocked for good writing to the shared eventfd), SIGTERM stops
#             kelpd cleanly, an honest session reads;
#   steal     a thread reads it in a loop: an honest session's reads still wake the parked lcore;
#   nonblock  its O_NONBLOCK flag flipped: the parked lcore stays asleep (its parks counter does
#             not run away) and honest reads are served.
# 4. scribble: random values into random words of its header, ring control lines and slots (the
#    indices, flags, state, geometry) and its doorbell rung, millions of times, while an honest
#    session reads: every honest read right, kelpd alive, the scribbler's session stopped or served
#    (whatever its words said), kelpctl answers.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-doorbell.XXXXXX")
A=""
cleanup() {
	[ -z "$A" ] || kill -KILL "$A" 2>/dev/null || true
	kelpd_stop
	rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/vol"
"$BIN/kelp-vol" create "$D/vol" 3 --synthetic 20 --size 4K-16K --seed 8 >"$D/fids"
FID=$(sed -n 1p "$D/fids")
"$BIN/kelp-vol" cat "$D/vol/3.dat" "$FID" >"$D/want"

has_line() { grep -q "$2" "$1" 2>/dev/null; }
parks() { kelpctl --json stats | jq '.total.parks'; }

# attack ATTACK COUNT: start the attacking client (its stdin a fifo held open by fd 7), wait until
# its honest reads are done
attack() {
	rm -f "$D/hold"
	mkfifo "$D/hold"
	"$CLIENT" "$KELPD_SOCK" doorbell "$1" "$FID" "$2" <"$D/hold" >"$D/$1.out" 2>&1 &
	A=$!
	exec 7>"$D/hold"
	wait_until 120 has_line "$D/$1.out" "honest reads:" || fail "$1: client did not finish: $(cat "$D/$1.out")"
	cat "$D/$1.out"
	has_line "$D/$1.out" "honest reads: $2 ok, 0 failed" || fail "$1: honest reads were lost"
}
attack_end() {
	exec 7>&-
	wait "$A" || fail "$1: client failed: $(cat "$D/$1.out")"
	A=""
}

# 1. saturate, lcore busy-polling (it never reads its wake-up counter back to 0)
KELPD_IDLE_PARK_US=0 kelpd_test_start "$D" "$D/vol"
attack saturate 20
out=$(timeout 30 "$BIN/kelpctl" -c "$KELPD_CONF" status 2>&1) || fail "saturate: kelpctl status hangs or fails: $out"
kelpctl get "$FID" -o "$D/got1"
cmp -s "$D/got1" "$D/want" || fail "saturate: read differs"
attack_end saturate
timeout 60 bash -c "kill -TERM $KELPD_PID; while kill -0 $KELPD_PID 2>/dev/null; do sleep 0.1; done" ||
	fail "saturate: kelpd did not stop on SIGTERM"
wait "$KELPD_PID" || fail "saturate: kelpd exited with $?"
KELPD_PID=""
echo "ok: saturated doorbell: control thread answers, kelpd stops on SIGTERM, reads served"

# 2. and 3. with a parking lcore
KELPD_IDLE_PARK_US=100 kelpd_test_start "$D" "$D/vol"
attack steal 40
attack_end steal
echo "ok: a client reading its doorbell in a loop steals no other session's wake-ups"

attack nonblock 20
# the lcore is idle now (the honest session only waits): it must stay parked. A shared eventfd
# made non-blocking turned each park into a return at once: thousands of parks per second.
p1=$(parks)
sleep 1
p2=$(parks)
[ $((p2 - p1)) -lt 1000 ] || fail "nonblock: the idle lcore parked $((p2 - p1)) times in a second (spinning)"
attack_end nonblock
echo "ok: a client flipping O_NONBLOCK on its doorbell does not wake the parked lcore ($((p2 - p1)) parks in 1 s)"

# 4. scribble over the whole shared segment but the arena
out=$("$CLIENT" "$KELPD_SOCK" scribble "$FID" 3000 2>&1) || fail "scribble: $out"
echo "$out"
[[ $out == *"honest reads: 3000 ok, 0 wrong, 0 errors"* ]] || fail "scribble: honest reads hurt"
kelpd_alive || fail "scribble: kelpd died"
kelpctl status >/dev/null || fail "scribble: kelpctl status"
kelpd_wait_sessions 0 || fail "scribble: sessions not freed: $(kelpctl sessions)"
kelpctl get "$FID" -o "$D/got4"
cmp -s "$D/got4" "$D/want" || fail "scribble: read after it differs"
echo "ok: a session scribbling over its rings and header hurts nobody else"
