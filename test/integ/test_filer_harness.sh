#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Proves the filer harness (lib/filer.sh) against real weed: a filer comes up next to the master and
# is stopped at exit (also when the test fails); the issue 11 standard set reads back from the
# filer's own GET byte for byte equal to what was uploaded; and each file has the shape it is meant
# to test (inline Content, chunk counts, a chunk manifest, compressed and encrypted chunks, holes,
# overlapping chunks, a symlink), so a weed that stops making one of them fails here, not silently
# in the kelpd and kelp-mount tests that use the set.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/filer.sh
weed_require

fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. A failing test stops its filer: a child starts weed + a filer, records the pids, then fails.
state=$(mktemp)
at_exit "rm -f '$state'"
bash -c '. test/integ/lib/filer.sh; weed_start 1 && weed_start_filer
	{ echo "$WEED_DIR"; pgrep -P $$ || true; } >"$1"; false' _ "$state" 2>/dev/null && fail "child should fail"
child_dir=$(head -n1 "$state")
[ -n "$child_dir" ] || fail "child did not start weed"
[ ! -e "$child_dir" ] || fail "child's temp dir $child_dir left behind"
n=0
for pid in $(tail -n +2 "$state"); do
	n=$((n + 1))
	! kill -0 "$pid" 2>/dev/null || fail "pid $pid still running after the child failed"
done
[ "$n" -ge 3 ] || fail "expected the child to have master, volume and filer processes, saw $n"
echo "ok: a failing test stops its filer and removes $child_dir"

# 2. The set.
weed_start 1
weed_start_filer_standard
echo "ok: filer $WEED_FILER ($WEED_FILER_ARG) on master $WEED_MASTER"
filer_upload_standard_set /kelp-set
rows=$(filer_set_rows | wc -l)
[ "$rows" -eq 16 ] || fail "the set has $rows rows, expected 16"

# 3. Every file's GET (recorded as `expected`) equals the bytes that were uploaded, and GET again
# now still gives the same; the symlink's recorded target is what the entry says.
while IFS=$'\t' read -r path kind size sha exp src note; do
	[ "$(stat -c %s "$exp")" = "$size" ] || fail "$path: expected file size differs from the row"
	if [ "$kind" = symlink ]; then
		target=$(filer_meta "$path" | jq -r .SymlinkTarget)
		[ "$target" = "$(cat "$exp")" ] || fail "$path: SymlinkTarget '$target', row says '$(cat "$exp")'"
		continue
	fi
	cmp -s "$exp" "$src" || fail "$path ($kind): the filer's GET differs from the uploaded $src"
	again=$(mktemp "$WEED_DIR/again.XXXXXX")
	filer_get "$path" "$again"
	cmp -s "$again" "$src" || fail "$path ($kind): a second GET differs"
done < <(filer_set_rows)
echo "ok: $rows files read back byte for byte"

# 4. Each kind has the entry shape it stands for.
meta() { filer_meta "$(filer_set_rows "$1" | cut -f1)"; }
check() { # KIND JQ-EXPRESSION (true when the entry is right) WHAT
	local m
	m=$(meta "$1")
	[ "$(jq -r "$2" <<<"$m")" = true ] || fail "$1: not $3: $m"
	echo "ok: $1: $3"
}
check empty '(.chunks // []) == [] and .Content == null and .FileSize == 0' "no chunk, no content"
check one '(.chunks | length) == 1 and .Content == null' "one chunk"
check small '(.chunks | length) == 1 and .chunks[0].size == 4096' "one chunk of 4 KiB"
check inline '(.chunks // []) == [] and (.Content | length) == 936' "700 bytes of inline Content (936 base64 characters)"
check multi '(.chunks | length) == 4 and ([.chunks[].size] | max) == 1048576' "4 chunks of <= 1 MiB"
check manifest '([.chunks[] | select(.is_chunk_manifest)] | length) == 1 and (.chunks | length) == 4' \
	"1 manifest chunk + 3 data chunks"
check text '.chunks[0].is_compressed == true' "a compressed chunk"
check enc '(.chunks | length) == 2 and all(.chunks[]; (.cipher_key | length) == 44)' \
	"2 chunks with 32-byte cipher keys (44 base64 characters)"
check enctext '.chunks[0].is_compressed == true and (.chunks[0].cipher_key | length) > 0' "compressed and encrypted"
check encmanifest '([.chunks[] | select(.is_chunk_manifest and (.cipher_key | length) == 44)] | length) == 1' \
	"an encrypted manifest chunk"
check sparse '(.chunks | length) == 2 and ([.chunks[] | .offset // 0] | sort) == [0, 1048576]' "chunks at 0 and 1 MiB"
check sparsehead '.chunks[0].offset == 65536 and .FileSize == 69632' "one chunk at 64 KiB"
check overlap '(.chunks | length) == 2 and ([.chunks[] | select(.offset == 3000)] | length) == 1' \
	"2 overlapping chunks"
check symlink '.SymlinkTarget == "small.bin"' "a symlink"

# 5. The manifest chunk is a FileChunkManifest: its 10000 chunks' sizes sum to the manifest's size
# (protobuf: field 1 repeated FileChunk; each FileChunk's field 3 = size; parsed here by python).
mfid=$(meta manifest | jq -r '.chunks[] | select(.is_chunk_manifest) | .file_id')
raw=$(mktemp "$WEED_DIR/manifest.XXXXXX")
curl -sf -o "$raw" "http://$(weed_url "$mfid")/$mfid" || fail "GET manifest chunk $mfid failed"
sum=$(python3 - "$raw" <<'PYEOF'
import sys
b = open(sys.argv[1], "rb").read()
def varint(b, i):
    n = s = 0
    while True:
        c = b[i]; i += 1; n |= (c & 0x7F) << s; s += 7
        if c < 0x80: return n, i
def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        if k & 7 == 0: v, i = varint(b, i)
        elif k & 7 == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif k & 7 == 5: v = b[i:i + 4]; i += 4
        else: raise SystemExit("wire type %d" % (k & 7))
        yield k >> 3, v
n = tot = 0
for f, v in fields(b):
    if f == 1:
        n += 1
        tot += sum(x for g, x in fields(v) if g == 3)
print(n, tot)
PYEOF
)
[ "$sum" = "10000 1000000" ] || fail "manifest chunk $mfid: chunks/bytes '$sum', expected 10000 chunks, 1000000 bytes"
echo "ok: the manifest chunk lists 10000 chunks of 1000000 bytes"

# 6. Paged listing: limit/lastFileName walk the directory in name order, as one big page does.
all=$(curl -sf -H 'Accept: application/json' "$(filer_url /kelp-set/)" | jq -r '.Entries[].FullPath')
paged="" last=""
for i in $(seq 1 20); do
	page=$(curl -sf -H 'Accept: application/json' "$(filer_url /kelp-set/)?limit=4&lastFileName=$(jq -rn --arg s "$last" '$s|@uri')")
	paged+=$(jq -r '.Entries[]?.FullPath' <<<"$page")$'\n'
	last=$(jq -r .LastFileName <<<"$page")
	[ "$(jq -r .ShouldDisplayLoadMore <<<"$page")" = true ] || break
done
[ "$(sed '/^$/d' <<<"$paged")" = "$all" ] || fail "paged listing differs: '$paged' vs '$all'"
echo "ok: a listing in pages of 4 equals the whole listing ($(wc -l <<<"$all") entries)"
