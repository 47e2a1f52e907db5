# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# A real SeaweedFS cluster on 127.0.0.1 for integration tests and benchmarks. Source this file, then:
#
#   weed_require                  exit 77 (skip) unless the pinned weed binary is installed
#   weed_start [N]                master + N volume servers (default 1), free ports (others tried when
#                                 one was taken meanwhile), temp dirs, waits until the master assigns
#                                 fids; cleanup is registered on EXIT
#   weed_start_master             the parts of weed_start, for tests that need a different shape
#   weed_start_volume [ARGS...]   (extra ARGS go to `weed volume`, e.g. -dataCenter=dc2); with
#                                 WEED_PUBLIC_HOST set, it advertises -publicUrl=$WEED_PUBLIC_HOST:port
#                                 (e.g. 10.0.2.2, the host as QEMU user networking shows it)
#   weed_wait_ready [N]           wait until N volume servers have registered and /dir/assign works
#   weed_assign [QUERY]           /dir/assign (retried: growing a volume may take the master long);
#                                 prints the JSON answer
#   weed_json FIELD               FIELD of the JSON on stdin (locations: their urls)
#   weed_upload FILE [KIND] [CURL_ARGS...]   assign + multipart POST; prints the fid; adds a manifest row
#   weed_delete FID               DELETE on its volume server; marks the manifest row deleted
#   weed_upload_standard_set      plain (round-robin over the servers), gzip-compressible, empty,
#                                 large (> 1 MiB), named/mime/pairs
#                                 uploads, some deleted; manifest in $WEED_MANIFEST
#   weed_url FID                  host:port of a volume server holding FID (master lookup)
#   weed_locations FID            host:port of every volume server holding FID
#   weed_kill_volume I            SIGKILL volume server I (fault tests)
#   weed_vacuum                   vacuum every volume with any garbage (`weed shell` volume.vacuum
#                                 -garbageThreshold=0.0001: new files renamed over the old ones)
#   weed_compaction_revision DIR  the highest compaction revision of DIR's volumes (0: none vacuumed)
#   weed_stop                     stop everything (also run automatically at exit)
#   weed_free_ports [N]           N distinct free ports on 127.0.0.1 (weed_free_port: one)
#   at_exit CMD                   run CMD at exit too (before weed is stopped), e.g. stop kelpd
#
# Variables set: WEED (binary), WEED_DIR (temp root), WEED_MASTER (host:port), WEED_MASTER_ARG
# (host:port.grpcport, what `weed volume -master` and `weed shell -master` take),
# WEED_VOLUME_URLS[i] (host:port), WEED_VOLUME_DIRS[i] (each server's -dir: export these to kelpd),
# WEED_MANIFEST (TSV written by weed_upload / weed_delete).
#
# Manifest rows (tab-separated, one per uploaded fid, '#' header line):
#   fid  url  size  sha256  state  kind  stored_gzip  name  mime
# size/sha256 are of the uploaded bytes (what a client gets back); state is live or deleted; kind is
# the caller's label (plain, text, empty, large, named, ...); stored_gzip is 1 when the volume server
# answers `Accept-Encoding: gzip` with `Content-Encoding: gzip` (it compresses compressible uploads on
# its own), else 0; name is the multipart filename (the file's basename unless WEED_FORM names one),
# mime the explicit type= of WEED_FORM ('-' when none).
#
# What weed 4.48 from PyPI (the "8000GB" large-disk build) writes, checked by test_weed_harness.sh:
# superblock version 3; `.vif` says "bytesOffset": 5; `.idx` rows are 17 bytes (key u64, offset low
# u32, offset high u8, size i32); a delete appends a size-0 record to `.dat` and an `.idx` row with the
# tombstone's offset (not 0) and size -1; an empty upload is a size-0 record with a real offset.
# The master pre-grows 7 volumes on the first assign, and until heartbeats correct it counts 1 MiB
# per assigned fid against -volumeSizeLimitMB: so the default limit (30 GiB) is kept, else fast
# small uploads find every volume "full".

