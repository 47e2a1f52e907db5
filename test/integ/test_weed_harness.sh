#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Proves the SeaweedFS harness (lib/weed.sh) against real weed: a master and two volume servers come
# up, the standard upload set reads back byte for byte (whole, ranged, gzip), deletes give 404, the
# on-disk format is what kelp expects of this weed build, and a failing test still stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
weed_require

fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. A failing test cleans up: a child script starts weed, records its pids, then fails.
state=$(mktemp)
at_exit "rm -f '$state'"
bash -c '. test/integ/lib/weed.sh; weed_start 1
	{ echo "$WEED_DIR"; pgrep -P $$ -x weed || true; } >"$1"; false' _ "$state" 2>/dev/null && fail "child should fail"
child_dir=$(head -n1 "$state")
[ -n "$child_dir" ] || fail "child did not start weed"
[ ! -e "$child_dir" ] || fail "child's temp dir $child_dir left behind"
n=0
for pid in $(tail -n +2 "$state"); do
	n=$((n + 1))
	! kill -0 "$pid" 2>/dev/null || fail "weed pid $pid still running after the child failed"
done
[ "$n" -eq 2 ] || fail "expected the child to have 2 weed processes, saw $n"
echo "ok: a failing test stops its weed processes and removes $child_dir"

# 2. The real cluster.
weed_start 2
echo "ok: master $WEED_MASTER, volume servers ${WEED_VOLUME_URLS[*]}"
weed_upload_standard_set
live=$(weed_manifest_rows live | wc -l) deleted=$(weed_manifest_rows deleted | wc -l)
[ "$live" -eq 10 ] && [ "$deleted" -eq 2 ] || fail "manifest has $live live / $deleted deleted rows"

# 3. Every live fid reads back exactly (via the master's lookup, as a client would).
while IFS=$'\t' read -r fid url size sha state kind gz name mime; do
	lurl=$(weed_url "$fid")
	[ "$lurl" = "$url" ] || fail "$fid: lookup says $lurl, upload went to $url"
	got=$(curl -sf "http://$lurl/$fid" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$sha" ] || fail "$fid ($kind): GET bytes differ from the uploaded file"
	len=$(curl -sf -o /dev/null -w '%{size_download}' "http://$url/$fid")
	[ "$len" -eq "$size" ] || fail "$fid: got $len bytes, uploaded $size"
	case $kind in
	empty) [ "$size" -eq 0 ] || fail "empty upload has size $size" ;;
	large) [ "$size" -gt 1048576 ] || fail "large upload is only $size bytes" ;;
	text)
		[ "$gz" = 1 ] || fail "$fid: compressible text was not stored gzip"
		got=$(curl -sf -H 'Accept-Encoding: gzip' "http://$url/$fid" | gzip -dc | sha256sum | cut -d' ' -f1)
		[ "$got" = "$sha" ] || fail "$fid: gzip body does not gunzip to the upload"
		;;
	named)
		hdr=$(curl -sf -D - -o /dev/null "http://$url/$fid")
		grep -qi '^Owner: kelp' <<<"$hdr" || fail "$fid: pair Seaweed-Owner not returned"
		grep -qi '^Content-Type: image/png' <<<"$hdr" || fail "$fid: mime not returned"
		grep -q 'filename=photo.png' <<<"$hdr" || fail "$fid: name not returned"
		;;
	esac
done < <(weed_manifest_rows live)
echo "ok: $live live fids read back byte for byte (plain, gzip, empty, large, named)"

# 4. A range of a plain upload equals those bytes of the file.
read -r fid url _ < <(weed_manifest_rows live | awk -F'\t' '$6 == "plain"' | head -n1)
curl -sf -H 'Range: bytes=100-1099' "http://$url/$fid" >"$WEED_DIR/range.out"
cmp -s "$WEED_DIR/range.out" <(tail -c +101 "$WEED_DIR/upload/plain1.bin" | head -c 1000) ||
	fail "$fid: Range 100-1099 differs"
echo "ok: Range read"

# 5. Deleted fids are gone.
while IFS=$'\t' read -r fid url _; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://$url/$fid")
	[ "$code" = 404 ] || fail "deleted $fid answers $code"
done < <(weed_manifest_rows deleted)
echo "ok: deleted fids answer 404"

# 6. What this weed build writes on disk: v3 superblock, 5-byte offsets, 17-byte .idx rows, a
#    tombstone row (size -1) as the last row of each deleted key.
python3 - "$WEED_MANIFEST" "${WEED_VOLUME_DIRS[@]}" <<'EOF'
import glob, json, os, struct, sys
manifest, dirs = sys.argv[1], sys.argv[2:]
rows = {}
for d in dirs:
    for vif in glob.glob(os.path.join(d, "*.vif")):
        assert json.load(open(vif)).get("bytesOffset") == 5, vif + ": bytesOffset is not 5"
    for dat in glob.glob(os.path.join(d, "*.dat")):
        assert open(dat, "rb").read(1) == b"\x03", dat + ": superblock version is not 3"
    for idx in glob.glob(os.path.join(d, "*.idx")):
        b = open(idx, "rb").read()
        assert len(b) % 17 == 0, "%s: %d bytes is not a multiple of 17" % (idx, len(b))
        vid = int(os.path.basename(idx)[:-4])
        for i in range(0, len(b), 17):
            key, lo, hi, size = struct.unpack(">QIBi", b[i:i + 17])
            rows[(vid, key)] = ((hi << 32 | lo) * 8, size)
for line in open(manifest):
    if line.startswith("#"):
        continue
    f = line.rstrip("\n").split("\t")
    vid, rest = f[0].split(",")
    key = int(rest[:-8], 16)
    off, size = rows[(int(vid), key)]
    if f[4] == "deleted":
        assert size == -1 and off > 0, "%s: last .idx row is %r, want a tombstone" % (f[0], (off, size))
    else:
        assert size >= 0 and off > 0, "%s: last .idx row is %r" % (f[0], (off, size))
        if f[5] == "empty":
            assert size == 0, "%s: empty upload has .idx size %d" % (f[0], size)
print("ok: on disk: superblock v3, bytesOffset 5, 17-byte .idx rows, tombstones size -1 at a real offset")
EOF
exit 0
