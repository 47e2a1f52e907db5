#!/bin/bash
# Inside the Soft-RoCE VM: kelpd's RDMA reader side (lcore/rdma/rdma_reader.h) against the real SeaweedFS
# that test/rdma/run.sh started on the host (test/rdma/host-weed.sh; reached at 10.0.2.2):
#   - an export kelpd on rxe0 ([rdma] listen) exports the volume server's own data directory (the
#     host's files over the 9p repository mount);
#   - a reader kelpd on rxe1 with no local volumes, `[seaweedfs] master = 10.0.2.2:...`,
#     `volume_address = public_url` and `[rdma] peers` mapping the volume server to the export kelpd.
# It checks:
#   1. every live fid read through the reader kelpd (libkelp, one session: kelp_client) equals the
#      volume server's stored bytes (curl on the host); deleted fids are ENOENT; once each volume
#      was located (the first read of a volume asks the master, over HTTP), a second round is served
#      by RDMA exactly (CQE path), every live needle: those larger than the export's 1 MiB bounce
#      buffers too (RDMA-written in pieces), each with its CRC checked by the reader;
#      kelpd's per-path counters (kelpctl stats), `kelpctl peers` and the export's counters agree;
#   2. with readers looping (3 sessions), the export kelpd is killed (SIGKILL): reads in flight and
#      after move to HTTP, zero wrong bytes and zero errors;
#   3. the export kelpd restarted: the reader reconnects (backoff) and reads are served by RDMA again;
#   4. the reader kelpd killed (SIGKILL: its QP vanishes without a word to the export) and restarted:
#      its new connection replaces the old one at the export (same reader id, new incarnation), so
#      the export has exactly one connection up, not a half-open one besides it;
#   5. one-sided reads ([rdma] one_sided, on by default): once the reader has each volume's VOLMAP
#      and index, a round of every fid is served by verified RDMA READs (every needle whose record
#      lies in the export's registered whole pages; the rest two-sided), bytes equal, none failed
#      verification; the export's log says how rxe took the registration;
#   6. a needle overwritten on the volume server while it is read: every read is the old or the new
#      bytes, never a mix (through 9p the export kelpd may keep seeing the old: see below);
#   7. a needle corrupted in the .dat (one data byte): its reads are EIO (no healthy replica here),
#      never the corrupt bytes with the CRC-checked flag; restored afterwards;
#   (not here: a vacuum during one-sided reads. In this VM neither fresh deletes nor a vacuum of
#   the host's volume server became visible to the export kelpd within 300 s - 9p, it seems - so
#   vacuum, overwrite and stale indexes are covered by test/unit/test_rdma_reader_route.c.)
# Exit 0 pass, 1 fail, 77 skip (no SeaweedFS on the host).
set -u
. test/rdma/guest-lib.sh
[ -n "${KELP_RDMA_WEED_ENV:-}" ] && [ -s "$KELP_RDMA_WEED_ENV" ] ||
	{ echo "skip: no SeaweedFS on the host (run through test/rdma/run.sh with weed installed)"; exit 77; }
. "$KELP_RDMA_WEED_ENV"
BIN=build/bin
CLIENT=build/test/integ/kelp_client
[ -x "$CLIENT" ] || { echo "FAIL: $CLIENT not built (make all)"; exit 1; }
command -v jq > /dev/null || { echo "FAIL: jq missing (make deps)"; exit 1; }
W=$(mktemp -d /tmp/kelpd-rdma-read.XXXXXX)
EXP=169.254.77.1:18516
EXPORT_PID= READER_PID=
LOOP_PIDS=()
cleanup() {
	for p in "${LOOP_PIDS[@]}" $EXPORT_PID $READER_PID; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$W"/*.log; do echo "--- $f"; tail -25 "$f"; done
	exit 1
}
ctl() { "$BIN/kelpctl" --socket "$W/$1.sock" "${@:2}"; }
# jget PATH: a value from kelpctl's JSON on stdin, PATH like total.by_path.rdma or peers.0.state
# (jq: starting python3 under TCG on a loaded host takes seconds)
jget() { jq -r ".$(sed 's/\.\([0-9][0-9]*\)/[\1]/g' <<< "$1")"; }

