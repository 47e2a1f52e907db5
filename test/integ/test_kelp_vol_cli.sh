#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelp-vol on the SeaweedFS fixtures and on its own volumes (no weed needed): exact listings, round
# trips through create (4- and 5-byte .idx, gzip, empty files, synthetic; a failed create prints no
# fid and leaves no file), corruption found with the contract line, and bad input (truncated,
# garbage, directories, wrong names) refused with exit 2, never a crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
KV=${KV:-$PWD/build/bin/kelp-vol}
[ -x "$KV" ] || { echo "FAIL: $KV missing (run make)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/kelp-vol-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # WANT CMD...: run CMD, check its exit status
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want; stderr: $(head -c 300 "$T/err")"
}

# --help everywhere
for c in "" ls verify cat idx create; do
	grep -q usage <<<"$($KV $c --help)" || fail "kelp-vol $c --help prints no usage"
done
expect_rc 2 "$KV"
expect_rc 2 "$KV" frobnicate

# fixtures (their names carry no volume id: copy them as 7.* and 43.*)
cp test/fixtures/healthy_volume.dat "$T/7.dat"
cp test/fixtures/healthy_volume.idx "$T/7.idx"
cp test/fixtures/43.dat "$T/43.dat"
expect_rc 0 "$KV" ls "$T/7.dat"
[ "$(tail -n +2 "$T/out" | awk '{print $1}' | tr '\n' ' ')" = "7,0306bfd555 7,04b29c8a84 7,08578634e1 7,09fd034397 7,159d9a9497 7,273b6306d2 7,30436c9573 " ] ||
	fail "ls healthy: $(cat "$T/out")"
expect_rc 0 "$KV" ls --json "$T/43.dat"
grep -q '"fid":"43,01b1615a86","key":"1","cookie":"b1615a86","offset":8,"size":1153890,"data_size":1153862,"flags":14' "$T/out" || fail "ls --json 43: $(cat "$T/out")"
grep -q '"name":"Stickies.app.zip"' "$T/out" && grep -q '"crc":"legacy"' "$T/out" || fail "ls --json 43 name/crc: $(cat "$T/out")"
expect_rc 0 "$KV" verify "$T/7.dat"
expect_rc 0 "$KV" verify "$T/43.dat"
expect_rc 0 "$KV" idx test/fixtures/deleted_files.idx --json
[ "$(cat "$T/out")" = '{"rows":230,"keys":154,"live":78,"deleted":76,"tombstone_rows":76,"max_offset":74925168,"offset_bytes":4,"trailing_bytes":0}' ] || fail "idx deleted_files: $(cat "$T/out")"
expect_rc 0 "$KV" idx test/fixtures/simple_index.idx
grep -qx 'live 161' "$T/out" || fail "idx simple_index: $(cat "$T/out")"
expect_rc 0 "$KV" cat "$T/43.dat" 43,01b1615a86
[ "$(head -c 4 "$T/out" | od -An -tx1 | tr -d ' ')" = 504b0304 ] && [ "$(stat -c %s "$T/out")" -eq 1153862 ] || fail "cat 43: wrong bytes"
expect_rc 1 "$KV" cat "$T/7.dat" 7,1406bfd555 # deleted (key 0x14)
expect_rc 1 "$KV" cat "$T/7.dat" 7,0306bfd556 # wrong cookie
expect_rc 1 "$KV" cat "$T/7.dat" 8,0306bfd555 # other volume
expect_rc 2 "$KV" cat "$T/7.dat" nonsense

