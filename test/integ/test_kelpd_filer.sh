#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Files by path (issue 11, kelpd side) against a real weed master + volume + filer and a real kelpd:
# every file of the standard set (lib/filer.sh) read through kelpd (kelpctl cat = kelp_path_read)
# equals the filer's own GET byte for byte, with the chunks read from the local volume file and
# again over the HTTP fallback; reads at offsets that span chunk boundaries, past the end, and many
# queued at once; stat and ls equal the filer's metadata and listing (a directory of 300 names:
# pagination); a symlink's target; delete / overwrite / rename in the filer seen within the TTL; a
# directory read for longer than the TTL listed again ahead of it;
# the first [filer] address dead (failover); bad path requests from a hostile client get errors
# while an honest one keeps reading; filer stopped -> -ETIMEDOUT/-EHOSTUNREACH within timeout_ms
# (never a hang), filer back -> reads again; filer killed -> errors, kelpd serves on.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/filer.sh
. test/integ/lib/kelpd_test.sh
weed_require
kelpd_require
PC=${PATH_CLIENT:-build/test/integ/path_client} # PATH_CLIENT=build-asan/... (with BIN=build-asan/bin)
[ -x "$PC" ] || fail "$PC missing (make all)"

weed_start 1
weed_start_filer_standard
FILER_PID=${_WEED_PIDS[-1]}
REAL_FILER=$WEED_FILER
filer_upload_standard_set /kelp-set
out=$WEED_DIR/out
mkdir -p "$out"
dead=$(weed_free_port)

start_kelpd() { # start_kelpd FORCE_HTTP
	local d=$WEED_DIR/kelpd
	mkdir -p "$d"
	KELPD_EXTRA_CONF="[seaweedfs]
master = $WEED_MASTER
force_http = $1
[filer]
address = 127.0.0.1:$dead,$REAL_FILER
metadata_ttl_ms = 1000
timeout_ms = 1500" kelpd_test_start "$d" "${WEED_VOLUME_DIRS[0]}"
}
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; } # FILE OFF LEN
stat_field() { kelpctl --json stats | jq -r ".filer.$1"; }

# 1. Every file of the set, whole: equal to the filer's own GET (chunks local, then over HTTP).
check_set() {
	local n=0 path kind size sha expected source note
	while IFS=$'\t' read -r path kind size sha expected source note; do
		[ "$kind" = symlink ] && continue
		kelpctl cat "$path" -o "$out/cat" || fail "cat $path ($kind, $note) failed"
		cmp -s "$out/cat" "$expected" || fail "cat $path ($kind): bytes differ from the filer's GET"
		n=$((n + 1))
	done < <(filer_set_rows)
	[ "$n" -ge 10 ] || fail "only $n files in the set"
	echo "ok: $n files of the set equal the filer's GET ($1)"
}
start_kelpd false
at_exit 'kelpd_alive && kelpd_stop_checked'
check_set "chunks from the local volume"
[ "$(stat_field chunk_reads_local)" -gt 0 ] || fail "no chunk was read from the local volume"
[ "$(stat_field failovers)" -gt 0 ] || fail "the dead first [filer] address was not failed over"
kelpd_stop_checked || fail "kelpd did not stop cleanly"

multi_row=$(filer_set_rows multi)
mpath_set=$(cut -f1 <<<"${multi_row%%$'\n'*}")
gone_now() { local r; r=$("$PC" "$KELPD_SOCK" read "$1" 0 10 "$out/x"); [[ $r != [0-9]* ]]; }

# 1b. A directory of 1100 files (2 KiB: chunked, not inline): a miss lists the directory (pages of
# 1024, [filer] dir_list_max = 1050 here: names past it are looked up alone), and reads of cached
# plain files with local chunks are served on the lcore (lcore counter path_lcore), not by the
# control thread (filer read_requests); bytes equal the filer's GET either way.
python3 - "$WEED_FILER" "$out/big" <<'PYEOF'
import http.client, os, sys, uuid
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=120)
for i in range(1100):
    b, name = uuid.uuid4().hex, "f%04d" % i
    body = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            name.encode() + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
            os.urandom(2048) + b"\r\n--" + b.encode() + b"--\r\n")
    conn.request("POST", "/big-dir/" + name, body, {"Content-Type": "multipart/form-data; boundary=" + b})
    r = conn.getresponse()
    r.read()
    if r.status >= 300:
        sys.exit("upload of %s: HTTP %d" % (name, r.status))
