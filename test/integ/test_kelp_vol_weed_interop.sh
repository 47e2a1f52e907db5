#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelp-vol <-> real SeaweedFS, both ways:
#  1. volumes written by `kelp-vol create` (files, empty ones, --gzip, --synthetic, a collection) are
#     loaded by a real `weed volume` and served byte for byte (whole, ranged, gzip as stored and
#     decompressed; an empty file with 200 and no bytes);
#  2. volumes written by weed (the standard upload set, with deletes) pass `kelp-vol verify`, and
#     `kelp-vol cat` returns the uploaded bytes of every live fid and fails for deleted ones.
# KELP_OFFSET_BYTES (default 5: the large-disk weed that mk/deps.sh installs) is the .idx offset
# width both sides use; `make interop-std` runs this with 4 against a standard weed built from source.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
weed_require
KV=$PWD/build/bin/kelp-vol
[ -x "$KV" ] || { echo "FAIL: $KV missing (run make)" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
OB=${KELP_OFFSET_BYTES:-5}

weed_start_master
vdir=$WEED_DIR/volume0 # weed_start_volume serves this directory: put our volumes there first
src=$WEED_DIR/src
mkdir -p "$vdir" "$src"
head -c 100000 /dev/urandom >"$src/random.bin"
seq 1 30000 >"$src/numbers.txt"
printf 'x' >"$src/one.byte"
: >"$src/empty.bin"
head -c $((1200 * 1024)) /dev/urandom >"$src/large.bin"
files=("$src/random.bin" "$src/numbers.txt" "$src/empty.bin" "$src/one.byte" "$src/large.bin")

"$KV" create "$vdir" 101 --offset-bytes "$OB" "${files[@]}" >"$WEED_DIR/fids101"
"$KV" create "$vdir" 102 --offset-bytes "$OB" --gzip "${files[@]}" >"$WEED_DIR/fids102"
"$KV" create "$vdir" 103 --offset-bytes "$OB" --synthetic 200 --size 1-40K --seed 7 >"$WEED_DIR/fids103"
"$KV" create "$vdir" 104 --offset-bytes "$OB" --collection pics "${files[@]:0:2}" >"$WEED_DIR/fids104"
# the last needle empty (weed checks the last .idx row's record when it loads a volume)
"$KV" create "$vdir" 105 --offset-bytes "$OB" "$src/one.byte" "$src/empty.bin" >"$WEED_DIR/fids105"
[ "$(wc -l <"$WEED_DIR/fids103")" -eq 200 ] || fail "create --synthetic 200 printed $(wc -l <"$WEED_DIR/fids103") fids"
for v in 101 102 103 105; do
	"$KV" verify "$vdir/$v.dat" 2>/dev/null || fail "kelp-vol verify rejects its own volume $v"
done

weed_start_volume
weed_wait_ready 1
url=${WEED_VOLUME_URLS[0]}
status=$(curl -sf "http://$url/status") # (not piped into grep -q: curl could fail on the closed pipe)
for v in 101 105; do
	grep -q "\"Id\": *$v\\|\"Id\":$v" <<<"$status" || fail "weed did not load volume $v: $status"
done

# 1a. files, stored plain and gzipped: weed's answer equals the source file
check_files() { # FIDS_FILE
	local i=0 fid
	while read -r fid; do
		curl -sf "http://$url/$fid" -o "$WEED_DIR/got" || fail "GET $fid: $(curl -s -w ' %{http_code}' "http://$url/$fid" | tail -c 200)"
		cmp -s "$WEED_DIR/got" "${files[i]}" || fail "$fid: weed serves other bytes than ${files[i]}"
		# the stored bytes (gzip when stored so) equal kelp-vol cat
		curl -sf -H 'Accept-Encoding: gzip' "http://$url/$fid" -o "$WEED_DIR/got"
		"$KV" cat "$vdir/$(basename "$2").dat" "$fid" >"$WEED_DIR/want"
		cmp -s "$WEED_DIR/got" "$WEED_DIR/want" || fail "$fid: stored bytes differ from kelp-vol cat"
		"$KV" cat --gunzip "$vdir/$(basename "$2").dat" "$fid" | cmp -s - "${files[i]}" || fail "$fid: kelp-vol cat --gunzip differs from the source"
		i=$((i + 1))
	done <"$1"
	[ "$i" -eq "${3:-${#files[@]}}" ] || fail "$1: $i fids"
}
check_files "$WEED_DIR/fids101" 101
check_files "$WEED_DIR/fids102" 102
check_files "$WEED_DIR/fids104" pics_104 2
# the empty needles: 200 with no bytes, as weed serves an empty upload
for fid in "$(sed -n 3p "$WEED_DIR/fids101")" "$(sed -n 3p "$WEED_DIR/fids102")" "$(sed -n 2p "$WEED_DIR/fids105")"; do
	got=$(curl -s -o "$WEED_DIR/got" -w '%{http_code} %{size_download}' "http://$url/$fid")
	[ "$got" = "200 0" ] || fail "empty needle $fid: weed answers '$got', expected '200 0'"
done
fid=$(sed -n 1p "$WEED_DIR/fids105")
curl -sf "http://$url/$fid" | cmp -s - "$src/one.byte" || fail "$fid: the needle before an empty last one"
echo "ok: weed serves kelp-vol create volumes (plain, gzip, empty files, collection) byte for byte"

# 1b. names and ranges
cd_name=$(curl -sfI "http://$url/$(head -n1 "$WEED_DIR/fids101")" | tr -d '\r' | sed -n 's/^Content-Disposition: .*filename="\{0,1\}\([^";]*\).*/\1/p')
[ "$cd_name" = random.bin ] || fail "weed reports filename '$cd_name', expected random.bin"
fid=$(head -n1 "$WEED_DIR/fids101")
curl -sf -r 1000-1999 "http://$url/$fid" | cmp -s - <(tail -c +1001 "$src/random.bin" | head -c 1000) || fail "range 1000-1999 of $fid differs"

# 1c. 200 synthetic needles of random sizes
n=0
while read -r fid; do
	curl -sf "http://$url/$fid" -o "$WEED_DIR/got" || fail "GET synthetic $fid"
	"$KV" cat "$vdir/103.dat" "$fid" >"$WEED_DIR/want" || fail "kelp-vol cat 103 $fid failed"
	cmp -s "$WEED_DIR/want" "$WEED_DIR/got" ||
		fail "synthetic $fid differs: kelp-vol cat $(stat -c %s "$WEED_DIR/want") bytes, weed $(stat -c %s "$WEED_DIR/got"); $(cmp "$WEED_DIR/want" "$WEED_DIR/got" 2>&1 | head -c 200)"
	n=$((n + 1))
done <"$WEED_DIR/fids103"
echo "ok: weed serves all $n synthetic needles of volume 103 as kelp-vol cat reads them"
# a wrong cookie is a 404 for weed and an error for kelp-vol
fid=$(tail -n1 "$WEED_DIR/fids103")
last=${fid: -1}
[ "$last" = 0 ] && flip=1 || flip=0
bad=${fid%?}$flip
code=$(curl -s -o /dev/null -w "%{http_code}" "http://$url/$bad")
[ "$code" = 404 ] || fail "weed answers $code for a wrong cookie"
! "$KV" cat "$vdir/103.dat" "$bad" >/dev/null 2>&1 || fail "kelp-vol cat accepted a wrong cookie"

# 2. weed-written volumes
weed_upload_standard_set
sleep 0.5
for dat in "$vdir"/*.dat; do
	out=$("$KV" verify "$dat" 2>&1) || fail "kelp-vol verify $dat: $out"
	grep -qx "offset_bytes $OB" <<<"$("$KV" idx "${dat%.dat}.idx")" ||
		fail "${dat%.dat}.idx: weed wrote another offset width than $OB: $("$KV" idx "${dat%.dat}.idx" | grep offset_bytes)"
done
checked=0
while IFS=$'\t' read -r fid furl size sha state kind gz name mime; do
	v=${fid%%,*}
	dat=$(ls "$vdir"/*"$v".dat 2>/dev/null | grep -E "/([a-z]+_)?$v\.dat$" | head -n1)
	[ -n "$dat" ] || fail "no .dat for $fid in $vdir"
	# the listing in a variable, not piped into grep -q: weed may put these uploads into the
	# 200-needle volume 103, whose listing kelp-vol may still be writing when grep -q quits
	listing=$("$KV" ls --json "$dat")
	if [ "$state" = live ]; then
		got=$("$KV" cat --gunzip "$dat" "$fid" | sha256sum | cut -d' ' -f1)
		[ "$got" = "$sha" ] || fail "kelp-vol cat --gunzip $fid ($kind) differs from the upload"
		grep -q "\"fid\":\"$fid\"" <<<"$listing" || fail "kelp-vol ls does not list $fid"
		if [ "$kind" = named ]; then
			# name, mime and the Seaweed- headers (pairs) as the volume server stored them
			grep "\"fid\":\"$fid\"" <<<"$listing" | python3 -c 'import json,sys
n=json.loads(sys.stdin.readline()); p=json.loads(n["pairs"])
assert n["name"]=="photo.png" and n["mime"]=="image/png", n
assert p.get("Owner")=="kelp" and p.get("Tag")=="blue", p' || fail "ls --json of the named upload $fid"
		fi
	else
		! "$KV" cat "$dat" "$fid" >/dev/null 2>&1 || fail "kelp-vol cat returns deleted $fid"
		! grep -q "\"fid\":\"$fid\"" <<<"$listing" || fail "kelp-vol ls lists deleted $fid"
	fi
	checked=$((checked + 1))
done < <(weed_manifest_rows live; weed_manifest_rows deleted)
[ "$checked" -eq 12 ] || fail "checked $checked uploads"
echo "ok: weed-written volumes pass kelp-vol verify; cat/ls agree with all $checked uploads"
