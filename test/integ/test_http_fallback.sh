#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The HTTP fallback (lcore/cluster/http_client.c + discovery.c + http_fallback.c, driven by
# build/test/integ/http_fetch) against a real SeaweedFS: every uploaded fid equals curl of the volume
# server byte for byte (as stored and inflated), ranges, empty, large, deleted -> ENOENT, STAT;
# one lookup per volume (requests park), keep-alive reuse; replica failover when a volume server is
# killed, -EHOSTUNREACH when no replica is left; master down -> cached (even expired) locations keep
# working; malformed HTTP and JSON from a broken server -> clear errors.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
. test/integ/lib/bad_http.sh
weed_require
FETCH=${HTTP_FETCH:-build/test/integ/http_fetch} # HTTP_FETCH=build-asan/... to run it sanitized
[ -x "$FETCH" ] || { echo "FAIL: $FETCH missing (make all)" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }
# field NAME LINE: the value of NAME=... in an http_fetch output line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

weed_start 2
weed_upload_standard_set
out=$WEED_DIR/fetch
mkdir -p "$out"
mapfile -t live < <(weed_manifest_rows live | cut -f1)
mapfile -t deleted < <(weed_manifest_rows deleted | cut -f1)

# 1. Whole needles as stored (Accept-Encoding: gzip), all at once: equal to curl of the server.
res=$("$FETCH" -m "$WEED_MASTER" -o "$out" "${live[@]}" "${deleted[@]}")
for fid in "${live[@]}"; do
	line=$(grep " $fid " <<<"$res") || fail "$fid: no result"
	[ "$(field result "$line")" -ge 0 ] || fail "$fid: $line"
	curl -sf -H 'Accept-Encoding: gzip' -o "$out/curl" "http://$(weed_url "$fid")/$fid"
	cmp -s "$out/$fid" "$out/curl" || fail "$fid: bytes differ from curl (as stored)"
	gz=$(weed_manifest_rows live | awk -F'\t' -v f="$fid" '$1 == f { print $7 }')
	[ "$(field gzip "$line")" = "$gz" ] || fail "$fid: gzip flag $(field gzip "$line"), manifest $gz"
done
for fid in "${deleted[@]}"; do
	line=$(grep " $fid " <<<"$res")
	[ "$(field result "$line")" = -2 ] || fail "deleted $fid should be -ENOENT: $line"
done
nvol=$(printf '%s\n' "${live[@]}" "${deleted[@]}" | cut -d, -f1 | sort -u | wc -l)
stats=$(grep '^stats' <<<"$res")
[ "$(field lookups "$stats")" -eq "$nvol" ] || fail "expected $nvol lookups (one per volume): $stats"
echo "ok: ${#live[@]} live fids equal curl as stored, ${#deleted[@]} deleted -> ENOENT, $nvol lookups for $(( ${#live[@]} + ${#deleted[@]} )) parked reads"

# 2. Inflated (no Accept-Encoding): equal to the uploaded bytes (manifest sha256); two rounds reuse
#    the cache and the keep-alive connections.
res=$("$FETCH" -m "$WEED_MASTER" --decompressed --rounds 2 -o "$out" "${live[@]}")
while IFS=$'\t' read -r fid url size sha _; do
	line=$(grep "^2 $fid " <<<"$res")
	[ "$(field result "$line")" = "$size" ] || fail "$fid inflated: $line (want $size bytes)"
	[ "$(sha256sum <"$out/$fid" | cut -d' ' -f1)" = "$sha" ] || fail "$fid: inflated bytes differ from upload"
done < <(weed_manifest_rows live)
stats=$(grep '^stats' <<<"$res")
[ "$(field hits "$stats")" -ge "${#live[@]}" ] || fail "round 2 should hit the cache: $stats"
[ "$(field conns_reused "$stats")" -gt 0 ] || fail "no keep-alive reuse: $stats"
echo "ok: inflated reads equal the uploads; round 2 from cache over reused connections"