PYEOF
lcore_reads() { kelpctl --json stats | jq -r .total.path_lcore; }
read_eq() { # read_eq PATH OFF LEN: kelp_path_read = the filer's GET
	local res want size
	filer_get "$1" "$out/get" || return 1
	size=$(stat -c %s "$out/get")
	res=$("$PC" "$KELPD_SOCK" read "$1" "$2" "$3" "$out/pr")
	want=$(($2 >= size ? 0 : (size - $2 < $3 ? size - $2 : $3)))
	[ "$res" = "$want $size" ] || { echo "read $1 [$2, +$3): '$res', want '$want $size'" >&2; return 1; }
	slice "$out/get" "$2" "$want" >"$out/want"
	cmp -s "$out/pr" "$out/want" || { echo "read $1 [$2, +$3): bytes differ" >&2; return 1; }
}
samples=(500 0 37 1023 1024 1049 1050 1077 1099)
for i in $(seq 74 37 1000); do samples+=("$i"); done
d=$WEED_DIR/kelpd
mkdir -p "$d"
KELPD_EXTRA_CONF="[seaweedfs]
master = $WEED_MASTER
[filer]
address = $REAL_FILER
metadata_ttl_ms = 600000
dir_list_max = 1050" kelpd_test_start "$d" "${WEED_VOLUME_DIRS[0]}"
past=0
for i in "${samples[@]}"; do
	[ "$i" -ge 1050 ] && past=$((past + 1))
	read_eq "$(printf /big-dir/f%04d "$i")" 0 4096 || fail "big-dir f$i (first pass)"