# the export lcore never parks (lcore/rdma/rdma_export.h): give each kelpd its own CPU
cat > "$W/export.conf" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $W/export.sock
arena_mb = 8
[export]
dirs = $WEED_VS_DIR
[rdma]
device = rxe0
gid_index = 0
listen = $EXP
CONF
cat > "$W/reader.conf" <<CONF
[engine]
lcores = 0
control_cpu = -1
socket = $W/reader.sock
idle_park_us = 200
arena_mb = 8
[seaweedfs]
master = $WEED_MASTER_GUEST
volume_address = public_url
http_timeout_ms = 20000
[rdma]
device = rxe1
gid_index = 0
peers = $WEED_VS_GUEST=$EXP
# TCG on a loaded host can be slow to answer: no HTTP fallback for a merely slow reply (round 2
# wants every read over RDMA); the export's death in part 2 costs one such wait
request_timeout_ms = 15000
CONF
start_export() {
	"$BIN/kelpd" -c "$W/export.conf" >> "$W/export.log" 2>&1 &
	EXPORT_PID=$!
	wait_tcp_listen 18516 || fail "export kelpd did not listen on $EXP"
}
start_export
wait_socket "$W/export.sock" || fail "export kelpd has no socket"
nvol=$(ctl export status --json | jget volumes)
[ "$nvol" -ge 1 ] || fail "export kelpd serves no volumes from $WEED_VS_DIR"
start_reader() {
	"$BIN/kelpd" -c "$W/reader.conf" >> "$W/reader.log" 2>&1 &
	READER_PID=$!
	wait_socket "$W/reader.sock" || fail "reader kelpd has no socket"
}
start_reader
grep -q "RDMA reads on rxe1" "$W/reader.log" || fail "reader kelpd did not enable RDMA reads"
[ "$(ctl reader status --json | jget volumes)" = 0 ] || fail "reader kelpd has local volumes"
echo "   export kelpd: $nvol volumes of the host's volume server; reader: none local"