WEED=${WEED:-$(bash "$(dirname "${BASH_SOURCE[0]}")/../../../mk/weed-path.sh")}
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
WEED_DIR=""
WEED_MASTER=""
WEED_MASTER_ARG=""
WEED_MANIFEST=""
WEED_VOLUME_URLS=()
WEED_VOLUME_DIRS=()
_WEED_PIDS=()
_WEED_LOGS=()
_WEED_PORT="" # the ports of the last _weed_spawn
_WEED_GRPC=""
_AT_EXIT=()

# Runs the at_exit commands in reverse order, then stops weed; prints log tails when the test failed.
_weed_on_exit() {
	local rc=$?
	set +e # cleanup must run to the end whatever the test's shell options
	local i
	for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${_AT_EXIT[i]}"
	done
	_AT_EXIT=()
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ ${#_WEED_LOGS[@]} -gt 0 ]; then
		local log
		for log in "${_WEED_LOGS[@]}"; do
			[ -f "$log" ] && { echo "--- last lines of $log"; tail -n 15 "$log"; } >&2
		done
	fi
	weed_stop
	return "$rc"
}
trap _weed_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

at_exit() { _AT_EXIT+=("$*"); }

weed_require() {
	if [ ! -x "$WEED" ]; then
		echo "skip: SeaweedFS weed not found at $WEED (run 'make deps')" >&2
		exit 77
	fi
	local t
	for t in curl jq python3; do
		command -v "$t" >/dev/null || { echo "skip: $t missing (run 'make deps')" >&2; exit 77; }
	done
}

# weed_free_ports [N]: prints N (default 1) distinct TCP ports on 127.0.0.1 that nothing uses right
# now, one per line. They are drawn at random from below the kernel's ephemeral range: a port the
# kernel hands out for bind(0) may be handed out again by the next call (so two weed ports of one
# test collided now and then), and any outgoing connection may take it as its source port before
# weed binds it. All N stay bound until all are chosen, so they differ.
weed_free_ports() {
	python3 - "${1:-1}" <<'PYEOF'
import random, socket, sys
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    lo = 32768
lo = max(lo, 12000)
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, lo)))
    except OSError:
        s.close()
        continue
    held.append(s)
print("\n".join(str(s.getsockname()[1]) for s in held))
PYEOF
}
weed_free_port() { weed_free_ports 1; }

_weed_mkdir() {
	if [ -z "$WEED_DIR" ]; then
		WEED_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-weed.XXXXXX")
		WEED_MANIFEST=$WEED_DIR/manifest.tsv
		printf '#fid\turl\tsize\tsha256\tstate\tkind\tstored_gzip\tname\tmime\n' >"$WEED_MANIFEST"
	fi
}

# _weed_wait_up PID LOG CMD...: waits (60 s at most) until CMD, a readiness check, succeeds while the
# weed process PID runs. Returns 0 once it does; 2 when PID died because a port was taken (PID is
# reaped; the caller tries other ports); 1 when it died otherwise or never got ready.
_weed_wait_up() {
	local pid=$1 log=$2
	shift 2
	wait_until 60 _weed_up_or_gone "$pid" "$@" || return 1
	kill -0 "$pid" 2>/dev/null && return 0
	wait "$pid" 2>/dev/null || true
	grep -q 'address already in use' "$log" 2>/dev/null && return 2
	return 1
}
_weed_up_or_gone() { # PID CMD...: CMD succeeds while PID runs, or PID is gone
	local pid=$1
	shift
	{ "$@" && kill -0 "$pid" 2>/dev/null; } || ! kill -0 "$pid" 2>/dev/null
}
_weed_is_leader() { [[ $(curl -sf -m 2 "http://$1/cluster/status" 2>/dev/null) == *'"IsLeader":true'* ]]; }
_weed_answers() { curl -sf -m 2 -o /dev/null "http://$1/status" 2>/dev/null; }