done
[ "$(stat_field dir_lists)" = 1 ] || fail "dir_lists $(stat_field dir_lists), want 1 (one directory)"
[ "$(stat_field lists)" = 2 ] || fail "listing pages $(stat_field lists), want 2 (1024 + 26)"
[ "$(stat_field dir_list_hits)" = 1 ] || fail "dir_list_hits $(stat_field dir_list_hits), want 1"
[ "$(stat_field lookups)" = "$past" ] || fail "lookups $(stat_field lookups), want $past (past dir_list_max)"
n=${#samples[@]}
[ "$(stat_field read_requests)" = $((1 + past)) ] ||
	fail "control thread served $(stat_field read_requests) reads, want $((1 + past))"
[ "$(lcore_reads)" = $((n - 1 - past)) ] || fail "lcore served $(lcore_reads), want $((n - 1 - past))"
for i in "${samples[@]}"; do # every one cached now: all on the lcore, ranges too
	read_eq "$(printf /big-dir/f%04d "$i")" $((i % 2000)) 700 || fail "big-dir f$i (second pass)"
done
[ "$(lcore_reads)" = $((2 * n - 1 - past)) ] || fail "lcore served $(lcore_reads) after the second pass"
[ "$(stat_field read_requests)" = $((1 + past)) ] || fail "second pass reached the control thread"
# a multi-chunk plain file (1 MiB chunks) on the lcore: ranges across chunk boundaries
read_eq "$mpath_set" 0 1 || fail "multi first read"
l0=$(lcore_reads)
for r in "1048570 20" "0 3145733" "2097140 1048600"; do
	set -- $r
	read_eq "$mpath_set" "$1" "$2" || fail "multi on the lcore [$1, +$2)"
done
[ "$(lcore_reads)" = $((l0 + 3)) ] || fail "multi-chunk reads were not served on the lcore"
# a name not in the directory: -ENOENT (looked up alone: the directory is not listed again)
dl0=$(stat_field dir_lists)
res=$("$PC" "$KELPD_SOCK" read /big-dir/nope 0 10 "$out/x")
[ "$res" = "-2 0" ] || fail "read of a missing name in a listed directory: '$res'"
[ "$(stat_field dir_lists)" = "$dl0" ] || fail "a listed directory was listed again within the TTL"
echo "ok: one listing (2 pages) for $n reads of a 1100-file directory, $past lookups past dir_list_max; $(lcore_reads) reads served on the lcore, bytes = filer GET"
kelpd_stop_checked || fail "kelpd did not stop cleanly"

# 1c. TTL on the lcore path ([filer] metadata_ttl_ms = 1000): a file read on the lcore, then
# overwritten / deleted / created in the filer, reads the new state within bounded waits.
start_kelpd false
head -c 3000 /dev/urandom >"$out/l1" # random: the filer stores it plain (not gzip)
head -c 5000 /dev/urandom >"$out/l2"
filer_put /lttl/file "$out/l1"
on_lcore_eq() { # on_lcore_eq PATH FILE: reads served on the lcore give FILE's bytes (3 reads in
	# one session: the 1 s TTL may pass between two processes on a loaded machine)
	local l0 res
	l0=$(lcore_reads)
	res=$("$PC" "$KELPD_SOCK" read "$1" 0 65536 "$out/pr" 3) || return 1
	[ "$(lcore_reads)" -gt "$l0" ] && [ "${res%% *}" = "$(stat -c %s "$2")" ] && cmp -s "$out/pr" "$2"
}
wait_until 30 on_lcore_eq /lttl/file "$out/l1" || fail "first version never served on the lcore"
filer_put /lttl/file "$out/l2"
wait_until 30 on_lcore_eq /lttl/file "$out/l2" || fail "overwrite not seen on the lcore path"
curl -sf -X DELETE "$(filer_url /lttl/file)" >/dev/null || fail "filer delete"
wait_until 30 gone_now /lttl/file || fail "delete not seen (lcore path)"
res=$("$PC" "$KELPD_SOCK" read /lttl/new 0 10 "$out/x")
[ "$res" = "-2 0" ] || fail "read of a file not yet created: '$res'"
filer_put /lttl/new "$out/l1"
wait_until 30 on_lcore_eq /lttl/new "$out/l1" || fail "a created file (negative entry) not seen"
echo "ok: overwrite, delete and create seen within the TTL on the lcore path"
kelpd_stop_checked || fail "kelpd did not stop cleanly"

# 1d. A directory read for longer than the TTL (metadata_ttl_ms = 2000, reads for 7 s) is listed
# again ahead of the TTL (filer dir_refreshes), reads stay right; once nobody reads it, it is no
# longer listed again.
d=$WEED_DIR/kelpd
KELPD_EXTRA_CONF="[seaweedfs]
master = $WEED_MASTER
[filer]
address = $REAL_FILER
metadata_ttl_ms = 2000" kelpd_test_start "$d" "${WEED_VOLUME_DIRS[0]}"
end=$(($(date +%s) + 7))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
	f=$(printf /big-dir/f%04d $(((i * 37) % 1100)))
	res=$("$PC" "$KELPD_SOCK" read "$f" 0 4096 "$out/pr" 5)
	[ "$res" = "2048 2048" ] || fail "read of $f while the directory is refreshed: '$res'"
	i=$((i + 1))
done
read_eq /big-dir/f0999 0 4096 || fail "f0999 after the refreshes: bytes differ from the filer's GET"
refreshes=$(stat_field dir_refreshes)
[ "$refreshes" -ge 1 ] || fail "a directory read for 3.5 TTLs was never listed again ahead of the TTL"
echo "ok: $i reads over 3.5 TTLs: the directory listed again $refreshes times ahead of the TTL, $(stat_field lookups) single lookups, $(lcore_reads) reads on the lcore"
no_more_refreshes() {
	local a
	a=$(stat_field dir_refreshes)
	sleep 3 # more than half the TTL: a directory still being refreshed would be by now
	[ "$(stat_field dir_refreshes)" = "$a" ]
}
wait_until 60 no_more_refreshes || fail "a directory nobody reads any more is still listed again"
echo "ok: not listed again once nobody reads it"
kelpd_stop_checked || fail "kelpd did not stop cleanly"
start_kelpd true
check_set "chunks over the HTTP fallback"
[ "$(stat_field chunk_reads_remote)" -gt 0 ] || fail "no chunk was read over HTTP"

# 2. Ranges: across chunk boundaries (1 MiB chunks), the last byte, past the end; async pieces.
multi=$(filer_set_rows multi)
multi=${multi%%$'\n'*}
mpath=$(cut -f1 <<<"$multi")
msize=$(cut -f3 <<<"$multi")
mexp=$(cut -f5 <<<"$multi")
for r in "0 1" "1048570 20" "1048576 1" "2097140 1048600" "$((msize - 1)) 1" "$((msize - 7)) 100" \
	"$msize 10" "$((msize + 5000)) 10"; do
	set -- $r
	res=$("$PC" "$KELPD_SOCK" read "$mpath" "$1" "$2" "$out/range")
	want=$(($1 >= msize ? 0 : (msize - $1 < $2 ? msize - $1 : $2)))
	[ "$res" = "$want $msize" ] || fail "read $mpath [$1, +$2): got '$res', want '$want $msize'"
	slice "$mexp" "$1" "$want" >"$out/want"
	cmp -s "$out/range" "$out/want" || fail "read $mpath [$1, +$2): bytes differ"
done
"$PC" "$KELPD_SOCK" async "$mpath" "$msize" 65536 >"$out/async" || fail "async pieces of $mpath"
cmp -s "$out/async" "$mexp" || fail "async pieces of $mpath differ"
for kind in sparse sparsehead overlap enc; do
	row=$(filer_set_rows $kind)
	row=${row%%$'\n'*}
	[ -n "$row" ] || continue
	p=$(cut -f1 <<<"$row")
	e=$(cut -f5 <<<"$row")
	s=$(cut -f3 <<<"$row")
	for off in 1 3000 4095 4096 65535 $((s / 2)); do
		[ "$off" -lt "$s" ] || continue
		res=$("$PC" "$KELPD_SOCK" read "$p" "$off" 5000 "$out/range")
		want=$((s - off < 5000 ? s - off : 5000))
		[ "$res" = "$want $s" ] || fail "read $p at $off: '$res'"
		slice "$e" "$off" "$want" >"$out/want"
		cmp -s "$out/range" "$out/want" || fail "read $p ($kind) at $off: bytes differ"
	done
done
echo "ok: ranges across chunk boundaries, holes, overlaps, encrypted chunks, past the end, async"

# 3. stat and ls equal the filer's metadata and listing; a symlink's target; errors.
while IFS=$'\t' read -r path kind size sha expected source note; do
	js=$(kelpctl --json stat "$path") || fail "stat $path failed"
	meta=$(filer_meta "$path")
	[ "$(jq -r .size <<<"$js")" = "$(jq -r .FileSize <<<"$meta")" ] || fail "stat $path: size"
	[ "$(jq -r .uid <<<"$js")" = "$(jq -r .Uid <<<"$meta")" ] || fail "stat $path: uid"
	perm=$(jq -r '.Mode % 512' <<<"$meta")
	[ "$(jq -r .mode <<<"$js")" = "$(printf %04o "$perm")" ] || fail "stat $path: mode"
	if [ "$kind" = symlink ]; then
		[ "$(jq -r .type <<<"$js")" = symlink ] || fail "stat $path: not a symlink"
		txt=$(kelpctl stat "$path")
		grep -qxF "target: $(cat "$expected")" <<<"$txt" || fail "stat $path: target: $txt"
	else
		[ "$(jq -r .type <<<"$js")" = file ] || fail "stat $path: type"
	fi
done < <(filer_set_rows)
filer_names() { # the filer's own listing of $1, paged
	local last="" page
	while :; do
		page=$(curl -sf -H 'Accept: application/json' \
			"$(filer_url "$1")/?limit=100&lastFileName=$(jq -rn --arg s "$last" '$s|@uri')")
		jq -r '.Entries // [] | .[].FullPath | sub(".*/"; "")' <<<"$page"
		[ "$(jq -r .ShouldDisplayLoadMore <<<"$page")" = true ] || break
		last=$(jq -r .LastFileName <<<"$page")
	done
}
for i in $(seq 1 300); do printf 'f%03d' "$i" >"$out/f"; filer_put "/many/f$i" "$out/f"; done
for dir in /kelp-set /many; do
	kelpctl ls "$dir" >"$out/ls" || fail "ls $dir failed"
	filer_names "$dir" >"$out/names"
	cmp -s "$out/ls" "$out/names" || fail "ls $dir differs from the filer's listing"
done
[ "$(wc -l <"$out/ls")" = 300 ] || fail "ls /many: $(wc -l <"$out/ls") names, want 300"
kelpctl ls -l /kelp-set >/dev/null || fail "ls -l"
[ "$(kelpctl --json stat / | jq -r .type)" = dir ] || fail "stat /: not a directory"
err=$(kelpctl cat /kelp-set 2>&1) && fail "cat of a directory succeeded"
grep -q "is a directory" <<<"$err" || fail "cat of a directory: $err"
err=$(kelpctl ls "$mpath" 2>&1) && fail "ls of a file succeeded"
grep -q "not a directory" <<<"$err" || fail "ls of a file: $err"
# kelpctl says what a path error means for a path (not the needle's or kelp_connect's meaning)
err=$(kelpctl cat /kelp-set/no-such-file 2>&1) && fail "cat of a missing file succeeded"
[[ $err == *"no such file or directory in the filer" && $err != *needle* && $err != *config* ]] ||
	fail "cat of a missing file: $err"
err=$(kelpctl cat kelp-set/x 2>&1) && fail "cat of a relative path succeeded"
[[ $err == *"must be absolute"* ]] || fail "cat of a relative path: $err"
err=$(kelpctl get /kelp-set/x 2>&1) && fail "get of a path succeeded"
[[ $err == *"kelpctl cat PATH"* ]] || fail "get of a path: $err"
res=$("$PC" "$KELPD_SOCK" read /kelp-set/no-such-file 0 10 "$out/x")
[ "$res" = "-2 0" ] || fail "read of a missing path: '$res'"
echo "ok: stat and ls (paged, 300 names) equal the filer's metadata and listing"

# 4. Changes in the filer show within the TTL (metadata_ttl_ms = 1000; bounded waits).
printf 'old content' >"$out/v1"
printf 'new, longer content' >"$out/v2"
filer_put /chg/file "$out/v1"
kelpctl cat /chg/file -o "$out/c" && cmp -s "$out/c" "$out/v1" || fail "first version"
cat_is() { kelpctl cat "$1" -o "$out/c" 2>/dev/null && cmp -s "$out/c" "$2"; }
filer_put /chg/file "$out/v2"
wait_until 30 cat_is /chg/file "$out/v2" || fail "overwrite not seen"
curl -sf -X POST "$(filer_url /chg/moved)?mv.from=/chg/file" >/dev/null || fail "filer rename"
gone() { ! "$PC" "$KELPD_SOCK" read "$1" 0 10 "$out/x" | grep -q '^[0-9]'; }
wait_until 30 cat_is /chg/moved "$out/v2" || fail "renamed file not seen"
wait_until 30 gone /chg/file || fail "rename: old name still reads"
curl -sf -X DELETE "$(filer_url /chg/moved)" >/dev/null || fail "filer delete"
wait_until 30 gone /chg/moved || fail "delete not seen"
echo "ok: overwrite, rename and delete in the filer seen"

# 5. A hostile client's bad path requests: errors; an honest client reads on, same bytes.
"$PC" "$KELPD_SOCK" bad "$mpath" 180 || fail "bad path requests"
kelpd_alive || fail "kelpd died"
echo "ok: bad path requests answered with errors, kelpd serves on"

# 6. Filer stopped (SIGSTOP: no answer) -> errors within the timeout, never a hang; back -> reads.
kill -STOP "$FILER_PID"
at_exit "kill -CONT $FILER_PID 2>/dev/null || true"
res=$(timeout 60 "$PC" "$KELPD_SOCK" read /kelp-set/not-cached-yet 0 10 "$out/x") ||
	fail "read with the filer stopped hung or crashed"
case $res in "-110 "* | "-113 "*) ;; *) fail "read with the filer stopped: '$res'" ;; esac
kill -CONT "$FILER_PID"
reads_again() { [ "$("$PC" "$KELPD_SOCK" read "$mpath" 0 10 "$out/x")" = "10 $msize" ]; }
sleep_past_ttl() { sleep 1.2; } # the cached entry must expire for the filer to be asked again
sleep_past_ttl
wait_until 30 reads_again || fail "no reads after the filer came back"
kill -KILL "$FILER_PID"
wait "$FILER_PID" 2>/dev/null || true
sleep_past_ttl
res=$(timeout 60 "$PC" "$KELPD_SOCK" read "$mpath" 0 10 "$out/x") || fail "read after kill hung"
case $res in "-113 "* | "-110 "*) ;; *) fail "read with the filer killed: '$res'" ;; esac
kelpctl status >/dev/null || fail "kelpd does not answer after the filer died"
echo "ok: filer stopped -> $res, back -> reads, killed -> errors; kelpd serves on"
kelpd_stop_checked || fail "kelpd did not stop cleanly"
echo "PASS"