# 3. Ranges (inflated and as stored), the end of a needle, past it; STAT.
large=$(weed_manifest_rows live | awk -F'\t' '$6 == "large" { print $1 }')
text=$(weed_manifest_rows live | awk -F'\t' '$6 == "text" { print $1 }')
empty=$(weed_manifest_rows live | awk -F'\t' '$6 == "empty" { print $1 }')
lsize=$(weed_manifest_rows live | awk -F'\t' '$6 == "large" { print $3 }')
for spec in "0 1" "1 4096" "1000000 65536" "$((lsize - 10)) 100"; do
	set -- $spec
	"$FETCH" -m "$WEED_MASTER" --decompressed --offset "$1" --length "$2" -o "$out" "$large" >/dev/null
	curl -sf -r "$1-$(($1 + $2 - 1))" "http://$(weed_url "$large")/$large" | cmp -s - "$out/$large" ||
		fail "$large range $1+$2 differs from curl"
	"$FETCH" -m "$WEED_MASTER" --offset "$1" --length "$2" -o "$out" "$text" >/dev/null
	tsize=$(curl -sf -H 'Accept-Encoding: gzip' "http://$(weed_url "$text")/$text" | wc -c)
	if [ "$1" -lt "$tsize" ]; then
		curl -sf -H 'Accept-Encoding: gzip' -r "$1-$(($1 + $2 - 1))" "http://$(weed_url "$text")/$text" |
			cmp -s - "$out/$text" || fail "$text (gzip stored) range $1+$2 differs from curl"
	fi
done
line=$("$FETCH" -m "$WEED_MASTER" --offset "$lsize" --length 10 "$large" | sed -n 1p)
[ "$(field result "$line")" = 0 ] && [ "$(field size "$line")" = "$lsize" ] || fail "read at the end: $line"
line=$("$FETCH" -m "$WEED_MASTER" --offset "$((lsize + 1))" --length 10 "$large" | sed -n 1p)
[ "$(field result "$line")" = -34 ] || fail "read past the end should be -ERANGE: $line"
line=$("$FETCH" -m "$WEED_MASTER" --length 4096 "$empty" | sed -n 1p)
[ "$(field result "$line")" = 0 ] && [ "$(field size "$line")" = 0 ] || fail "empty needle: $line"
line=$("$FETCH" -m "$WEED_MASTER" --stat --decompressed "$large" | sed -n 1p)
[ "$(field result "$line")" = 0 ] && [ "$(field size "$line")" = "$lsize" ] || fail "stat: $line"
echo "ok: ranges equal curl (inflated and gzip as stored), end -> 0, past end -> ERANGE, empty, stat"

# 4. Master down: cached locations keep working, also once expired (ttl 1 s). (The timeout is what
#    round 2 waits for the stopped master; round 1 must get its answer within it on a busy machine.)
plain=$(weed_manifest_rows live | awk -F'\t' '$6 == "plain" { print $1; exit }')
mpid=${_WEED_PIDS[0]}
res=$("$FETCH" -m "$WEED_MASTER" --ttl 1 --rounds 2 --between "kill -STOP $mpid; sleep 1.5" \
	--timeout-ms 5000 -o "$out" "$plain")
kill -CONT "$mpid"
line=$(grep "^2 $plain " <<<"$res")
[ "$(field result "$line")" -gt 0 ] || fail "with the master stopped, cached locations failed: $line"
stats=$(grep '^stats' <<<"$res")
[ "$(field stale_served "$stats")" -ge 1 ] || fail "expected stale locations served: $stats"
echo "ok: master unreachable -> expired cached locations still serve reads"