# round trips through create
mkdir "$T/v"
head -c 70000 /dev/urandom >"$T/a.bin"
seq 1 5000 >"$T/b.txt"
for ob in 4 5; do
	expect_rc 0 "$KV" create "$T/v" 1$ob --offset-bytes $ob "$T/a.bin" "$T/b.txt"
	cp "$T/out" "$T/fids"
	[ "$(wc -l <"$T/fids")" -eq 2 ] || fail "create printed $(cat "$T/fids")"
	[ "$(stat -c %s "$T/v/1$ob.idx")" -eq $((2 * (12 + ob))) ] || fail "idx rows are not $((12 + ob)) bytes"
	grep -q "\"bytesOffset\":  $ob" "$T/v/1$ob.vif" || fail ".vif does not say bytesOffset $ob"
	expect_rc 0 "$KV" verify "$T/v/1$ob.dat"
	"$KV" cat "$T/v/1$ob.dat" "$(sed -n 1p "$T/fids")" | cmp -s - "$T/a.bin" || fail "round trip a.bin ($ob)"
	"$KV" cat "$T/v/1$ob.dat" "$(sed -n 2p "$T/fids")" | cmp -s - "$T/b.txt" || fail "round trip b.txt ($ob)"
	expect_rc 0 "$KV" idx "$T/v/1$ob.idx" # layout from the .vif
	grep -qx "offset_bytes $ob" "$T/out" && grep -qx 'live 2' "$T/out" || fail "idx of created 1$ob: $(cat "$T/out")"
done
expect_rc 0 "$KV" create "$T/v" 20 --gzip "$T/b.txt"
fid=$(cat "$T/out")
"$KV" cat --gunzip "$T/v/20.dat" "$fid" | cmp -s - "$T/b.txt" || fail "gzip round trip"
"$KV" cat "$T/v/20.dat" "$fid" | gzip -dc | cmp -s - "$T/b.txt" || fail "stored gzip is not gzip"
grep -q '"gzip":true,"name":"b.txt"' <<<"$("$KV" ls --json "$T/v/20.dat")" || fail "ls --json of a gzip needle"
expect_rc 1 "$KV" create "$T/v" 20 "$T/b.txt" # exists
grep -q -- --force "$T/err" || fail "create over an existing volume does not suggest --force"
# empty files are stored as weed stores an empty upload (a size-0 record), plain and with --gzip
: >"$T/empty.bin"
for gz in "" --gzip; do
	vid=2${gz:+1}
	expect_rc 0 "$KV" create "$T/v" $vid $gz "$T/a.bin" "$T/empty.bin" "$T/b.txt" "$T/empty.bin"
	cp "$T/out" "$T/fids"
	[ "$(wc -l <"$T/fids")" -eq 4 ] || fail "create $gz with empty files printed: $(cat "$T/fids")"
	expect_rc 0 "$KV" verify "$T/v/$vid.dat"
	for k in 2 4; do
		expect_rc 0 "$KV" cat "$T/v/$vid.dat" "$(sed -n ${k}p "$T/fids")"
		[ ! -s "$T/out" ] || fail "cat of the empty needle $k ($gz) wrote $(stat -c %s "$T/out") bytes"
		expect_rc 0 "$KV" cat --gunzip "$T/v/$vid.dat" "$(sed -n ${k}p "$T/fids")"
		[ ! -s "$T/out" ] || fail "cat --gunzip of the empty needle $k ($gz) wrote bytes"
	done
	"$KV" cat ${gz:+--gunzip} "$T/v/$vid.dat" "$(sed -n 3p "$T/fids")" | cmp -s - "$T/b.txt" || fail "b.txt after an empty file ($gz)"
	expect_rc 0 "$KV" ls --json "$T/v/$vid.dat"
	[ "$(jq -c 'select(.size == 0) | [.fid, .data_size, .flags]' "$T/out" | tr '\n' ' ')" = \
		"[\"$(sed -n 2p "$T/fids")\",0,0] [\"$(sed -n 4p "$T/fids")\",0,0] " ] || fail "ls --json of empty needles: $(cat "$T/out")"
done
# a create that fails prints no fid and leaves no volume behind, wherever the bad file is
for bad in "$T/missing.bin" "$T/v"; do
	expect_rc 1 "$KV" create "$T/v" 22 "$T/a.bin" "$T/empty.bin" "$bad"
	[ ! -s "$T/out" ] || fail "failed create printed fids: $(cat "$T/out")"
	[ ! -e "$T/v/22.dat" ] && [ ! -e "$T/v/22.idx" ] && [ ! -e "$T/v/22.vif" ] || fail "failed create left files: $(ls "$T/v")"
