#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelpd follows its [export] dirs while running (core/volume.h "Live volumes", refreshed by the
# control thread; replaced versions freed through the lcores' epoch). No timing asserted: each step
# waits, bounded, for kelpd to catch up.
#   - a volume that appears is served; one whose files are replaced by new ones (as vacuum does:
#     rename over, new inodes) is switched: its new needles read right, its old fids are gone;
#   - a volume that disappears is no longer local (-EHOSTUNREACH);
#   - reads keep going during all of it (a client hammers a needle of another volume).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-live.XXXXXX")
HP=""
trap '[ -n "$HP" ] && kill -KILL "$HP" 2>/dev/null; kelpd_stop; rm -rf "$D"' EXIT
mkdir -p "$D/vol" "$D/stage"
"$BIN/kelp-vol" create "$D/vol" 1 --synthetic 20 --size 4K-32K --seed 1 >"$D/fids1"
"$BIN/kelp-vol" create "$D/vol" 2 --synthetic 20 --size 4K-32K --seed 2 >"$D/fids2"
kelpd_test_start "$D" "$D/vol"
"$CLIENT" "$KELPD_SOCK" hammer "$(sed -n 1p "$D/fids1")" 8 >"$D/hammer.out" 2>&1 &
HP=$!

# read_result FID: the completion result of one read
read_result() { "$CLIENT" "$KELPD_SOCK" read "$1" | cut -d' ' -f2; }
# wait_result FID WANT: bounded wait until a read of FID gives WANT (a number or "positive")
result_is() {
	LAST_RESULT=$(read_result "$1")
	if [ "$2" = positive ]; then [ "${LAST_RESULT:-0}" -gt 0 ] 2>/dev/null; else [ "$LAST_RESULT" = "$2" ]; fi
}
wait_result() {
	wait_until 60 result_is "$1" "$2" && return 0
	echo "last result for $1: $LAST_RESULT" >&2
	return 1
}

# 1. a new volume appears
"$BIN/kelp-vol" create "$D/stage" 3 --synthetic 10 --size 4K --seed 3 >"$D/fids3"
f3=$(sed -n 4p "$D/fids3")
[ "$(read_result "$f3")" = -113 ] || fail "volume 3 served before it exists"
mv "$D/stage/3.dat" "$D/stage/3.idx" "$D/vol/"
mv "$D/stage/3.vif" "$D/vol/" 2>/dev/null || true
wait_result "$f3" positive || fail "new volume 3 not picked up"
"$CLIENT" "$KELPD_SOCK" read --out "$D" "$f3" >/dev/null
"$BIN/kelp-vol" cat "$D/vol/3.dat" "$f3" | cmp -s - "$D/$f3" || fail "volume 3 bytes differ"
echo "ok: a volume added while running is served"

# 2. volume 2 replaced by a new pair (other needles, other cookies), as vacuum renames over
old2=$(sed -n 5p "$D/fids2")
"$BIN/kelp-vol" create "$D/stage" 2 --synthetic 30 --size 8K --seed 22 >"$D/fids2new"
new2=$(sed -n 25p "$D/fids2new")
[ "$(read_result "$new2")" = -2 ] || fail "key 25 of the new volume 2 exists already"
mv "$D/stage/2.idx" "$D/vol/2.idx"
mv "$D/stage/2.dat" "$D/vol/2.dat"
mv "$D/stage/2.vif" "$D/vol/2.vif" 2>/dev/null || true
wait_result "$new2" positive || fail "replaced volume 2 not switched"
"$CLIENT" "$KELPD_SOCK" read --out "$D" "$new2" >/dev/null
"$BIN/kelp-vol" cat "$D/vol/2.dat" "$new2" | cmp -s - "$D/$new2" || fail "new volume 2 bytes differ"
r=$(read_result "$old2")
[ "$r" = -2 ] || fail "old fid $old2 of volume 2 still reads ($r)"
echo "ok: a volume whose files were replaced is switched (new fids read right, old ones gone)"

# 3. volume 3 removed
rm "$D/vol/3.dat" "$D/vol/3.idx" "$D"/vol/3.vif 2>/dev/null || rm -f "$D/vol/3.dat" "$D/vol/3.idx"
wait_result "$f3" -113 || fail "removed volume 3 still local"
echo "ok: a removed volume is no longer local"

kill -0 "$HP" || fail "the hammering client stopped: $(cat "$D/hammer.out")"
grep -q ready "$D/hammer.out" || fail "hammer never got going"
kill -KILL "$HP"
wait "$HP" 2>/dev/null || true
HP=""
kelpd_stop_checked || fail "kelpd did not stop cleanly"
echo "ok: reads of another volume went on throughout; kelpd stopped cleanly"
