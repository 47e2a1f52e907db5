#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelpd against a real SeaweedFS over the HTTP path (issue 4): with [seaweedfs] force_http = true
# every uploaded fid read through kelpd (libkelp: kelpctl get, test/integ/kelp_read) equals curl of
# the volume server byte for byte: whole (kelpctl get = a plain curl, gzip-stored needles inflated;
# --raw = curl as stored), ranges of plain and gzip-stored needles, empty, large, deleted -> ENOENT;
# the same whole reads from the volume files (both directories exported); then mixed local + HTTP
# (one server's directory exported); then faults: a volume server killed (its fids fail with
# EHOSTUNREACH, the others keep working), the master stopped (cached locations keep working), a
# malformed server (EBADMSG) -- and kelpd stays healthy throughout.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
. test/integ/lib/bad_http.sh
weed_require
BIN=${BIN:-build/bin} # BIN=build-asan/bin runs kelpd sanitized
READ=${BIN%/bin}/test/integ/kelp_read
for b in "$BIN/kelpd" "$BIN/kelpctl" "$READ"; do [ -x "$b" ] || { echo "FAIL: $b missing (make all)" >&2; exit 1; }; done

fail() { echo "FAIL: $*" >&2; [ -n "${KLOG:-}" ] && tail -n 20 "$KLOG" >&2; exit 1; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

weed_start 2
weed_upload_standard_set
K=$WEED_DIR/kelp
mkdir -p "$K"
KPID=""
stop_kelpd() {
	[ -n "$KPID" ] || return 0
	kill -TERM "$KPID" 2>/dev/null || true
	wait "$KPID" 2>/dev/null || true
	KPID=""
}
at_exit stop_kelpd
# start_kelpd NAME EXTRA_CONF: kelpd with one lcore (parking when idle) and the given sections
start_kelpd() {
	stop_kelpd
	CONF=$K/$1.conf KLOG=$K/$1.log
	cat >"$CONF" <<EOF
[engine]
lcores = 1
control_cpu = 0
socket = $K/kelpd.sock
arena_mb = 16
idle_park_us = 200
[rdma]
device = off
$2
EOF
	rm -f "$K/kelpd.sock"
	"$BIN/kelpd" -c "$CONF" >"$KLOG" 2>&1 &
	KPID=$!
	wait_until 60 kelpd_answers_or_gone && kill -0 "$KPID" 2>/dev/null || fail "kelpd did not start"
}
kelpd_answers_or_gone() {
	{ [ -S "$K/kelpd.sock" ] && "$BIN/kelpctl" -c "$CONF" status >/dev/null 2>&1; } || ! kill -0 "$KPID" 2>/dev/null
}
# http_reads: the HTTP path counter of kelpctl stats
path_count() { "$BIN/kelpctl" -c "$CONF" --json stats | jq -e --arg p "$1" '.total.by_path[$p]'; }
curl_stored() { curl -sf -H 'Accept-Encoding: gzip' "$@"; }
# check_gets: every live fid through `kelpctl get` equals a plain curl of its volume server (no
# Accept-Encoding: a needle stored gzipped comes back inflated) and the upload; `get --raw` equals
# curl as stored (gzip magic 1f 8b when stored gzipped); the old --gunzip changes nothing. Sets n
# (fids checked) and ngz (of them stored gzipped).
check_gets() {
	n=0 ngz=0
	while IFS=$'\t' read -r fid url size sha state kind gz name mime; do
		"$BIN/kelpctl" -c "$CONF" get "$fid" -o "$K/got" || fail "$fid ($kind): kelpctl get failed"
		curl -sf -o "$K/want" "http://$url/$fid"
		cmp -s "$K/got" "$K/want" || fail "$fid ($kind, stored gzip $gz): kelpctl get differs from a plain curl"
		[ "$(sha256sum <"$K/got" | cut -d' ' -f1)" = "$sha" ] || fail "$fid ($kind): kelpctl get differs from the upload"
		"$BIN/kelpctl" -c "$CONF" get "$fid" --gunzip -o "$K/got" || fail "$fid ($kind): get --gunzip failed"
		[ "$(sha256sum <"$K/got" | cut -d' ' -f1)" = "$sha" ] || fail "$fid ($kind): --gunzip differs from the upload"
		"$BIN/kelpctl" -c "$CONF" get "$fid" --raw -o "$K/got" || fail "$fid ($kind): get --raw failed"
		curl_stored -o "$K/want" "http://$url/$fid"
		cmp -s "$K/got" "$K/want" || fail "$fid ($kind): get --raw differs from curl (as stored)"
		if [ "$gz" = 1 ]; then
			[ "$(head -c 2 "$K/got" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "$fid ($kind): --raw of a gzip-stored needle is not gzip"
			ngz=$((ngz + 1))
		fi
		n=$((n + 1))
	done < <(weed_manifest_rows live)
	[ "$ngz" -ge 1 ] || fail "no upload was stored gzipped: nothing checked the decompression"
}

# 1. force_http: the volume servers' directories are exported too, yet every read goes over HTTP.
start_kelpd forced "[export]
dirs = ${WEED_VOLUME_DIRS[0]}, ${WEED_VOLUME_DIRS[1]}
[seaweedfs]
master = $WEED_MASTER
http_timeout_ms = 10000
force_http = true"
check_gets
while IFS=$'\t' read -r fid _; do
	if "$BIN/kelpctl" -c "$CONF" get "$fid" -o "$K/got" 2>"$K/err"; then fail "deleted $fid read back"; fi
	grep -q "not found" "$K/err" || fail "deleted $fid: $(cat "$K/err")"
done < <(weed_manifest_rows deleted)
[ "$(path_count local)" = 0 ] || fail "force_http, yet $(path_count local) reads went local"
[ "$(path_count http)" -ge "$n" ] || fail "only $(path_count http) HTTP reads for $n fids"
hstat() { "$BIN/kelpctl" -c "$CONF" --json stats | jq -e --arg c "$1" '.http_fallback[$c]'; } # HTTP fallback counter
nvol=$(weed_manifest_rows live | cut -f1 | cut -d, -f1 | sort -u | wc -l)
[ "$(hstat lookups)" -le "$((nvol + $(weed_manifest_rows deleted | wc -l)))" ] ||
	fail "more lookups ($(hstat lookups)) than volumes: the location cache does not work"
# located volumes are read from the lcore (lcore_reads: lcore/tcp/http_reader.h) or from control's
# location cache (cache_hits), never looked up again; nothing failed over to control
[ "$(($(hstat cache_hits) + $(hstat lcore_reads)))" -gt 0 ] && [ "$(hstat conns_reused)" -gt 0 ] ||
	fail "no cache hits or no keep-alive reuse: $("$BIN/kelpctl" -c "$CONF" --json stats)"
[ "$(hstat lcore_reads)" -gt 0 ] && [ "$(hstat lcore_to_control)" = 0 ] ||
	fail "no HTTP read on the lcore, or one sent on to control: $("$BIN/kelpctl" -c "$CONF" --json stats)"
grep -q "^http fallback: " <<<"$("$BIN/kelpctl" -c "$CONF" stats)" || fail "kelpctl stats shows no HTTP fallback line"
echo "ok: force_http: kelpctl get of $n live fids ($ngz stored gzipped) equals a plain curl and the upload, --raw curl as stored; deleted -> ENOENT; all over HTTP"
echo "ok: $(hstat lookups) lookups for $nvol volumes, $(hstat cache_hits) cache hits, $(hstat lcore_reads) reads on the lcore, $(hstat conns_reused) reused connections"
# 1b. Many reads in flight at once (issue 12 item 5): 32 HTTP reads in flight on the lcore's own
#     io_uring (lcore/tcp/http_reader.h), the lcore parking between answers; every read must still
#     come back, once, with its own needle's bytes (kelp-bench --verify: size and CRC of each whole
#     needle), and all of them are served on the lcore (none through the control thread).
lr0=$(hstat lcore_reads) pl0=$(hstat pipelined)
"$BIN/kelp-bench" --mode local -c "$CONF" --volume-dir "${WEED_VOLUME_DIRS[0]}" \
	--volume-dir "${WEED_VOLUME_DIRS[1]}" -d 32 -n 3000 -s 65536 --wait --verify --json -q \
	>"$K/bench.json" 2>"$K/bench.err" || fail "kelp-bench -d 32 --verify over HTTP: $(cat "$K/bench.err" "$K/bench.json")"
bj() { jq -e "$1" "$K/bench.json"; }
[ "$(bj .ops)" -ge 3000 ] && [ "$(bj .errors)" = 0 ] && [ "$(bj .verify_failures)" = 0 ] ||
	fail "kelp-bench -d 32 over HTTP: $(cat "$K/bench.json")"
[ "$(($(hstat lcore_reads) - lr0))" -ge "$(bj .ops)" ] && [ "$(hstat lcore_to_control)" = 0 ] ||
	fail "$(bj .ops) reads at depth 32, not all on the lcore: $("$BIN/kelpctl" -c "$CONF" --json stats)"
# 32 in flight on an lcore with KELP_HTTP_READER_CONNS (8) connections per server: the rest are
# pipelined behind others (HTTP/1.1), and their answers were verified above like all the others
[ "$(($(hstat pipelined) - pl0))" -gt 0 ] ||
	fail "32 reads in flight on 8 connections, none pipelined: $("$BIN/kelpctl" -c "$CONF" --json stats)"
echo "ok: $(bj .ops) reads at depth 32 over HTTP, all verified, all served on the lcore, $(($(hstat pipelined) - pl0)) pipelined"
# 1c. Errors stay with their own requests in those batches: live and deleted fids interleaved, each
#     read once per pass (--seq), 40 passes at depth 32: exactly the deleted ones fail, with ENOENT.
: >"$K/mixed.fids"
for _ in $(seq 40); do
	weed_manifest_rows live | cut -f1 >>"$K/mixed.fids"
	weed_manifest_rows deleted | cut -f1 >>"$K/mixed.fids"
done
nmixed=$(wc -l <"$K/mixed.fids")
ndel=$((40 * $(weed_manifest_rows deleted | wc -l)))
[ "$ndel" -gt 0 ] || fail "the standard set has no deleted fids: 1c checks nothing"
"$BIN/kelp-bench" --mode local -c "$CONF" --fids "$K/mixed.fids" --seq -n "$nmixed" -d 32 -s 65536 \
	--wait --json -q >"$K/bench.json" 2>"$K/bench.err" || true
[ "$(bj .ops)" = "$nmixed" ] && [ "$(bj .errors)" = "$ndel" ] &&
	[ "$(bj '.errors_by_code | keys | join(",")')" = '"ENOENT"' ] ||
	fail "live + deleted fids at depth 32: want $ndel ENOENT of $nmixed: $(cat "$K/bench.json" "$K/bench.err")"
echo "ok: $nmixed reads of live and deleted fids at depth 32: exactly the $ndel deleted ones failed, ENOENT"
# the published location table (what lcores read lock-free) lists each volume where the master says
"$BIN/kelpctl" -c "$CONF" --json volumes >"$K/vols.json"
while IFS=$'\t' read -r fid _; do
	vid=${fid%%,*}
	got=$(python3 -c 'import json,sys
for v in json.load(open(sys.argv[1]))["remote"]:
    if v["id"] == int(sys.argv[2]): print(" ".join(v["locations"]))' "$K/vols.json" "$vid")
	[ "$got" = "$(weed_url "$fid")" ] || fail "volume $vid: published locations '$got', master says '$(weed_url "$fid")'"
done < <(weed_manifest_rows live)
grep -q "^remote" <<<"$("$BIN/kelpctl" -c "$CONF" volumes)" || fail "kelpctl volumes shows no remote volumes"
echo "ok: the published location table (read lock-free, kelpctl volumes) matches the master"

# 2. Ranges through kelpd (libkelp), plain large and gzip-stored text, against curl -r.
large=$(weed_manifest_rows live | awk -F'\t' '$6 == "large" { print $1 }')
text=$(weed_manifest_rows live | awk -F'\t' '$6 == "text" { print $1 }')
empty=$(weed_manifest_rows live | awk -F'\t' '$6 == "empty" { print $1 }')
cut0=$(hstat cut_bodies)
for fid in "$large" "$text"; do
	url=$(weed_url "$fid")
	total=$(curl_stored "http://$url/$fid" | wc -c)
	for spec in "0 1" "7 4096" "$((total / 2)) 65536" "$((total - 3)) 100"; do
		set -- $spec
		"$READ" -c "$CONF" --offset "$1" --length "$2" "$fid" >"$K/got" 2>"$K/meta"
		curl_stored -r "$1-$(($1 + $2 - 1))" "http://$url/$fid" >"$K/want"
		cmp -s "$K/got" "$K/want" || fail "$fid range $1+$2: differs from curl ($(cat "$K/meta"))"
		[ "$(field path "$(cat "$K/meta")")" = http ] || fail "$fid: not served by http: $(cat "$K/meta")"
		# from offset 0 the lcore asks without Range and cuts a body far past the buffer off
		# (cut_oversize): the needle's whole size must still be reported
		[ "$1" != 0 ] || [ "$(field size "$(cat "$K/meta")")" = "$total" ] ||
			fail "$fid range $1+$2: size is not the needle's $total: $(cat "$K/meta")"
	done
	"$READ" -c "$CONF" --offset "$((total + 1))" --length 10 "$fid" 2>"$K/meta" >/dev/null
	[ "$(field err "$(cat "$K/meta")")" = ERANGE ] || fail "$fid past the end: $(cat "$K/meta")"
done
# the 1-byte read at offset 0 of the large needle (1.5 MiB, far more than 64 KiB past the byte) was
# cut off, and kelpctl stats counts it (the text needle's may be received whole: at most 2)
cuts=$(($(hstat cut_bodies) - cut0))
[ "$cuts" -ge 1 ] && [ "$cuts" -le 2 ] || fail "cut_bodies went up by $cuts, want 1 or 2"
grep -q "needles cut off past the buffer" <<<"$("$BIN/kelpctl" -c "$CONF" stats)" ||
	fail "kelpctl stats does not show the cut-off needles"
"$READ" -c "$CONF" "$empty" 2>"$K/meta" >"$K/got"
[ "$(field result "$(cat "$K/meta")")" = 0 ] && [ ! -s "$K/got" ] || fail "empty: $(cat "$K/meta")"
echo "ok: ranges of a large and a gzip-stored needle equal curl -r; past the end -> ERANGE; empty -> 0 bytes; $cuts cut off (kelpctl stats)"

# 2b. Local: both servers' directories exported, no master: the needles weed wrote, gzip-stored
#     ones included, read from the volume files give what a plain curl gives (--raw: as stored).
start_kelpd local "[export]
dirs = ${WEED_VOLUME_DIRS[0]}, ${WEED_VOLUME_DIRS[1]}"
check_gets
[ "$(path_count http)" = 0 ] && [ "$(path_count local)" -ge "$n" ] ||
	fail "local: $(path_count local) local and $(path_count http) HTTP reads for $n fids"
echo "ok: local: kelpctl get of $n weed-written fids ($ngz stored gzipped) equals a plain curl, --raw curl as stored"

# 3. Mixed: volume server 0's directory exported (local), server 1's volumes over HTTP.
start_kelpd mixed "[export]
dirs = ${WEED_VOLUME_DIRS[0]}
[seaweedfs]
master = $WEED_MASTER
http_timeout_ms = 60000"
while IFS=$'\t' read -r fid url _; do
	"$BIN/kelpctl" -c "$CONF" get "$fid" -o "$K/got" || fail "$fid: mixed get failed"
	curl -sf -o "$K/want" "http://$url/$fid"
	cmp -s "$K/got" "$K/want" || fail "$fid: mixed read differs from curl"
done < <(weed_manifest_rows live)
loc=$(path_count local) http=$(path_count http)
[ "$loc" -gt 0 ] && [ "$http" -gt 0 ] || fail "mixed: expected both paths, local=$loc http=$http"
echo "ok: mixed: every fid equals curl, $loc local + $http HTTP reads"

# 4. Faults. The master stopped: locations cached in step 3 keep serving.
on1=$(weed_manifest_rows live | awk -F'\t' -v u="${WEED_VOLUME_URLS[1]}" '$2 == u { print $1; exit }')
on0=$(weed_manifest_rows live | awk -F'\t' -v u="${WEED_VOLUME_URLS[0]}" '$2 == u { print $1; exit }')
[ -n "$on1" ] && [ -n "$on0" ] || fail "standard set did not land on both volume servers"
mpid=${_WEED_PIDS[0]}
kill -STOP "$mpid"
at_exit "kill -CONT $mpid 2>/dev/null"
"$BIN/kelpctl" -c "$CONF" get "$on1" -o "$K/got" || { kill -CONT "$mpid"; fail "master stopped: cached location failed"; }
kill -CONT "$mpid"
echo "ok: master stopped -> cached locations keep working"
# volume server 1 hung (SIGSTOP: accepts, never answers) while a read of it is in flight on the
# lcore's own HTTP ring: the same lcore goes on serving its other reads (a local one here), and the
# hung read is answered once the server goes on (http_timeout_ms 60 s: far above any load here).
lr0=$(hstat lcore_reads)
vpid=${_WEED_PIDS[2]}
kill -STOP "$vpid"
at_exit "kill -CONT $vpid 2>/dev/null"
"$READ" -c "$CONF" "$on1" >"$K/hung.got" 2>"$K/hung.meta" &
rpid=$!
lcore_took_it() { [ "$(hstat lcore_reads)" -gt "$lr0" ]; }
wait_until 60 lcore_took_it || { kill -CONT "$vpid"; fail "the read of the hung server is not on the lcore"; }
kill -0 "$rpid" 2>/dev/null || { kill -CONT "$vpid"; fail "the read of a hung server ended: $(cat "$K/hung.meta")"; }
"$BIN/kelpctl" -c "$CONF" get "$on0" -o "$K/got" || { kill -CONT "$vpid"; fail "local read while an HTTP read hangs on the lcore failed"; }
kill -CONT "$vpid"
wait "$rpid" || fail "read of the hung server after SIGCONT: $(cat "$K/hung.meta")"
curl_stored "http://${WEED_VOLUME_URLS[1]}/$on1" >"$K/want"
cmp -s "$K/hung.got" "$K/want" || fail "read of the hung server, answered after SIGCONT, differs from curl"
echo "ok: volume server hung with a read in flight on the lcore: the lcore's local read went on; that read answered after SIGCONT"
# kelpd stopped while a read hangs on the lcore's HTTP ring: it ends with ECANCELED at once (as on
# the control thread, section 6), not after the 60 s timeout, and kelpd exits cleanly.
lr0=$(hstat lcore_reads)
kill -STOP "$vpid"
"$READ" -c "$CONF" "$on1" >/dev/null 2>"$K/hung.meta" &
rpid=$!
wait_until 60 lcore_took_it || { kill -CONT "$vpid"; fail "the read of the hung server is not on the lcore"; }
start=$SECONDS
stop_kelpd
kill -CONT "$vpid"
wait "$rpid" || fail "kelp_read failed: $(cat "$K/hung.meta")"
[ $((SECONDS - start)) -lt 40 ] || fail "stopping kelpd waited for the HTTP timeout" # not a timing check: 60 s
[ "$(field err "$(cat "$K/hung.meta")")" = ECANCELED ] || fail "read hanging on the lcore at stop: $(cat "$K/hung.meta")"
echo "ok: kelpd stopped with a read hanging on the lcore's HTTP ring -> ECANCELED at once"
start_kelpd mixed "[export]
dirs = ${WEED_VOLUME_DIRS[0]}
[seaweedfs]
master = $WEED_MASTER
http_timeout_ms = 60000"
"$BIN/kelpctl" -c "$CONF" get "$on1" -o "$K/got" || fail "$on1: read after restart failed" # locates it
# volume server 1 killed: its fid fails clearly, local reads and kelpd go on; on the lcore the
# refused connection sends the read on to control once (which skips that server: nothing left)
tc0=$(hstat lcore_to_control)
weed_kill_volume 1
if "$BIN/kelpctl" -c "$CONF" get "$on1" -o "$K/got" 2>"$K/err"; then fail "read from a killed server succeeded"; fi
grep -q "not local" "$K/err" || fail "killed server: unclear error: $(cat "$K/err")"
[ "$(hstat lcore_to_control)" -gt "$tc0" ] || fail "killed server: the read did not go from the lcore to control: $("$BIN/kelpctl" -c "$CONF" --json stats)"
"$BIN/kelpctl" -c "$CONF" get "$on0" -o "$K/got" || fail "local read after the kill failed"
"$BIN/kelpctl" -c "$CONF" status >/dev/null || fail "kelpd unhealthy after the kill"
echo "ok: volume server killed -> EHOSTUNREACH ($(cat "$K/err")); local reads and kelpd unaffected"

# 5. A malformed master: clear error, kelpd keeps serving.
at_exit bad_http_stop
bad_http_start lookup-bad-json "$K" || fail "bad_http.py did not start"
start_kelpd bad "[seaweedfs]
master = 127.0.0.1:$BAD_HTTP_PORT
http_timeout_ms = 10000"
if "$BIN/kelpctl" -c "$CONF" get 1,0123456789 -o "$K/got" 2>"$K/err"; then fail "malformed master: read succeeded"; fi
grep -q "malformed" "$K/err" || fail "malformed master: unclear error: $(cat "$K/err")"
"$BIN/kelpctl" -c "$CONF" status >/dev/null || fail "kelpd unhealthy after a malformed master"
echo "ok: malformed master answer -> $(cat "$K/err")"

# 6. kelpd stopped while a read hangs on a volume server that never answers: the read ends with
#    ECANCELED at once (not after the 60 s timeout) and kelpd exits cleanly.
bad_http_start get-hang "$K" || fail "bad_http.py did not start"
start_kelpd hang "[seaweedfs]
master = 127.0.0.1:$BAD_HTTP_PORT
http_timeout_ms = 60000"
"$READ" -c "$CONF" 1,0123456789 >/dev/null 2>"$K/hang.meta" &
rpid=$!
one_inflight() { [ "$(hstat inflight)" = 1 ]; }
wait_until 60 one_inflight || fail "the hanging read is not in flight"
start=$SECONDS
stop_kelpd
wait "$rpid" || fail "kelp_read failed: $(cat "$K/hang.meta")"
# Not a timing check: far below the 60 s HTTP timeout, far above a stop on a loaded machine.
[ $((SECONDS - start)) -lt 40 ] || fail "stopping kelpd waited for the HTTP timeout"
[ "$(field err "$(cat "$K/hang.meta")")" = ECANCELED ] || fail "hanging read: $(cat "$K/hang.meta")"
bad_http_stop
echo "ok: kelpd stopped with a read hanging on a volume server -> ECANCELED at once, clean exit"
grep -qi "sanitizer\|runtime error" "$K"/*.log && fail "sanitizer report in kelpd logs"
echo "ok: kelpd stopped cleanly"