done
expect_rc 0 "$KV" create "$T/v" 30 --synthetic 1000 --size 1-3K --seed 5
[ "$(wc -l <"$T/out")" -eq 1000 ] || fail "synthetic count"
expect_rc 0 "$KV" create "$T/v" 31 --synthetic 1000 --size 1-3K --seed 5
cmp -s "$T/v/30.dat" "$T/v/31.dat" && fail "two volumes have identical append times" || true
"$KV" cat "$T/v/31.dat" "$(sed -n 500p "$T/out")" >/dev/null || fail "synthetic needle 500"
expect_rc 0 "$KV" verify "$T/v/30.dat"
expect_rc 2 "$KV" create "$T/v" 32 --synthetic 10
expect_rc 2 "$KV" create "$T/v" 0 "$T/b.txt"
expect_rc 2 "$KV" create "$T/v" 33 --size 5-1 --synthetic 3

# corruption: one flipped data byte -> the contract line, exit 1
cp "$T/v/15.dat" "$T/v/16.dat"
cp "$T/v/15.idx" "$T/v/16.idx"
cp "$T/v/15.vif" "$T/v/16.vif"
# XOR, not a fixed value: the byte is random data and may already be 0xff (CI failed once on that)
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000); b = f.read(1); f.seek(1000); f.write(bytes([b[0] ^ 0xFF]))' "$T/v/16.dat"
expect_rc 1 "$KV" verify "$T/v/16.dat"
grep -qx 'corrupt key=1 offset=8 reason=crc mismatch: stored .*' "$T/out" || fail "verify line: $(cat "$T/out")"
expect_rc 1 "$KV" cat "$T/v/16.dat" "16,${fid#*,}" # any fid of key 1 is wrong-cookie or corrupt
# an .idx row pointing past .dat, and a key mismatch
head -c 100 "$T/v/15.dat" >"$T/v/17.dat"
cp "$T/v/15.idx" "$T/v/17.idx"
cp "$T/v/15.vif" "$T/v/17.vif"
expect_rc 1 "$KV" verify "$T/v/17.dat"
[ "$(grep -c '^corrupt key=' "$T/out")" -eq 2 ] || fail "truncated .dat: $(cat "$T/out")"

# input that is not a volume: exit 2 with a message, never a crash
mkdir "$T/9.dat"
expect_rc 2 "$KV" ls "$T/9.dat"
grep -q 'is a directory' "$T/err" || fail "directory message: $(cat "$T/err")"
head -c 5 /dev/urandom >"$T/v/40.dat"
expect_rc 2 "$KV" verify "$T/v/40.dat"
printf '\x09garbage!' >"$T/v/41.dat"
expect_rc 2 "$KV" ls "$T/v/41.dat"
expect_rc 2 "$KV" verify "$T/v/nonexistent_5.dat"
cp "$T/7.dat" "$T/v/noid.dat"
expect_rc 2 "$KV" ls "$T/v/noid.dat"
grep -q 'collection_' "$T/err" || fail "name message: $(cat "$T/err")"
head -c 200000 /dev/urandom >"$T/v/42.dat"
printf '\x03\x00\x00\x00\x00\x00\x00\x00' | dd of="$T/v/42.dat" conv=notrunc 2>/dev/null
rc=0; "$KV" verify "$T/v/42.dat" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || [ "$rc" -eq 0 ] || fail "verify of random records exited $rc"
expect_rc 2 "$KV" idx "$T/9.dat"
head -c 33 /dev/urandom >"$T/v/odd.idx"
expect_rc 0 "$KV" idx "$T/v/odd.idx"
grep -qx 'trailing_bytes 1' "$T/out" || fail "idx trailing bytes: $(cat "$T/out")"
echo "ok: kelp-vol fixtures, round trips, corruption and bad input"