# 5. Master list failover: a dead master first, the real one second.
dead=127.0.0.1:$(weed_free_port)
res=$("$FETCH" -m "$dead,$WEED_MASTER" -o "$out" "$plain")
[ "$(field result "$(head -n1 <<<"$res")")" -gt 0 ] || fail "failover to the second master: $res"
[ "$(field failovers "$(grep '^stats' <<<"$res")")" -ge 1 ] || fail "no failover counted: $res"
line=$("$FETCH" -m "$dead" --timeout-ms 500 "$plain" | sed -n 1p)
[ "$(field result "$line")" = -113 ] || fail "no master reachable should be -EHOSTUNREACH: $line"
echo "ok: master failover; no master at all -> EHOSTUNREACH"

# 6. Replica failover: a file replicated on both volume servers (replication 001) survives the kill
#    of the server tried first; a non-replicated file on the killed server -> EHOSTUNREACH.
head -c 7777 /dev/urandom >"$WEED_DIR/repl.bin"
assign=$(weed_assign replication=001) || fail "no fid with replication 001"
rfid=$(weed_json fid <<<"$assign") rurl=$(weed_json url <<<"$assign")
curl -sf -F "file=@$WEED_DIR/repl.bin" "http://$rurl/$rfid" >/dev/null || fail "upload with replication 001"
first=$("$FETCH" -m "$WEED_MASTER" "$rfid" | sed -n 1p)
first_server=$(field server "$first")
victim=-1
for i in 0 1; do [ "${WEED_VOLUME_URLS[i]}" = "$first_server" ] && victim=$i; done
[ "$victim" -ge 0 ] || fail "replicated read served by unknown server: $first"
# a plain (single-copy) fid on the victim (weed_url names only the first copy: count them all)
lone=""
while IFS=$'\t' read -r fid url _; do
	[ "$url" = "$first_server" ] && [ "$(weed_locations "$fid" | wc -w)" -eq 1 ] && { lone=$fid; break; }
done < <(weed_manifest_rows live)
[ -n "$lone" ] || fail "no single-copy fid on $first_server (the standard set puts plain ones on each server)"
res=$("$FETCH" -m "$WEED_MASTER" --rounds 2 --between "kill -9 ${_WEED_PIDS[$((victim + 1))]}" \
	-o "$out" "$rfid" "$lone")
line=$(grep "^2 $rfid " <<<"$res")
[ "$(field result "$line")" = 7777 ] || fail "replica failover: $line"
[ "$(field server "$line")" != "$first_server" ] || fail "served by the killed server? $line"
cmp -s "$out/$rfid" "$WEED_DIR/repl.bin" || fail "replica bytes differ"
line=$(grep "^2 $lone " <<<"$res")
[ "$(field result "$line")" = -113 ] || fail "only copy on a killed server should be -EHOSTUNREACH: $line"
echo "ok: volume server killed -> replica serves the same bytes; single copy -> EHOSTUNREACH"

# 7. A broken server: malformed lookups and responses give clear errors, never a hang or crash.
at_exit bad_http_stop
bad() { # MODE -> the first result line of a read through a bad_http.py in that mode
	bad_http_start "$1" "$WEED_DIR" || fail "bad_http.py $1 did not start"
	# 5 s: only get-hang waits it out; the others answer at once, if late on a busy machine
	"$FETCH" -m "127.0.0.1:$BAD_HTTP_PORT" --timeout-ms 5000 --length 100 1,0123456789 | sed -n 1p
	bad_http_stop
}
for spec in lookup-garbage:-74 lookup-bad-json:-74 lookup-500:-5 get-garbage:-74 \
	get-bad-length:-74 get-truncated:-113 get-huge-header:-74 get-500:-5 \
	get-no-content-range:-74 get-hang:-113; do
	mode=${spec%%:*} want=${spec#*:}
	line=$(bad "$mode")
	[ "$(field result "$line")" = "$want" ] || fail "$mode: want result=$want, got: $line"
	echo "ok: $mode -> $(field err "$line")"
done
line=$(bad lookup-503)
[ "$(field result "$line")" = -11 ] || fail "lookup-503: want -EAGAIN after retries, got: $line"
echo "ok: lookup-503 -> retried after Retry-After, then $(field err "$line")"