# _weed_spawn LOG READY CMD...: starts CMD in the background (output to LOG) with the words @PORT@
# and @GRPC@ in it replaced by two free ports, then waits until `READY 127.0.0.1:PORT` succeeds.
# When weed died because a port was taken meanwhile, tries again with other ports (3 tries). Sets
# _WEED_PORT and _WEED_GRPC; returns 0 once ready, else 1.
_weed_spawn() {
	local log=$1 ready=$2 attempt rc=1 a args
	shift 2
	for attempt in 1 2 3; do
		{ read -r _WEED_PORT && read -r _WEED_GRPC; } < <(weed_free_ports 2)
		[ "$attempt" = 1 ] || mv -f "$log" "$log.$((attempt - 1))"
		args=()
		for a in "$@"; do
			a=${a//@PORT@/$_WEED_PORT}
			args+=("${a//@GRPC@/$_WEED_GRPC}")
		done
		"${args[@]}" >"$log" 2>&1 &
		_WEED_PIDS+=($!)
		rc=0
		_weed_wait_up "${_WEED_PIDS[-1]}" "$log" "$ready" "127.0.0.1:$_WEED_PORT" || rc=$?
		[ "$rc" = 2 ] || break
		unset '_WEED_PIDS[-1]' # reaped by _weed_wait_up
	done
	_WEED_LOGS+=("$log")
	[ "$rc" = 0 ]
}

weed_start_master() {
	_weed_mkdir
	local rc=0
	mkdir -p "$WEED_DIR/master"
	_weed_spawn "$WEED_DIR/master.log" _weed_is_leader "$WEED" master -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-port=@PORT@ -port.grpc=@GRPC@ -mdir="$WEED_DIR/master" -peers=none || rc=$?
	WEED_MASTER=127.0.0.1:$_WEED_PORT
	WEED_MASTER_ARG=127.0.0.1:$_WEED_PORT.$_WEED_GRPC
	[ "$rc" = 0 ] && return 0
	echo "weed master on $WEED_MASTER did not become leader; see $WEED_DIR/master.log" >&2
	return 1
}

weed_start_volume() {
	[ -n "$WEED_MASTER" ] || { echo "weed_start_volume: start the master first" >&2; return 1; }
	local i=${#WEED_VOLUME_URLS[@]} rc=0 public=()
	local dir=$WEED_DIR/volume$i
	mkdir -p "$dir"
	[ -n "${WEED_PUBLIC_HOST:-}" ] && public=(-publicUrl="$WEED_PUBLIC_HOST:@PORT@")
	_weed_spawn "$WEED_DIR/volume$i.log" _weed_answers "$WEED" volume -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-port=@PORT@ -port.grpc=@GRPC@ -dir="$dir" -master="$WEED_MASTER_ARG" -max=8 \
		-preStopSeconds=0 "${public[@]}" "$@" || rc=$?
	WEED_VOLUME_URLS+=("127.0.0.1:$_WEED_PORT")
	WEED_VOLUME_DIRS+=("$dir")
	[ "$rc" = 0 ] && return 0
	echo "weed volume on 127.0.0.1:$_WEED_PORT did not answer /status; see $WEED_DIR/volume$i.log" >&2
	return 1
}

# _weed_has_servers N: the master knows N volume servers and hands out fids.
_weed_has_servers() {
	local n
	n=$(curl -sf -m 5 "http://$WEED_MASTER/dir/status" 2>/dev/null |
		jq '[.. | objects | select(has("Url") and has("PublicUrl")) | .Url] | unique | length' 2>/dev/null) ||
		return 1
	[ "${n:-0}" -ge "$1" ] || return 1
	n=$(curl -sf -m 15 -X POST "http://$WEED_MASTER/dir/assign" 2>/dev/null) && [[ $n == *'"fid"'* ]]
}

# Waits until the master knows N volume servers (default: all started) and hands out fids.
weed_wait_ready() {
	local want=${1:-${#WEED_VOLUME_URLS[@]}}
	wait_until 90 _weed_has_servers "$want" && return 0
	echo "weed: master $WEED_MASTER does not know $want volume servers or cannot assign; see $WEED_DIR/*.log" >&2
	return 1
}

weed_start() {
	local n=${1:-1} i
	weed_require
	weed_start_master || return 1
	for ((i = 0; i < n; i++)); do
		weed_start_volume || return 1
	done
	weed_wait_ready "$n"
}

# weed_json FIELD: prints FIELD of the JSON object on stdin (empty when missing; for a list of
# locations, their urls separated by spaces). Fails on malformed JSON.
weed_json() {
	jq -r --arg k "$1" '.[$k] // "" | if type == "array" then map(.url // "") | join(" ") else . end' 2>/dev/null
}

# weed_assign [QUERY]: POST /dir/assign[?QUERY] (e.g. replication=001) on the master; prints its JSON
# answer ("fid", "url", ...). The master grows volumes in the background and waits at most 10 s
# for a writable one; on a busy machine that can run out, so a failed assign is asked again (3
# tries), as SeaweedFS clients do.
weed_assign() {
	local i out=""
	for i in 1 2 3; do
		out=$(curl -s -m 30 -X POST "http://$WEED_MASTER/dir/assign${1:+?$1}") &&
			[[ $out == *'"fid"'* ]] && { echo "$out"; return 0; }
	done
	echo "weed_assign: /dir/assign${1:+?$1} on $WEED_MASTER failed 3 times; last answer: $out" >&2
	return 1
}

# weed_upload FILE [KIND] [CURL_ARGS...]: assign a fid and POST FILE (multipart, like SeaweedFS
# clients). CURL_ARGS may set name/mime through the -F type=/filename= parameters via WEED_FORM, or
# add -H "Seaweed-Key: value" pairs. Prints the fid.
# Form field: "file=@FILE" unless WEED_FORM is set (e.g. WEED_FORM="file=@x;type=image/png;filename=a.png").
# WEED_ASSIGN_QUERY, when set, is added to /dir/assign (e.g. "dataNode=127.0.0.1:8081" pins the server).
weed_upload() {
	local file=$1 kind=${2:-plain}
	shift $(($# >= 2 ? 2 : 1))
	local assign fid url resp name mime=-
	name=$(basename "$file")
	assign=$(weed_assign "${WEED_ASSIGN_QUERY:-}") || return 1
	fid=$(weed_json fid <<<"$assign") url=$(weed_json url <<<"$assign")
	[ -n "$fid" ] && [ -n "$url" ] || { echo "weed_upload: bad assign answer: $assign" >&2; return 1; }
	local form=${WEED_FORM:-file=@$file}
	resp=$(curl -sf -m 60 -F "$form" "$@" "http://$url/$fid") ||
		{ echo "weed_upload: POST $url/$fid failed" >&2; return 1; }
	case $form in *filename=*) name=${form##*filename=}; name=${name%%;*} ;; esac
	case $form in *type=*) mime=${form##*type=}; mime=${mime%%;*} ;; esac
	local size sha gz=0 hdr
	size=$(stat -c %s "$file")
	sha=$(sha256sum <"$file" | cut -d' ' -f1)
	# headers into a variable first: piped into grep -q, curl could still be writing the lines after
	# Content-Encoding when grep quits, fail on the closed pipe, and (pipefail) turn a 1 into a 0
	hdr=$(curl -sf -m 30 -o /dev/null -D - -H 'Accept-Encoding: gzip' "http://$url/$fid") ||
		{ echo "weed_upload: GET $url/$fid after the upload failed" >&2; return 1; }
	grep -qi '^content-encoding: *gzip' <<<"$hdr" && gz=1
	printf '%s\t%s\t%s\t%s\tlive\t%s\t%s\t%s\t%s\n' "$fid" "$url" "$size" "$sha" "$kind" "$gz" "$name" "$mime" >>"$WEED_MANIFEST"
	echo "$fid"
}

# Prints host:port of every volume server holding FID (space-separated), asking the master.
weed_locations() {
	curl -sf -m 5 "http://$WEED_MASTER/dir/lookup?volumeId=${1%%,*}" | weed_json locations
}

# Prints host:port of a volume server for FID, asking the master.
weed_url() { weed_locations "$1" | cut -d' ' -f1; }

weed_delete() {
	local fid=$1 url
	url=$(weed_url "$fid") || return 1
	curl -sf -m 10 -X DELETE "http://$url/$fid" >/dev/null ||
		{ echo "weed_delete: DELETE $url/$fid failed" >&2; return 1; }
	local tmp=$WEED_MANIFEST.tmp
	awk -F'\t' -v OFS='\t' -v f="$fid" '$1 == f { $5 = "deleted" } { print }' "$WEED_MANIFEST" >"$tmp" &&
		mv "$tmp" "$WEED_MANIFEST"
}

# The upload mix every integration test can rely on. Files are kept in $WEED_DIR/upload/.
weed_upload_standard_set() {
	local d=$WEED_DIR/upload i fid
	mkdir -p "$d"
	local n=${#WEED_VOLUME_URLS[@]}
	# The plain files go round-robin to the volume servers (assign's dataNode), so that with two or
	# more servers each one holds live fids: tests of mixed local/remote reads rely on it, and a
	# random placement left one server empty in ~3% of runs.
	for i in 1 2 3 4 5 6; do
		head -c $((i * 1000 + 17)) /dev/urandom >"$d/plain$i.bin"
		WEED_ASSIGN_QUERY="dataNode=${WEED_VOLUME_URLS[i % n]}" weed_upload "$d/plain$i.bin" plain >/dev/null ||
			return 1
	done
	python3 -c 'import sys
for i in range(3000): sys.stdout.write("kelp compressible line %06d of very repetitive text\n" % (i % 50))' >"$d/text.txt"
	WEED_FORM="file=@$d/text.txt;type=text/plain;filename=text.txt" weed_upload "$d/text.txt" text >/dev/null || return 1
	: >"$d/empty.bin"
	weed_upload "$d/empty.bin" empty >/dev/null || return 1
	head -c $((1536 * 1024 + 3)) /dev/urandom >"$d/large.bin"
	weed_upload "$d/large.bin" large >/dev/null || return 1
	head -c 4096 /dev/urandom >"$d/photo.bin"
	WEED_FORM="file=@$d/photo.bin;type=image/png;filename=photo.png" \
		weed_upload "$d/photo.bin" named -H 'Seaweed-Owner: kelp' -H 'Seaweed-Tag: blue' >/dev/null || return 1
	for i in 1 2; do
		head -c 3000 /dev/urandom >"$d/doomed$i.bin"
		fid=$(weed_upload "$d/doomed$i.bin" plain) || return 1
		weed_delete "$fid" || return 1
	done
}

# Prints the manifest rows (without header) whose state is $1 (live|deleted).
weed_manifest_rows() {
	awk -F'\t' -v s="$1" '!/^#/ && $5 == s' "$WEED_MANIFEST"
}

weed_kill_volume() {
	local i=$1 pid=${_WEED_PIDS[$(($1 + 1))]}
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "weed: killed volume server $i (${WEED_VOLUME_URLS[i]})" >&2
}

weed_vacuum() {
	printf 'lock\nvolume.vacuum -garbageThreshold=0.0001\nunlock\n' |
		"$WEED" shell -master="$WEED_MASTER_ARG" >>"$WEED_DIR/shell.log" 2>&1 && return 0
	echo "weed shell volume.vacuum failed: $(tail -5 "$WEED_DIR/shell.log")" >&2
	return 1
}

# (the revision is the big-endian u16 at byte 4 of a volume's superblock)
weed_compaction_revision() {
	local d
	for d in "$1"/*.dat; do od -An -tu1 -j4 -N2 "$d" | awk '{ print $1 * 256 + $2 }'; done |
		sort -n | tail -n 1
}

# Stops every weed process started here (volume servers first), then removes the temp dir unless
# KEEP_WEED=1. Safe to call twice.
weed_stop() {
	local i j pid
	for ((i = ${#_WEED_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${_WEED_PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		for ((j = 0; j < 50; j++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	_WEED_PIDS=()
	if [ -n "$WEED_DIR" ] && [ -d "$WEED_DIR" ] && [ "${KEEP_WEED:-0}" != 1 ]; then
		rm -rf "$WEED_DIR"
	fi
	WEED_DIR=""
	return 0
}
