# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# A real SeaweedFS filer (`weed filer`) next to the lib/weed.sh cluster. Source this file (it
# sources weed.sh), start the cluster (weed_start), then:
#
#   weed_start_filer [-encrypt] [-group G] [ARGS...]
#                             a filer against $WEED_MASTER on free ports with its own leveldb store
#                             under $WEED_DIR; waits (bounded) until it lists "/"; stopped by the
#                             at-exit cleanup like the rest. -encrypt adds -encryptVolumeData (every
#                             chunk it writes is AES-256-GCM encrypted, the key in the entry's
#                             cipher_key). -group puts it into -filerGroup=G: filers of one group
#                             with separate stores replay each other's metadata (weed/filer/
#                             meta_aggregator.go), so a second filer that must not mirror the first
#                             needs its own group. ARGS go to `weed filer` (e.g. -saveToFilerLimit=N).
#                             Sets WEED_FILER (host:port, the HTTP API) and WEED_FILER_ARG
#                             (host:port.grpcport, what `weed shell -filer` takes) to the new filer,
#                             appends to WEED_FILERS / WEED_FILER_ARGS.
#   filer_url PATH            http://$FILER$PATH with PATH percent-encoded ("/" kept)
#   filer_put PATH FILE [QUERY] [CURL_ARGS...]
#                             multipart POST of FILE to PATH (filename = PATH's last name, so the
#                             filer's compression choice sees its extension); QUERY e.g.
#                             "maxMB=1", "op=append", "offset=1048576"
#   filer_get PATH OUT        the filer's own GET of PATH into OUT (fails on a non-2xx answer)
#   filer_meta PATH           the entry's JSON (GET PATH?metadata=true), on stdout
#   filer_meta_load FILER_ARG JSON
#                             craft entries (lib/filer_meta.py; see there) and `weed shell
#                             fs.meta.load` them into the filer FILER_ARG (gRPC CreateEntry)
#   filer_upload_standard_set [DIR]
#                             the issue 11 set under filer directory DIR (default /kelp-set) of
#                             $WEED_FILER, which must have been started with
#                             -saveToFilerLimit=$FILER_INLINE_LIMIT (weed_start_filer_standard does
#                             that); starts a second, encrypting filer (group kelp-enc) for the
#                             encrypted files and copies their entries over (fs.meta.save/load):
#                             the chunks stay where that filer wrote them, so one namespace holds
#                             everything. Writes $FILER_SET (below).
#   weed_start_filer_standard weed_start_filer -saveToFilerLimit=$FILER_INLINE_LIMIT
#   filer_set_rows [KIND]     rows of $FILER_SET (no header), all or of one kind
#
# $FILER defaults to $WEED_FILER in filer_url/put/get/meta.
#
# $FILER_SET: TSV, '#' header, one row per file or symlink of the set:
#   path  kind  size  sha256  expected  source  note
# path is the filer path; size/sha256 of `expected`, a local file holding the filer's own GET of
# path (what kelp must return byte for byte); source is the local file that was uploaded (the
# harness test checks expected == source); for kind "symlink", size/sha256/expected describe the
# target string and source is '-'. note is a short human description. Kinds:
#   empty (0 B, no chunk), one (1 B, one chunk: op=append skips the inline path), small (4 KiB,
#   one chunk), inline (< FILER_INLINE_LIMIT: entry Content, no chunk), multi (3 MiB + 5 with
#   maxMB=1: 4 chunks), manifest (ManifestBatch + 3 = 10003 chunks of 100 B: the filer folds
#   10000 into one is_chunk_manifest chunk), text (compressible .txt: is_compressed chunks), enc
#   (-encryptVolumeData, 2 chunks), enctext (encrypted and compressed), encmanifest (the manifest
#   file written by the encrypting filer: its manifest chunk has a cipher_key), sparse (4 KiB at 0 and
#   4 KiB at 1 MiB: a hole between), sparsehead (4 KiB at 64 KiB: a hole first), overlap (8 KiB at 0,
#   then 2 KiB written at 3000: two overlapping chunks, the newer wins), deep (8 directories
#   down), names (spaces and UTF-8 in directory and file names), symlink.
#
# What the filer's HTTP API cannot make: symlinks and 10000-chunk files (see filer_meta.py); both
# come in through `weed shell fs.meta.load`, i.e. the filer's gRPC CreateEntry, as weed mount would.

. "$(dirname "${BASH_SOURCE[0]}")/weed.sh"

WEED_FILER=""
WEED_FILER_ARG=""
WEED_FILERS=()
WEED_FILER_ARGS=()
FILER_SET=""
FILER_INLINE_LIMIT=1024

