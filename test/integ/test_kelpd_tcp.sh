#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote reads over TCP between two kelpd (issue 12), against a real SeaweedFS on loopback: an
# exporting kelpd beside the volume server ([export] dirs = its directory, [peer] tcp_listen) and a
# reading kelpd (masters only, RDMA off). Checks:
#   1. every live fid read with KELP_SQE_F_TCP_ONLY equals curl of the volume server as stored
#      (small, gzip-stored, empty, 1 MiB, 1.5 MiB, 6 MiB: larger than the reader's staging buffer and
#      the exporter's send buffer), served over TCP; deleted -> ENOENT over TCP; ranges;
#   2. the same through normal routing (local -> RDMA (off) -> TCP -> HTTP): path tcp;
#   3. the exporter killed under load: each in-flight read goes on to HTTP exactly once (counters:
#      requests = replies + fallbacks), no read fails; restarted: reads go over TCP again;
#   4. hostile peers: garbage instead of a handshake, garbage frames after a valid one: that
#      connection closes, the exporter keeps serving the reader; a wrong secret is refused (by the
#      exporter for a hostile script, and between two kelpd: the reader falls back to HTTP);
#   5. large needles (1 MiB, 3 MiB: sent from the exporter's mapping) read with --verify while their
#      volumes are vacuumed twice: no wrong bytes, no failed read, reads over TCP throughout, and
#      every replaced .dat unmapped by the exporter afterwards (its sends from a mapping hold the
#      epoch only while they are in flight); a peer that stops reading has its connection reset
#      (KELP_TCP_EXPORT_SEND_MS), the reader kelpd keeps reading over TCP;
#   6. [peer] idle_timeout_s = 1: a silent connection is closed, one with a reply in flight is not,
#      the reader kelpd reconnects after its idle connection was closed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/weed.sh
weed_require
BIN=${BIN:-build/bin} # BIN=build-asan/bin runs kelpd sanitized
READ=${BIN%/bin}/test/integ/kelp_read
PEER=test/integ/lib/tcp_peer.py
for b in "$BIN/kelpd" "$BIN/kelpctl" "$BIN/kelp-bench" "$READ"; do
	[ -x "$b" ] || { echo "FAIL: $b missing (make all)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "skip: jq missing"; exit 77; }

fail() {
	echo "FAIL: $*" >&2
	for l in "$K"/*.log; do echo "--- $l" >&2; tail -n 15 "$l" >&2; done
	exit 1
}

weed_start 1
weed_upload_standard_set
K=$WEED_DIR/kelp
mkdir -p "$K"
head -c $((1 << 20)) /dev/urandom >"$K/onemib.bin"
head -c $((6 << 20)) /dev/urandom >"$K/six.bin"
weed_upload "$K/onemib.bin" onemib >/dev/null
weed_upload "$K/six.bin" six >/dev/null
VS=${WEED_VOLUME_URLS[0]}
read -r TPORT <<<"$(weed_free_ports 1)"
SECRET=kelp-test-secret-0123456789

declare -A PIDS=()
# start NAME CONF_BODY: a kelpd with one lcore (parking when idle) and the given sections
start() {
	local name=$1 conf=$K/$1.conf
	cat >"$conf" <<EOF
[engine]
lcores = 1
control_cpu = -1
socket = $K/$name.sock
arena_mb = 32
queue_depth = 64
idle_park_us = 200
[rdma]
device = off
$2
EOF
	rm -f "$K/$name.sock"
	"$BIN/kelpd" -c "$conf" >>"$K/$name.log" 2>&1 &
	PIDS[$name]=$!
	wait_until 60 answers_or_gone "$name" && kill -0 "${PIDS[$name]}" 2>/dev/null ||
		fail "kelpd $name did not start"
}
answers_or_gone() {
	{ [ -S "$K/$1.sock" ] && "$BIN/kelpctl" -c "$K/$1.conf" status >/dev/null 2>&1; } ||
		! kill -0 "${PIDS[$1]}" 2>/dev/null
}
stop() {
	local pid=${PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -"${2:-TERM}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	PIDS[$1]=""
}
stop_all() { for n in "${!PIDS[@]}"; do stop "$n"; done; }
at_exit stop_all
peers() { "$BIN/kelpctl" -c "$K/$1.conf" --json peers; }
replies_above() { [ "$(peers reader | jq '.tcp.peers[0].replies')" -gt "$1" ]; }
EXPORTER="[export]
dirs = ${WEED_VOLUME_DIRS[0]}
[peer]
tcp_listen = 127.0.0.1:$TPORT
secret = $SECRET"
READER="[seaweedfs]
master = $WEED_MASTER
[peer]
transports = tcp
tcp_peers = $VS=127.0.0.1:$TPORT
secret = $SECRET"
start exporter "$EXPORTER"
start reader "$READER"

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
# tcp_read FID [ARGS...]: kelp_read --tcp-only on the reader into $K/got; prints its status line
tcp_read() { "$READ" -c "$K/reader.conf" --tcp-only "$@" 2>&1 >"$K/got" || true; }
tcp_ok() { local l; l=$(tcp_read "$1") && [ "$(field path "$l")" = tcp ]; }

# warm up: a normal read locates the volume (HTTP) and starts the connection; then TCP answers
mapfile -t live < <(weed_manifest_rows live | cut -f1)
mapfile -t deleted < <(weed_manifest_rows deleted | cut -f1)
# (the masters' locations are learnt per volume: one normal read of each fid first)
for fid in "${live[@]}" "${deleted[@]}"; do
	"$READ" -c "$K/reader.conf" "$fid" >/dev/null 2>&1 || fail "first read of $fid"
done
wait_until 30 tcp_ok "${live[0]}" || fail "no TCP read of ${live[0]} within 30 s: $(peers reader)"

# 1. every live fid over TCP only, equal to the volume server's bytes as stored
n=0 ngz=0
while IFS=$'\t' read -r fid url size sha state kind gz _; do
	line=$(tcp_read "$fid")
	[ "$(field path "$line")" = tcp ] || fail "$fid ($kind): not over TCP: $line"
	curl -sf -H 'Accept-Encoding: gzip' -o "$K/want" "http://$url/$fid"
	cmp -s "$K/got" "$K/want" || fail "$fid ($kind): TCP bytes differ from the volume server's"
	[ "$(field gzip "$line")" = "$gz" ] || fail "$fid: gzip flag $(field gzip "$line"), want $gz"
	n=$((n + 1)) ngz=$((ngz + gz))
done < <(weed_manifest_rows live)
for fid in "${deleted[@]}"; do
	line=$(tcp_read "$fid")
	[ "$(field err "$line")" = ENOENT ] && [ "$(field path "$line")" = tcp ] ||
		fail "deleted $fid over TCP: $line"
done
six=$(weed_manifest_rows live | awk -F'\t' '$6 == "six" { print $1 }')
for spec in "0 1" "4095 8192" "$(((6 << 20) - 100)) 4096" "3000000 2000000"; do
	set -- $spec
	line=$(tcp_read "$six" --offset "$1" --length "$2")
	curl -sf -r "$1-$(($1 + $2 - 1))" "http://$VS/$six" | cmp -s - "$K/got" ||
		fail "$six range $1+$2 over TCP differs: $line"
done
echo "ok: $n live fids over TCP only equal the volume server's bytes ($ngz stored gzip, 1 MiB, 6 MiB), ${#deleted[@]} deleted -> ENOENT, ranges"

# 2. normal routing: no local copy, RDMA off -> TCP
while IFS=$'\t' read -r fid url size sha state kind gz _; do
	line=$("$READ" -c "$K/reader.conf" "$fid" 2>&1 >"$K/got")
	[ "$(field path "$line")" = tcp ] || fail "$fid: routed to $(field path "$line"), want tcp"
	curl -sf -H 'Accept-Encoding: gzip' -o "$K/want" "http://$url/$fid"
	cmp -s "$K/got" "$K/want" || fail "$fid: routed read differs"
done < <(weed_manifest_rows live)
p=$(peers reader)
[ "$(jq '.tcp.peers[0].errors' <<<"$p")" = 0 ] || fail "reader counted errors: $p"
txt=$("$BIN/kelpctl" -c "$K/reader.conf" peers)
[[ $txt == *"127.0.0.1:$TPORT"*" up "* ]] || fail "kelpctl peers does not show the TCP connection up: $txt"
echo "ok: normal routing serves them over TCP ($(jq -c '.tcp.peers[0] | {requests, replies, bytes}' <<<"$p"))"

# 5. large needles from the exporter's mapping while the volumes are vacuumed
: >"$K/big.txt"
: >"$K/gone.txt"
for i in 1 2 3 4 5 6; do # interleaved, so that the vacuumed volumes hold both sets
	python3 bench/weed-fill.py --master "$WEED_MASTER" -n 2 --size $((1 << 20)) >>"$K/big.txt"
	python3 bench/weed-fill.py --master "$WEED_MASTER" -n 1 --size $((3 << 20)) >>"$K/big.txt"
	python3 bench/weed-fill.py --master "$WEED_MASTER" -n 8 --size 32768 >>"$K/gone.txt"
done
for fid in $(cat "$K/big.txt"); do # locate their volumes (HTTP once)
	"$READ" -c "$K/reader.conf" "$fid" >/dev/null 2>&1 || fail "first read of $fid"
done
VDIR=${WEED_VOLUME_DIRS[0]}
"$BIN/kelp-bench" --socket "$K/reader.sock" --volume-dir "$VDIR" --fids "$K/big.txt" \
	--size $((3 << 20)) --depth 4 --verify --wait -D 600 --json --quiet >"$K/vac.json" \
	2>"$K/vac.err" &
BENCH=$!
tcp_replies() { peers reader | jq '.tcp.peers[0].replies'; }
base=$(tcp_replies)
wait_until 60 replies_above $((base + 20)) || fail "no large reads over TCP: $(cat "$K/vac.err")"
while read -r fid; do
	curl -sf -X DELETE "http://$VS/$fid" >/dev/null || fail "DELETE $fid"
done <"$K/gone.txt"
weed_vacuum || fail "vacuum failed"
mid=$(tcp_replies)
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 4 --size 32768 >/dev/null
weed_vacuum || fail "second vacuum failed"
[ "$(weed_compaction_revision "$VDIR")" -gt 0 ] || fail "the vacuum compacted nothing"
# the reader keeps reading over TCP from the new files
wait_until 60 replies_above $(($(tcp_replies) + 20)) || fail "no TCP reads after the vacuum: $(peers reader)"
kill -INT "$BENCH"
wait "$BENCH" || fail "kelp-bench under vacuum: $(cat "$K/vac.err" "$K/vac.json")"
jq -e '.verify_failures == 0 and .errors == 0 and .verified > 0 and .verified == .ops' \
	"$K/vac.json" >/dev/null || fail "large reads under vacuum: $(cat "$K/vac.json")"
[ "$mid" -gt "$base" ] || fail "no TCP reads between the start and the first vacuum"
old_maps() { grep -c "$VDIR/.*\.dat (deleted)" "/proc/${PIDS[exporter]}/maps" || true; }
no_old_maps() { [ "$(old_maps)" = 0 ]; }
wait_until 60 no_old_maps || fail "the exporter still maps $(old_maps) replaced .dat files"
echo "ok: $(jq .verified "$K/vac.json") large reads verified while the volumes were vacuumed twice ($(($(tcp_replies) - base)) over TCP), replaced files unmapped"

# a peer that stops reading: its connection is reset, the reader kelpd goes on over TCP
python3 "$PEER" "127.0.0.1:$TPORT" stall "$SECRET" "$six" 4 || fail "a stalled peer kept its connection: $(peers exporter)"
tcp_ok "${live[0]}" || fail "the reader's TCP reads stopped after the stalled peer"
wait_until 60 no_old_maps || fail "old mappings after the stalled peer"
echo "ok: a peer that stopped reading was reset, the reader still reads over TCP"

# 3. exporter killed under load: in-flight reads go to HTTP exactly once, none fails
weed_manifest_rows live | awk -F'\t' '$6 == "plain" { print $1 }' >"$K/fids"
# (rate-limited, so that it is still reading when the exporter dies: 40,000 reads take >= 8 s)
"$BIN/kelp-bench" --socket "$K/reader.sock" --fids "$K/fids" --size 65536 --depth 32 \
	--count 40000 --rate 5000 --json --quiet >"$K/bench.json" 2>"$K/bench.err" &
BENCH=$!
base=$(peers reader | jq '.tcp.peers[0].replies')
wait_until 60 replies_above $((base + 500)) || fail "no TCP reads under load: $(cat "$K/bench.err" "$K/bench.json"; peers reader)"
stop exporter KILL
wait "$BENCH" || fail "kelp-bench failed after the exporter died: $(cat "$K/bench.err")"
[ "$(jq '.errors' "$K/bench.json")" = 0 ] || fail "reads failed when the exporter died: $(cat "$K/bench.json")"
p=$(peers reader | jq '.tcp.peers[0]')
req=$(jq .requests <<<"$p") rep=$(jq .replies <<<"$p") fb=$(jq .fallbacks <<<"$p")
[ "$(jq .in_flight <<<"$p")" = 0 ] || fail "requests still in flight on a dead connection: $p"
[ "$req" -eq $((rep + fb)) ] || fail "requests $req != replies $rep + sent on to HTTP $fb: $p"
[ "$(jq .resets <<<"$p")" -ge 1 ] || fail "no reset counted: $p"
http=$("$BIN/kelpctl" -c "$K/reader.conf" --json stats | jq '.total.by_path.http')
[ "$http" -gt 0 ] || fail "nothing went to HTTP"
echo "ok: exporter killed: $fb in-flight reads sent on to HTTP once each ($req = $rep + $fb), no read failed"
start exporter "$EXPORTER"
wait_until 30 tcp_ok "${live[0]}" || fail "TCP did not come back after the exporter restarted: $(peers reader)"
echo "ok: exporter restarted: reads over TCP again"

# 4. hostile peers, while the reader keeps reading over TCP
python3 "$PEER" "127.0.0.1:$TPORT" nohs || fail "garbage before the handshake"
python3 "$PEER" "127.0.0.1:$TPORT" badsecret wrong-secret-0123456789 || fail "wrong secret"
python3 "$PEER" "127.0.0.1:$TPORT" garbage "$SECRET" || fail "garbage frame"
tcp_ok "${live[0]}" || fail "the reader's TCP reads stopped after the hostile peers"
plain=$(weed_manifest_rows live | awk -F'\t' '$6 == "plain" { print $1; exit }')
python3 "$PEER" "127.0.0.1:$TPORT" read "$SECRET" "$plain" || fail "a correct script peer"
ex=$(peers exporter | jq '.tcp.export')
[ "$(jq .malformed <<<"$ex")" -ge 1 ] && [ "$(jq .refused <<<"$ex")" -ge 2 ] ||
	fail "exporter counters: $ex"
kill -0 "${PIDS[exporter]}" || fail "exporter died"
echo "ok: hostile peers closed, wrong secret refused, the exporter keeps serving ($(jq -c '{refused, malformed}' <<<"$ex"))"

# 6. [peer] idle_timeout_s: a reader connection with nothing in flight that stays silent is closed
# (a reader gone without a FIN would hold it until restart); one whose reply is still in flight is
# not; a reader kelpd whose idle connection was closed reads over TCP again
stop exporter
start exporter "$EXPORTER
idle_timeout_s = 1"
wait_until 30 tcp_ok "${live[0]}" || fail "no TCP reads from the restarted exporter: $(peers reader)"
python3 "$PEER" "127.0.0.1:$TPORT" idle "$SECRET" || fail "a silent reader connection was not closed"
# (2.5 s unread: longer than idle_timeout_s, shorter than the export's 5 s send limit)
python3 "$PEER" "127.0.0.1:$TPORT" stuck "$SECRET" "$six" 2.5 ||
	fail "a connection whose 6 MiB reply was not read for 2.5 s (> idle_timeout_s) was closed"
idle_closed_ge() { [ "$(peers exporter | jq '.tcp.export.idle_closed')" -ge "$1" ]; }
# the silent script's and the reader kelpd's (idle since its last read)
wait_until 60 idle_closed_ge 2 || fail "idle connections not closed: $(peers exporter | jq -c .tcp.export)"
wait_until 30 tcp_ok "${live[0]}" || fail "no TCP reads after the idle close: $(peers reader)"
echo "ok: idle_timeout_s: silent connections closed ($(peers exporter | jq .tcp.export.idle_closed)), a reply in flight kept, the reader reconnects"

# a reader kelpd with another secret: refused, its reads go to HTTP
stop reader
start reader "${READER/$SECRET/another-secret-9876543210}"
"$READ" -c "$K/reader.conf" "${live[0]}" >/dev/null 2>&1 || fail "read with a wrong secret"
refused_err() {
	"$READ" -c "$K/reader.conf" "${live[0]}" >/dev/null 2>&1 # locates, then asks for a connection
	[ "$(peers reader | jq -r '.tcp.peers[0].last_error // ""')" = "Permission denied" ]; }
wait_until 30 refused_err || fail "the wrong secret was not refused: $(peers reader)"
line=$("$READ" -c "$K/reader.conf" "${live[0]}" 2>&1 >/dev/null)
[ "$(field path "$line")" = http ] || fail "with a wrong secret reads should use HTTP: $line"
line=$(tcp_read "${live[0]}")
[ "$(field err "$line")" = ENOTCONN ] || fail "TCP-only with a wrong secret: $line"
echo "ok: a kelpd with another secret is refused; its reads use HTTP"

# both stop cleanly (under ASan: no leak, no error at exit)
for n in reader exporter; do
	rc=0
	kill -TERM "${PIDS[$n]}"
	wait "${PIDS[$n]}" || rc=$?
	PIDS[$n]=""
	[ "$rc" = 0 ] || fail "kelpd $n exited with $rc"
done
echo "ok: both kelpd stop cleanly"
