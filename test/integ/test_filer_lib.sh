#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The filer library end to end against a real weed filer: for every file of the issue 11 standard
# set (lib/filer.sh), build/test/integ/filer_assemble parses the entry JSON, resolves the chunk
# manifest, plans the read, decrypts / inflates each chunk from its needle as the volume server
# stores it, and must give the filer's own GET byte for byte; then ranges of each file (holes,
# chunk edges, the end of the file) against the same bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/filer.sh
weed_require
ASM=build/test/integ/filer_assemble
[ -x "$ASM" ] || { echo "build $ASM first (make)" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }

weed_start 1
weed_start_filer_standard
filer_upload_standard_set /kelp-set
work=$WEED_DIR/lib
mkdir -p "$work/needles"

# fetch_needle FID: the stored needle data (as kelp reads it: Accept-Encoding: gzip) and a .gz
# marker when the volume server says the needle is gzip
fetch_needle() {
	local hdr
	hdr=$(curl -sf -m 30 -D - -o "$work/needles/$1" -H 'Accept-Encoding: gzip' "http://$(weed_url "$1")/$1") ||
		fail "GET needle $1"
	if grep -qi '^content-encoding: *gzip' <<<"$hdr"; then : >"$work/needles/$1.gz"; fi
}

# assemble META OUT [OFFSET LEN]: runs filer_assemble, fetching the needles it asks for (a manifest
# reveals more: a few rounds)
assemble() {
	local round out rc
	for round in 1 2 3 4; do
		rc=0
		out=$("$ASM" "$@") || rc=$?
		[ "$rc" = 3 ] || break
		while read -r fid; do
			[ -e "$work/needles/$fid" ] || fetch_needle "$fid"
		done < <(awk '$1 == "need" { print $2 }' <<<"$out" | sort -u)
	done
	[ "$rc" = 0 ] || fail "filer_assemble $* exited $rc: $out"
	echo "$out"
}

n=0 gz=0
while IFS=$'\t' read -r path kind size sha exp src note; do
	[ "$kind" = symlink ] && continue
	meta=$work/$kind.json
	filer_meta "$path" >"$meta"
	info=$(assemble "$meta" "$work/needles" "$work/$kind.out")
	cmp -s "$work/$kind.out" "$exp" || fail "$path ($kind): assembled bytes differ from the filer's GET"
	echo "ok: $kind: $size bytes equal the filer's GET ($note${info:+; $info})"
	# ranges: the start, across the middle, the last bytes, past the end
	for r in "0 1" "$((size / 3)) $((size / 2 + 7))" "$((size > 5 ? size - 5 : 0)) 100" "$((size + 10)) 10"; do
		set -- $r
		assemble "$meta" "$work/needles" "$work/$kind.range" "$1" "$2" >/dev/null
		python3 - "$exp" "$work/$kind.range" "$1" "$2" <<'PYEOF' || fail "$path ($kind): range $r differs"
import sys
want = open(sys.argv[1], "rb").read()[int(sys.argv[3]):int(sys.argv[3]) + int(sys.argv[4])]
sys.exit(0 if open(sys.argv[2], "rb").read() == want else 1)
PYEOF
	done
	n=$((n + 1))
done < <(filer_set_rows)
gz=$(find "$work/needles" -name '*.gz' | wc -l)
[ "$n" -eq 15 ] || fail "checked $n files, expected 15"
[ "$gz" -ge 1 ] || fail "no needle came gzip-stored: the text file's chunk should"
echo "ok: $n files and 4 ranges each assembled from their needles equal the filer's GET ($gz gzip needles)"