_filer_lists_root() { curl -sf -m 5 -o /dev/null -H 'Accept: application/json' "http://$1/?limit=1"; }

weed_start_filer() {
	[ -n "$WEED_MASTER" ] || { echo "weed_start_filer: start the master first" >&2; return 1; }
	local extra=() rc=0 i=${#WEED_FILERS[@]}
	while [ $# -gt 0 ]; do
		case $1 in
		-encrypt) extra+=(-encryptVolumeData) ;;
		-group) extra+=(-filerGroup="$2"); shift ;;
		*) extra+=("$1") ;;
		esac
		shift
	done
	local dir=$WEED_DIR/filer$i
	mkdir -p "$dir"
	# cwd = its own dir: weed reads ./filer.toml first, and an embedded store (leveldb2) goes to
	# -defaultStoreDir; -localSocket away from the shared /tmp name (it has the port in it)
	_weed_spawn "$WEED_DIR/filer$i.log" _filer_lists_root env -C "$dir" "$WEED" filer -ip=127.0.0.1 \
		-ip.bind=127.0.0.1 -port=@PORT@ -port.grpc=@GRPC@ -master="$WEED_MASTER_ARG" \
		-defaultStoreDir="$dir" -localSocket="$dir/filer.sock" "${extra[@]}" || rc=$?
	WEED_FILER=127.0.0.1:$_WEED_PORT
	WEED_FILER_ARG=127.0.0.1:$_WEED_PORT.$_WEED_GRPC
	WEED_FILERS+=("$WEED_FILER")
	WEED_FILER_ARGS+=("$WEED_FILER_ARG")
	[ "$rc" = 0 ] && return 0
	echo "weed filer on $WEED_FILER did not answer a listing of /; see $WEED_DIR/filer$i.log" >&2
	return 1
}

weed_start_filer_standard() { weed_start_filer -saveToFilerLimit="$FILER_INLINE_LIMIT" "$@"; }

filer_url() {
	local enc
	enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/"))' "$1")
	echo "http://${FILER:-$WEED_FILER}$enc"
}