n_live=$(echo $WEED_LIVE | wc -w)
n_del=$(echo $WEED_DELETED | wc -w)
n_large=$(echo $WEED_LARGE | wc -w)
# check_rounds DIR...: each round DIR/ holds exactly the live fids with curl's bytes (md5), every
# live result in DIR.lines is >= 0 with a path, every deleted one -2 (ENOENT); prints the summed
# path counts "local rdma http". One md5sum and two awk for any number of rounds: the VM is slow at
# starting processes, and the expected bytes were hashed once.
check_rounds() {
	local files=() d out
	for d; do files+=("$d"/*); done
	out=$( { md5sum "${files[@]}" 2>&1; } | awk -v sums="$W/expect.md5" -v n="$n_live" -v nd=$# '
		BEGIN { while ((getline l < sums) > 0) { split(l, f, " "); want[f[2]] = f[1] }
			if (!length(want)) { print "BAD no expected sums in " sums; exit } }
		{ k = $2; sub(/.*\//, "", k); d = $2; sub(/\/[^\/]*$/, "", d); per[d]++ }
		!(k in want) { print "BAD " $0 ": not a live fid"; next }
		want[k] != $1 { print "BAD " $2 ": bytes differ from the volume server'"'"'s" }
		END { for (d in per) { m++; if (per[d] != n) print "BAD " d ": " per[d] " files, want " n }
		      if (m != nd) print "BAD " m " round dirs hold files, want " nd }') ||
		fail "checking the bytes failed: $out"
	[ -z "$out" ] || fail "$(head -5 <<< "$out")"
	local lines=()
	for d; do lines+=("$d.lines"); done
	out=$(awk -v del=" $WEED_DELETED " -v want=$((n_live + n_del)) -v nf=$# '
		{ cnt[FILENAME]++; path = (index("0123456789abcdef", substr($4, length($4))) - 1) % 4 }
		index(del, " " $1 " ") { if ($2 != -2) print "BAD " FILENAME ": deleted " $1 ": " $2; next }
		$2 !~ /^[0-9]+$/ || path == 0 { print "BAD " FILENAME ": " $0; next }
		{ p[path]++ }
		END { for (f in cnt) { m++; if (cnt[f] != want) print "BAD " f ": " cnt[f] " results" }
		      if (m != nf) print "BAD " m " result files, want " nf
		      printf "%d %d %d\n", p[1], p[2], p[3] }' "${lines[@]}") ||
		fail "checking the results failed: $out"
	grep -q '^BAD' <<< "$out" && fail "$(grep '^BAD' <<< "$out" | head -5)"
	tail -1 <<< "$out"
}
# read_round OUT: every fid through one reader session into OUT/, results in OUT.lines. A session
# that could not be opened (kelp_client exit 2: kelpd closed the socket before its welcome; seen
# once with the host at load ~6, when the guest's processes starve) is tried again, up to 3 times,
# and counted in OUT.setup_retries; any other failure fails the round. Reads are never retried.
read_round() {
	local try rc
	mkdir -p "$1"
	for try in 1 2 3; do
		"$CLIENT" "$W/reader.sock" read --out "$1" $WEED_LIVE $WEED_DELETED > "$1.lines" 2> "$1.err"
		rc=$?
		[ $rc -eq 0 ] && return 0
		[ $rc -eq 2 ] && [ ! -s "$1.lines" ] && grep -q "^kelp_client: connect" "$1.err" || break
		cat "$1.err"
		echo "$try" > "$1.setup_retries"
	done
	cat "$1.err"
	return 1
}

echo "-- 1. every fid through the reader kelpd ($n_live live, $(echo $WEED_DELETED | wc -w) deleted)"
read_round "$W/r1" || fail "round 1: kelp_client failed"
(cd "$WEED_EXPECT" && md5sum $WEED_LIVE) > "$W/expect.md5" || fail "hashing the expected bytes"
counts=$(check_rounds "$W/r1") || { echo "$counts"; exit 1; }
read -r _ r1_rdma r1_http <<< "$counts"
echo "   round 1 (cold: a volume's first read asks the master): $r1_rdma rdma, $r1_http http, bytes equal"
# round 1's reads of located volumes started the handshake (on the reader's handshake thread;
# those reads went to HTTP meanwhile): wait until the connection is up
t0=$SECONDS
until [ "$(ctl reader peers --json | jget peers.0.state)" = up ]; do
	[ $((SECONDS - t0)) -lt 180 ] || { ctl reader peers; fail "peer not up 180 s after round 1"; }
	sleep 0.5
done
rdma_before=$(ctl reader stats --json | jget total.by_path.rdma)
read_round "$W/r2" || fail "round 2: kelp_client failed"
counts=$(check_rounds "$W/r2") || { echo "$counts"; exit 1; }
read -r r2_local r2_rdma r2_http <<< "$counts"
echo "   round 2: $r2_rdma rdma, $r2_http http, $r2_local local; bytes equal"
[ "$r2_local" -eq 0 ] || fail "the reader kelpd served local reads: it has no volumes"
# every live needle is RDMA, those larger than the export's 1 MiB bounce buffers too (written in
# pieces, nic/conn.h); the test set must hold such a needle, or the pieces would go untested
[ "$n_large" -ge 1 ] || fail "no live needle larger than 1 MiB in the test set (host-weed.sh)"
[ "$r2_rdma" -eq "$n_live" ] && [ "$r2_http" -eq 0 ] ||
	fail "round 2: $r2_rdma rdma / $r2_http http, want $n_live / 0 ($n_large larger than 1 MiB)"
# the large ones: whole needle over RDMA with the reader's CRC check (KELP_CQE_F_CRC_CHECKED 0x8)
for fid in $WEED_LARGE; do
	read -r _ res size flags <<< "$(grep "^$fid " "$W/r2.lines")"
	[ "$res" -gt 1048576 ] && [ "$res" = "$size" ] && [ $((flags & 3)) -eq 2 ] && [ $((flags & 8)) -eq 8 ] ||
		fail "large $fid: result $res size $size flags $flags, want the whole needle over RDMA, CRC checked"
done
rdma_after=$(ctl reader stats --json | jget total.by_path.rdma)
[ $((rdma_after - rdma_before)) -eq "$r2_rdma" ] ||
	fail "kelpctl stats: rdma completions grew by $((rdma_after - rdma_before)), want $r2_rdma"
# the deleted fids are ENOENT from the export kelpd, over RDMA too (errors are not counted by path)
for fid in $WEED_DELETED; do
	read -r _ res _ flags <<< "$(grep "^$fid " "$W/r2.lines")"
	[ "$res" = -2 ] && [ $((flags & 3)) -eq 2 ] || fail "deleted $fid: result $res flags $flags, want -2 over RDMA"
done
ctl reader peers
ctl export stats | grep "^rdma export"
peers=$(ctl reader peers --json)
[ "$(jget peers.0.state <<< "$peers")" = up ] || fail "peer not up: $peers"
[ "$(jget peers.0.volume_server <<< "$peers")" = "$WEED_VS_GUEST" ] || fail "peer stands for the wrong volume server: $peers"
ex_req=$(ctl export stats --json | jget rdma_export.requests)
[ "$ex_req" -eq "$(jget peers.0.requests <<< "$peers")" ] ||
	fail "the export served $ex_req requests, the reader sent $(jget peers.0.requests <<< "$peers")"
[ "$(ctl export stats --json | jget rdma_export.too_large)" = 0 ] || fail "the export refused reads as too large"
echo "   kelpctl: reader's rdma completions +$((rdma_after - rdma_before)), deleted: ENOENT over RDMA, peer up, export served $ex_req = reader sent; $n_large needle(s) > 1 MiB over RDMA"

echo "   (${SECONDS}s)"
echo "-- 2. export kelpd killed while 3 sessions read in a loop: reads move to HTTP, no wrong bytes"
# loop K: rounds into $W/loopK/N until $W/stop exists
reader_loop() {
	local k=$1 n=0
	while [ ! -e "$W/stop" ]; do
		n=$((n + 1))
		read_round "$W/loop$k/$n" || { echo "loop $k round $n failed" > "$W/loop$k.failed"; return; }
		echo "$n" > "$W/loop$k.done"
	done
}
rounds_done() { local s=0 k; for k in 1 2 3; do s=$((s + $(cat "$W/loop$k.done" 2>/dev/null || echo 0))); done; echo $s; }
for k in 1 2 3; do reader_loop $k & LOOP_PIDS+=($!); done
t0=$SECONDS
until [ "$(rounds_done)" -ge 3 ]; do
	ls "$W"/loop*.failed >/dev/null 2>&1 && fail "$(cat "$W"/loop*.failed)"
	[ $((SECONDS - t0)) -lt 300 ] || fail "readers did not finish 3 rounds in 300 s"
	sleep 0.2
done
http_at_kill=$(ctl reader stats --json | jget total.by_path.http)
kill -KILL $EXPORT_PID; wait $EXPORT_PID 2>/dev/null; EXPORT_PID=
t_kill=$SECONDS
echo "   export killed after $(rounds_done) rounds"
# wait for 3 more rounds that started after the kill
target=$(( $(rounds_done) + 6 ))
until [ "$(rounds_done)" -ge $target ]; do
	ls "$W"/loop*.failed >/dev/null 2>&1 && fail "$(cat "$W"/loop*.failed)"
	[ $((SECONDS - t_kill)) -lt 300 ] || fail "readers did not finish 6 rounds in 300 s after the kill"
	sleep 0.5
done
http_now=$(ctl reader stats --json | jget total.by_path.http)
[ $((http_now - http_at_kill)) -gt $((n_live)) ] || fail "only $((http_now - http_at_kill)) HTTP reads since the kill"
ctl reader peers
state=$(ctl reader peers --json | jget peers.0.state)
[ "$state" != up ] || fail "peer still up after its kelpd was killed"
p=$(ctl reader peers --json)
echo "   $((http_now - http_at_kill)) reads over HTTP since the kill; peer $state;" \
	"$(( $(jget peers.0.requests <<< "$p") - $(jget peers.0.replies <<< "$p") )) RDMA request(s) were" \
	"unanswered when it died, $(jget peers.0.fallbacks <<< "$p") RDMA reads in all were read again over HTTP"

echo "   (${SECONDS}s)"
echo "-- 3. export kelpd restarted: RDMA again"
rdma_at_restart=$(ctl reader stats --json | jget total.by_path.rdma)
start_export
t_restart=$SECONDS
until [ "$(ctl reader peers --json | jget peers.0.state)" = up ]; do
	ls "$W"/loop*.failed >/dev/null 2>&1 && fail "$(cat "$W"/loop*.failed)"
	[ $((SECONDS - t_restart)) -lt 300 ] || fail "reader did not reconnect within 300 s"
	sleep 0.5
done
until [ $(( $(ctl reader stats --json | jget total.by_path.rdma) - rdma_at_restart )) -gt "$n_live" ]; do
	[ $((SECONDS - t_restart)) -lt 300 ] || fail "no RDMA reads within 300 s after the restart"
	sleep 0.5
done
echo "   reconnected $((SECONDS - t_restart)) s after the restart; rdma completions +$(( $(ctl reader stats --json | jget total.by_path.rdma) - rdma_at_restart ))"
touch "$W/stop"
wait "${LOOP_PIDS[@]}"
LOOP_PIDS=()
ls "$W"/loop*.failed >/dev/null 2>&1 && fail "$(cat "$W"/loop*.failed)"
rounds=("$W"/loop*/*.lines)
rounds=("${rounds[@]%.lines}")
total=${#rounds[@]}
counts=$(check_rounds "${rounds[@]}") || { echo "$counts"; exit 1; }
read -r _ rd ht <<< "$counts"
retries=$(cat "$W"/loop*/*.setup_retries 2>/dev/null | wc -l)
echo "   $total loop rounds checked: every byte equal, no errors ($rd reads rdma, $ht http;" \
	"$retries session set-up(s) tried again)"
ctl reader peers
ctl reader stats | tail -4

echo "   (${SECONDS}s)"
echo "-- 4. reader kelpd killed and restarted: the export replaces its old connection"
up=$(ctl export stats --json | jget rdma_export.up)
[ "$up" = 1 ] || fail "the export has $up connections up before the reader restart, want 1"
replaced_before=$(ctl export stats --json | jget rdma_export.replaced)
kill -KILL $READER_PID; wait $READER_PID 2>/dev/null; READER_PID=
rm -f "$W/reader.sock"
start_reader
t_restart=$SECONDS
read_round "$W/r4a" || fail "round after the reader restart: kelp_client failed"
until [ "$(ctl reader peers --json | jget peers.0.state)" = up ]; do
	[ $((SECONDS - t_restart)) -lt 300 ] || { ctl reader peers; fail "restarted reader not up within 300 s"; }
	sleep 0.5
done
read_round "$W/r4b" || fail "second round after the reader restart: kelp_client failed"
counts=$(check_rounds "$W/r4a" "$W/r4b") || { echo "$counts"; exit 1; }
read -r _ rd ht <<< "$counts"
sleep 0.1 # the export publishes its counters every 2 ms
ex=$(ctl export stats --json)
ctl export stats | grep "^rdma export"
[ "$(jget rdma_export.up <<< "$ex")" = 1 ] ||
	fail "the export has $(jget rdma_export.up <<< "$ex") connections up after the reader restart, want 1 (the old one was not replaced)"
[ "$(jget rdma_export.replaced <<< "$ex")" -gt "$replaced_before" ] ||
	fail "the export replaced no connection when the reader came back"
[ "$rd" -gt 0 ] || fail "no RDMA reads after the reader restart"
echo "   restarted reader up; export: 1 connection up, replaced $(( $(jget rdma_export.replaced <<< "$ex") - replaced_before )); two rounds: bytes equal ($rd rdma, $ht http)"

echo "   (${SECONDS}s)"
echo "-- 5. one-sided reads: verified RDMA READs once the reader knows each volume's index"
grep "registered for one-sided reads\|cannot register volume" "$W/export.log" | sort -u | head -5
grep -q "registered for one-sided reads" "$W/export.log" || fail "the export registered no volume for one-sided reads"
# the rounds of part 4 asked for every volume's VOLMAP and index; one more round to be sure
read_round "$W/r5a" || fail "round 5a: kelp_client failed"
os_before=$(ctl reader peers --json | jget peers.0.one_sided)
osfb_before=$(ctl reader peers --json | jget peers.0.one_sided_fallbacks)
read_round "$W/r5b" || fail "round 5b: kelp_client failed"
counts=$(check_rounds "$W/r5a" "$W/r5b") || { echo "$counts"; exit 1; }
read -r _ rd ht <<< "$counts"
p=$(ctl reader peers --json)
os_n=$(( $(jget peers.0.one_sided <<< "$p") - os_before ))
osfb_n=$(( $(jget peers.0.one_sided_fallbacks <<< "$p") - osfb_before ))
ctl reader peers
echo "   round 5b: $os_n of $n_live live needles one-sided, $osfb_n did not verify; two rounds: bytes equal ($rd rdma, $ht http)"
[ "$osfb_n" -eq 0 ] || fail "$osfb_n one-sided reads did not verify on an unchanged volume"
# Needles in the last, partly written page of a volume's .dat are not registered (export_map.h),
# and how many live there depends on how weed spread the uploads over volumes: 11-21 of 26 were
# one-sided in the runs of 2026-12-03, so a fixed share (it was n_live / 2) fails by chance. The
# one-sided path must have served some, and every byte is checked above either way.
[ "$os_n" -ge 1 ] || fail "no read of the $n_live live needles was one-sided"

echo "   (${SECONDS}s)"
echo "-- 6. a needle overwritten while it is read: old or new bytes, never a mix"
# a small live needle, not gzip'd (its stored bytes are what was uploaded)
ow=
for f in $WEED_LIVE; do
	sz=$(stat -c %s "$WEED_EXPECT/$f")
	[ "$sz" -gt 0 ] && [ "$sz" -lt 8192 ] && { ow=$f; break; }
done
[ -n "$ow" ] || fail "no small live needle to overwrite"
old_md5=$(md5sum < "$WEED_EXPECT/$ow" | cut -d' ' -f1)
head -c 6000 /dev/urandom > "$W/new.bin"
out=$(curl -sf -m 60 -F "file=@$W/new.bin" "http://$WEED_VS_GUEST/$ow") || fail "overwriting $ow failed: $out"
curl -sf -m 60 -H 'Accept-Encoding: gzip' -o "$W/new.expect" "http://$WEED_VS_GUEST/$ow" || fail "curl $ow after the overwrite"
new_md5=$(md5sum < "$W/new.expect" | cut -d' ' -f1)
[ "$new_md5" != "$old_md5" ] || fail "the overwrite did not change $ow"
n_old=0 n_new=0
for i in $(seq 1 20); do
	rm -rf "$W/ow"; mkdir -p "$W/ow"
	line=$("$CLIENT" "$W/reader.sock" read --out "$W/ow" "$ow") || fail "reading $ow: $line"
	read -r _ res _ flags <<< "$line"
	[ "$res" -ge 0 ] || fail "reading overwritten $ow: $line"
	m=$(md5sum < "$W/ow/$ow" | cut -d' ' -f1)
	if [ "$m" = "$old_md5" ]; then n_old=$((n_old + 1)); elif [ "$m" = "$new_md5" ]; then n_new=$((n_new + 1)); else
		fail "read $i of overwritten $ow: neither the old nor the new bytes ($line)"; fi
	[ "$n_new" -ge 3 ] && break
done
echo "   $ow: $n_old reads the old bytes, $n_new the new, none a mix"
[ "$n_new" -ge 1 ] || echo "   (the new bytes did not reach the export kelpd within 20 reads: 9p coherence in the VM?)"
WEED_LIVE=$(for f in $WEED_LIVE; do [ "$f" = "$ow" ] || echo "$f"; done | tr '\n' ' ')
n_live=$((n_live - 1))

echo "   (${SECONDS}s)"
echo "-- 7. a corrupted needle: EIO (no healthy replica), never its bytes with the CRC flag"
cr=
for f in $WEED_LIVE; do
	sz=$(stat -c %s "$WEED_EXPECT/$f")
	[ "$sz" -gt 100 ] && [ "$sz" -lt 65536 ] && { cr=$f; break; }
done
[ -n "$cr" ] || fail "no live needle to corrupt"
vid=${cr%%,*}
dat=
for d in "$WEED_VS_DIR/$vid.dat" "$WEED_VS_DIR"/*_"$vid".dat; do [ -f "$d" ] && { dat=$d; break; }; done
[ -n "$dat" ] || fail "no .dat of volume $vid in $WEED_VS_DIR"
off=$("$BIN/kelp-vol" ls "$dat" --json | jq -r --arg f "$cr" 'select(.fid == $f) | .offset')
[ -n "$off" ] && [ "$off" -gt 0 ] || fail "no offset for $cr in $dat"
pos=$((off + 20 + 50))
orig=$(dd if="$dat" bs=1 skip=$pos count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(( (orig ^ 0x5a) & 255 )))" | dd of="$dat" bs=1 seek=$pos conv=notrunc 2>/dev/null
n_eio=0 n_intact=0
for i in 1 2 3; do
	rm -rf "$W/cr"; mkdir -p "$W/cr"
	line=$("$CLIENT" "$W/reader.sock" read --out "$W/cr" "$cr") || true
	read -r _ res _ flags <<< "$line"
	if [ "$res" -ge 0 ] 2>/dev/null; then
		# intact: what the export kelpd's mapping holds (through 9p the guest may keep the page
		# it cached before the write; the host's volume server then has the corrupt one)
		cmp -s "$W/cr/$cr" "$WEED_EXPECT/$cr" || fail "corrupted $cr: read $i returned $res bytes that are not the needle's ($line)"
		n_intact=$((n_intact + 1))
	else
		[ "$res" = -5 ] || fail "corrupted $cr: read $i: $line, want EIO"
		n_eio=$((n_eio + 1))
	fi
done
printf "\\$(printf '%03o' "$orig")" | dd of="$dat" bs=1 seek=$pos conv=notrunc 2>/dev/null
p=$(ctl reader peers --json)
echo "   $cr: $n_eio reads EIO, $n_intact intact; one-sided reads that did not verify so far: $(jget peers.0.one_sided_fallbacks <<< "$p"); restored"


kill -TERM $READER_PID; wait $READER_PID; rc=$?; READER_PID=
[ $rc -eq 0 ] || fail "reader kelpd exited $rc"
kill -TERM $EXPORT_PID; wait $EXPORT_PID; rc=$?; EXPORT_PID=
[ $rc -eq 0 ] || fail "export kelpd exited $rc"
grep "RDMA peer" "$W/reader.log"
rm -rf "$W"
echo "kelpd RDMA reads: ok"