filer_put() {
	local path=$1 file=$2 query=${3:-} url
	shift $(($# >= 3 ? 3 : 2))
	url=$(filer_url "$path")
	curl -sf -m 120 -o /dev/null -F "file=@$file;filename=${path##*/}" "$@" "$url${query:+?$query}" ||
		{ echo "filer_put: POST $url${query:+?$query} failed" >&2; return 1; }
}

filer_get() {
	local url
	url=$(filer_url "$1")
	curl -sf -m 120 -o "$2" "$url" || { echo "filer_get: GET $url failed" >&2; return 1; }
}

filer_meta() {
	local url
	url=$(filer_url "$1")
	curl -sf -m 30 "$url?metadata=true" || { echo "filer_meta: GET $url?metadata=true failed" >&2; return 1; }
}

# _filer_shell FILER_ARG COMMANDS: runs `weed shell` against that filer; its output goes to shell.log
_filer_shell() {
	local out
	out=$(printf '%s\n' "$2" | "$WEED" shell -master="$WEED_MASTER_ARG" -filer="$1" 2>&1) || {
		echo "weed shell failed on '$2': $out" >&2
		return 1
	}
	printf '%s\n' "$out" >>"$WEED_DIR/shell.log"
	[[ $out != *rror* ]] || { echo "weed shell said an error on '$2': $out" >&2; return 1; }
}

filer_meta_load() {
	local meta
	meta=$(mktemp "$WEED_DIR/meta.XXXXXX")
	python3 "$(dirname "${BASH_SOURCE[0]}")/filer_meta.py" <<<"$2" >"$meta" || return 1
	_filer_shell "$1" "fs.meta.load $meta" || return 1
	# fs.meta.load reports a failed CreateEntry only in its log: check that every entry is there
	local p
	while IFS= read -r p; do
		FILER=${1%.*} filer_meta "$p" >/dev/null ||
			{ echo "filer_meta_load: $p is missing after fs.meta.load into $1" >&2; return 1; }
	done < <(jq -r '.[] | .dir + "/" + .name' <<<"$2")
}

# _filer_set_add PATH KIND SOURCE NOTE: GET PATH from the filer into the expected file, add a row
_filer_set_add() {
	local path=$1 kind=$2 src=$3 note=$4 exp size sha
	exp=$WEED_DIR/filer_expected/$(printf '%03d' "$(grep -vc '^#' "$FILER_SET")").$kind
	if [ "$kind" = symlink ]; then
		printf '%s' "$src" >"$exp"
		src=-
	else
		filer_get "$path" "$exp" || return 1
	fi
	size=$(stat -c %s "$exp")
	sha=$(sha256sum <"$exp" | cut -d' ' -f1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$kind" "$size" "$sha" "$exp" "$src" "$note" >>"$FILER_SET"
}

# _filer_text N: N lines of compressible text
_filer_text() {
	python3 -c 'import sys
for i in range(int(sys.argv[1])): sys.stdout.write("kelp filer text line %06d, very repetitive words\n" % (i % 64))' "$1"
}

filer_upload_standard_set() {
	local root=${1:-/kelp-set} d=$WEED_DIR/filer_src main=$WEED_FILER main_arg=$WEED_FILER_ARG
	[ -n "$main" ] || { echo "filer_upload_standard_set: start a filer first" >&2; return 1; }
	mkdir -p "$d" "$WEED_DIR/filer_expected"
	FILER_SET=$WEED_DIR/filer_set.tsv
	printf '#path\tkind\tsize\tsha256\texpected\tsource\tnote\n' >"$FILER_SET"
	local FILER=$main

	: >"$d/empty.bin"
	filer_put "$root/empty.bin" "$d/empty.bin" || return 1
	_filer_set_add "$root/empty.bin" empty "$d/empty.bin" "0 bytes" || return 1

	printf 'k' >"$d/one.bin"
	filer_put "$root/one.bin" "$d/one.bin" op=append || return 1
	_filer_set_add "$root/one.bin" one "$d/one.bin" "1 byte in a chunk (op=append skips inlining)" || return 1

	head -c 4096 /dev/urandom >"$d/small.bin"
	filer_put "$root/small.bin" "$d/small.bin" || return 1
	_filer_set_add "$root/small.bin" small "$d/small.bin" "4 KiB, one chunk" || return 1

	head -c 700 /dev/urandom >"$d/inline.bin"
	filer_put "$root/inline.bin" "$d/inline.bin" || return 1
	_filer_set_add "$root/inline.bin" inline "$d/inline.bin" "700 B < saveToFilerLimit: entry Content" || return 1

	head -c $((3 * 1048576 + 5)) /dev/urandom >"$d/multi.bin"
	filer_put "$root/multi.bin" "$d/multi.bin" maxMB=1 || return 1
	_filer_set_add "$root/multi.bin" multi "$d/multi.bin" "maxMB=1: 4 chunks" || return 1

	_filer_text 3000 >"$d/text.txt"
	filer_put "$root/text.txt" "$d/text.txt" || return 1
	_filer_set_add "$root/text.txt" text "$d/text.txt" "compressible .txt: gzip-stored chunk" || return 1

	# sparse: the filer's offset writes (POST ?offset=N) add a chunk at N and set the size to the
	# end of the last chunk (weed/server/filer_server_handlers_write_autochunk.go saveMetaData)
	head -c 4096 /dev/urandom >"$d/sparse.a"
	head -c 4096 /dev/urandom >"$d/sparse.b"
	filer_put "$root/sparse.bin" "$d/sparse.a" || return 1
	filer_put "$root/sparse.bin" "$d/sparse.b" offset=1048576 || return 1
	{ cat "$d/sparse.a"; head -c $((1048576 - 4096)) /dev/zero; cat "$d/sparse.b"; } >"$d/sparse.bin"
	_filer_set_add "$root/sparse.bin" sparse "$d/sparse.bin" "4 KiB at 0, hole, 4 KiB at 1 MiB" || return 1

	filer_put "$root/sparsehead.bin" "$d/sparse.b" offset=65536 || return 1
	{ head -c 65536 /dev/zero; cat "$d/sparse.b"; } >"$d/sparsehead.bin"
	_filer_set_add "$root/sparsehead.bin" sparsehead "$d/sparsehead.bin" "hole of 64 KiB, then 4 KiB" || return 1

	head -c 8192 /dev/urandom >"$d/overlap.a"
	head -c 2048 /dev/urandom >"$d/overlap.b"
	filer_put "$root/overlap.bin" "$d/overlap.a" || return 1
	filer_put "$root/overlap.bin" "$d/overlap.b" offset=3000 || return 1
	{ head -c 3000 "$d/overlap.a"; cat "$d/overlap.b"; tail -c $((8192 - 5048)) "$d/overlap.a"; } >"$d/overlap.bin"
	_filer_set_add "$root/overlap.bin" overlap "$d/overlap.bin" "8 KiB, then 2 KiB over it at 3000" || return 1

	head -c 5000 /dev/urandom >"$d/deep.bin"
	filer_put "$root/deep/a/b/c/d/e/f/g/h/leaf.bin" "$d/deep.bin" || return 1
	_filer_set_add "$root/deep/a/b/c/d/e/f/g/h/leaf.bin" deep "$d/deep.bin" "8 directories down" || return 1

	head -c 3000 /dev/urandom >"$d/names.bin"
	local odd="$root/dir with spaces/näme ünïcödé 日本語 #1%.bin"
	filer_put "$odd" "$d/names.bin" || return 1
	_filer_set_add "$odd" names "$d/names.bin" "spaces, UTF-8, # and % in names" || return 1

	# the manifest: 10003 chunks of 100 B, cycling over 8 needles written to the volume servers
	local i fids=() assign fid url json now
	for i in 0 1 2 3 4 5 6 7; do
		head -c 100 /dev/urandom >"$d/piece$i"
		assign=$(weed_assign) || return 1
		fid=$(weed_json fid <<<"$assign") url=$(weed_json url <<<"$assign")
		curl -sf -m 30 -o /dev/null -F "file=@$d/piece$i" "http://$url/$fid" ||
			{ echo "filer_upload_standard_set: POST $url/$fid failed" >&2; return 1; }
		fids+=("$fid")
	done
	now=$(date +%s)
	json=$(python3 - "$root" "$now" "${fids[@]}" <<'PYEOF'
import json, sys
root, now, fids = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
n = 10003
chunks = [{"file_id": fids[i % 8], "offset": i * 100, "size": 100,
           "modified_ts_ns": now * 10**9 + i} for i in range(n)]
print(json.dumps([{"dir": root, "name": "manifest.bin", "mode": 0o644, "size": n * 100,
                   "mtime": now, "chunks": chunks}]))
PYEOF
	) || return 1
	filer_meta_load "$main_arg" "$json" || return 1
	# Go os.ModeSymlink = 1 << 27, as weed mount stores it (weed/mount/weedfs_symlink.go)
	filer_meta_load "$main_arg" "[{\"dir\": \"$root\", \"name\": \"link\", \"mode\": $(((1 << 27) | 0777)),
		\"mtime\": $now, \"symlink\": \"small.bin\"}]" || return 1
	for ((i = 0; i < 10003; i++)); do echo "$d/piece$((i % 8))"; done | xargs cat >"$d/manifest.bin"
	_filer_set_add "$root/manifest.bin" manifest "$d/manifest.bin" "10003 chunks: 1 manifest chunk + 3" || return 1
	_filer_set_add "$root/link" symlink "small.bin" "symlink to small.bin (fs.meta.load)" || return 1

	# encrypted: a second filer (own group, so it does not mirror the first) writes them; their
	# entries (with each chunk's cipher_key) are copied into the main filer
	weed_start_filer -encrypt -group kelp-enc || return 1
	local enc=$WEED_FILER enc_arg=$WEED_FILER_ARG
	head -c $((1048576 + 4000)) /dev/urandom >"$d/enc.bin"
	_filer_text 2000 >"$d/enc.txt"
	FILER=$enc filer_put "$root/enc/secret.bin" "$d/enc.bin" maxMB=1 || return 1
	FILER=$enc filer_put "$root/enc/secret.txt" "$d/enc.txt" || return 1
	# the same 10003 chunks on the encrypting filer: its manifest chunk is encrypted too
	filer_meta_load "$enc_arg" "$(jq --arg d "$root/enc" '.[0].dir = $d' <<<"$json")" || return 1
	_filer_shell "$enc_arg" "fs.meta.save -o $WEED_DIR/enc.meta $root/enc" || return 1
	# + a directory entry at the end, so that fs.meta.load waits for the files (filer_meta.py)
	python3 "$(dirname "${BASH_SOURCE[0]}")/filer_meta.py" "$root" <<<'[]' >>"$WEED_DIR/enc.meta" || return 1
	_filer_shell "$main_arg" "fs.meta.load $WEED_DIR/enc.meta" || return 1
	WEED_FILER=$main WEED_FILER_ARG=$main_arg
	_filer_set_add "$root/enc/secret.bin" enc "$d/enc.bin" "-encryptVolumeData, 2 chunks" || return 1
	_filer_set_add "$root/enc/secret.txt" enctext "$d/enc.txt" "-encryptVolumeData, compressed" || return 1
	_filer_set_add "$root/enc/manifest.bin" encmanifest "$d/manifest.bin" \
		"10003 chunks on the encrypting filer: an encrypted manifest chunk" || return 1
}

filer_set_rows() {
	awk -F'\t' -v k="${1:-}" '!/^#/ && (k == "" || $2 == k)' "$FILER_SET"
}
