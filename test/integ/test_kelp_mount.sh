#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelp-mount against a real weed master + volume + filer and a real kelpd with [filer] address:
#   - every file of the standard set (lib/filer.sh: empty, inline, multi-chunk, manifest, gzip,
#     encrypted, sparse, overlapping, deep, spaces/UTF-8 names, symlink) read through the mount
#     equals the filer's own GET byte for byte; the symlink's target is the filer's;
#   - `ls -lR` and a walk of the mount equal the filer's own listing (names, types, sizes);
#   - writes, creates, deletes, renames, mkdir give EROFS;
#   - a delete, an overwrite and a rename in the filer show through the mount within the TTL
#     (bounded waits);
#   - a hung filer (SIGSTOP) -> reads give EIO, not a hang; the filer back (SIGCONT) -> reads work;
#     a killed filer -> EIO;
#   - SIGTERM unmounts cleanly: kelp-mount exits 0, the mountpoint is an empty directory again;
#     `fusermount3 -u` of a second mount ends kelp-mount with 0 too.
# The exit trap always unmounts (fusermount3 -u, then umount -l) and stops kelp-mount.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/filer.sh
. test/integ/lib/kelpd_test.sh
weed_require
kelpd_require
[ -x "$BIN/kelp-mount" ] || { echo "skip: $BIN/kelp-mount not built (libfuse3-dev: make deps)"; exit 77; }
command -v fusermount3 >/dev/null || { echo "skip: fusermount3 missing (fuse3: make deps)"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse here"; exit 77; }

TTL_MS=1000
TIMEOUT_MS=2000
MOUNT_PID=""
MNT=""

mounted() { [[ $(cat /proc/self/mountinfo) == *" $MNT "* ]]; }
mount_gone() { ! mounted && ! kill -0 "$MOUNT_PID" 2>/dev/null; }
start_mount() { # MNT: starts kelp-mount on MNT, waits (bounded) until the mount is there
	MNT=$1
	mkdir -p "$MNT"
	"$BIN/kelp-mount" -c "$KELPD_CONF" "$MNT" >>"$WORK/mount.log" 2>&1 &
	MOUNT_PID=$!
	wait_until 60 mounted || { cat "$WORK/mount.log" >&2; fail "kelp-mount did not mount $MNT"; }
}
# exit trap: unmount whatever is still mounted, then stop kelp-mount
cleanup_mount() {
	[ -n "$MNT" ] || return 0
	if mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	fi
	if [ -n "$MOUNT_PID" ] && kill -0 "$MOUNT_PID" 2>/dev/null; then
		kill -TERM "$MOUNT_PID" 2>/dev/null || true
		wait_until 10 mount_gone || kill -KILL "$MOUNT_PID" 2>/dev/null || true
	fi
	if mounted; then umount -l "$MNT" 2>/dev/null || true; fi
}

# errno name of: python3 OP PATH [ARG] (read: drops the file's cached pages first, then reads it
# whole; write/create/unlink/mkdir/rename); "OK" when it worked. Bounded: a hang fails the test.
errno_of() {
	timeout 120 python3 - "$@" <<'PYEOF' || echo "HANG-OR-CRASH"
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == "read":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 1 << 20):
                pass
        finally:
            os.close(fd)
    elif op == "stat":
        os.stat(path)
    elif op == "write":
        os.close(os.open(path, os.O_WRONLY))
    elif op == "create":
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    elif op == "unlink":
        os.unlink(path)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rename":
        os.rename(path, sys.argv[3])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
}

# The filer's own recursive listing of DIR: "relative-path<TAB>type<TAB>size" per entry (type f, d,
# l; size for files only), sorted; the same format as mount_walk.
filer_walk() {
	python3 - "$WEED_FILER" "$1" <<'PYEOF'
import json, sys, urllib.parse, urllib.request
filer, top = sys.argv[1], sys.argv[2].rstrip("/")
rows = []
def walk(d):
    last = ""
    while True:
        q = urllib.parse.urlencode({"limit": 1000, "lastFileName": last})
        url = "http://%s%s/?%s" % (filer, urllib.parse.quote(d), q)
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        page = json.load(urllib.request.urlopen(req, timeout=60))
        ents = page.get("Entries") or []
        for e in ents:
            p = e["FullPath"]
            mode = e.get("Mode", 0)
            if mode & (1 << 31):
                rows.append((p[len(top) + 1:], "d", "-"))
                walk(p)
            elif mode & (1 << 27):
                rows.append((p[len(top) + 1:], "l", "-"))
            else:
                rows.append((p[len(top) + 1:], "f", str(e.get("FileSize", 0))))
        if not page.get("ShouldDisplayLoadMore") or not ents:
            break
        last = page.get("LastFileName") or ents[-1]["FullPath"].rsplit("/", 1)[1]
walk(top)
for r in sorted(rows):
    print("\t".join(r))
PYEOF
}
mount_walk() {
	(cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%s\n') |
		awk -F'\t' -v OFS='\t' '{ if ($2 != "f") $3 = "-"; print }' | LC_ALL=C sort
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kelp-mount-test.XXXXXX")
at_exit "rm -rf '$WORK'"
weed_start 1
weed_start_filer_standard
FILER_PID=${_WEED_PIDS[-1]} # weed.sh's record of the process just started: this filer
filer_upload_standard_set /kelp-set
KELPD_EXTRA_CONF="[filer]
address = $WEED_FILER
metadata_ttl_ms = $TTL_MS
timeout_ms = $TIMEOUT_MS"
kelpd_test_start "$WORK" "${WEED_VOLUME_DIRS[@]}"
at_exit kelpd_stop
at_exit cleanup_mount
start_mount "$WORK/mnt"

# ---- every file equals the filer's own GET ----------------------------------------------------
n=0
bad=() # every file is tried, so that one failure does not hide the others
while IFS=$'\t' read -r path kind size sha expected source note; do
	n=$((n + 1))
	if [ "$kind" = symlink ]; then
		got=$(readlink "$MNT$path") || { bad+=("readlink $path failed"); continue; }
		[ "$got" = "$(cat "$expected")" ] || bad+=("symlink $path: mount says '$got', filer '$(cat "$expected")'")
	else
		cmp "$MNT$path" "$expected" || { bad+=("$kind file $path ($note): the mount's bytes differ from the filer's GET"); continue; }
		st=$(stat -c %s "$MNT$path")
		[ "$st" = "$size" ] || bad+=("$path: stat size $st through the mount, $size from the filer")
	fi
done < <(filer_set_rows)
[ ${#bad[@]} = 0 ] || fail "$(printf '%s\n' "${bad[@]}")"
[ "$n" -ge 10 ] || fail "only $n files in the standard set"
echo "ok: $n files of the standard set read through the mount equal the filer's GET"

# ---- listings ---------------------------------------------------------------------------------
want=$(filer_walk /kelp-set)
got=$(mount_walk "$MNT/kelp-set")
[ "$got" = "$want" ] || fail "the mount's tree differs from the filer's listing (< mount, > filer):
$(diff <(echo "$got") <(echo "$want") || true)"
lsr=$(ls -lR "$MNT/kelp-set") || fail "ls -lR of the mount failed"
while IFS=$'\t' read -r rel type size; do
	name=${rel##*/}
	[[ $lsr == *"$name"* ]] || fail "ls -lR does not show $rel"
done <<<"$want"
echo "ok: ls -lR and a walk of the mount equal the filer's listing ($(wc -l <<<"$want") entries)"

# ---- read-only --------------------------------------------------------------------------------
some=$(filer_set_rows small | head -n 1 | cut -f1)
[ -n "$some" ] || fail "no 'small' file in the standard set"
for op in "write $MNT$some" "create $MNT/kelp-set/new-file" "unlink $MNT$some" \
	"mkdir $MNT/kelp-set/new-dir" "rename $MNT$some $MNT/kelp-set/renamed"; do
	# shellcheck disable=SC2086 # op is "OP PATH [PATH]"
	e=$(errno_of $op)
	[ "$e" = EROFS ] || fail "$op through the mount gave $e, not EROFS"
done
echo "ok: write, create, unlink, mkdir, rename give EROFS"

# ---- changes in the filer show within the TTL -------------------------------------------------
printf 'first version\n' >"$WORK/v1.txt"
printf 'second version, longer than the first\n' >"$WORK/v2.txt"
filer_put /kelp-live/change.txt "$WORK/v1.txt"
filer_put /kelp-live/gone.txt "$WORK/v1.txt"
filer_put /kelp-live/old-name.txt "$WORK/v2.txt"
has_v1() { cmp -s "$MNT/kelp-live/change.txt" "$WORK/v1.txt"; }
wait_until 60 has_v1 || fail "a new file of the filer did not show through the mount"
cmp "$MNT/kelp-live/gone.txt" "$WORK/v1.txt" || fail "gone.txt reads wrong before its delete"
cat "$MNT/kelp-live/old-name.txt" >/dev/null
filer_put /kelp-live/change.txt "$WORK/v2.txt"
curl -sf -m 30 -X DELETE "$(filer_url /kelp-live/gone.txt)" || fail "filer DELETE failed"
curl -sf -m 30 -o /dev/null -X POST "$(filer_url /kelp-live/new-name.txt)?mv.from=/kelp-live/old-name.txt" ||
	fail "filer rename (mv.from) failed"
t0=$SECONDS
has_v2() { cmp -s "$MNT/kelp-live/change.txt" "$WORK/v2.txt"; }
is_gone() { [ "$(errno_of stat "$MNT/kelp-live/gone.txt")" = ENOENT ]; }
renamed() { [ "$(errno_of stat "$MNT/kelp-live/old-name.txt")" = ENOENT ] &&
	cmp -s "$MNT/kelp-live/new-name.txt" "$WORK/v2.txt"; }
# the deadline is for a broken build only; a working one sees them within 2 x TTL
wait_until 60 has_v2 || fail "an overwrite in the filer did not show through the mount"
wait_until 60 is_gone || fail "a delete in the filer did not show through the mount"
wait_until 60 renamed || fail "a rename in the filer did not show through the mount"
echo "ok: overwrite, delete, rename in the filer seen through the mount (after $((SECONDS - t0)) s; TTL ${TTL_MS} ms)"

# ---- filer hung, back, killed -----------------------------------------------------------------
probe=$(filer_set_rows multi | head -n 1 | cut -f1)
probe_want=$(filer_set_rows multi | head -n 1 | cut -f5)
[ "$(errno_of read "$MNT$probe")" = OK ] || fail "reading $probe failed before the filer stopped"
kill -STOP "$FILER_PID"
at_exit "kill -CONT $FILER_PID 2>/dev/null"
reads_eio() { [ "$(errno_of read "$MNT$probe")" = EIO ]; }
wait_until 90 reads_eio || fail "reads did not give EIO with the filer stopped (last: $(errno_of read "$MNT$probe"))"
echo "ok: filer stopped -> EIO"
kill -CONT "$FILER_PID"
reads_ok() { [ "$(errno_of read "$MNT$probe")" = OK ] && cmp -s "$MNT$probe" "$probe_want"; }
wait_until 90 reads_ok || fail "reads did not work again once the filer was back"
echo "ok: filer back -> reads again"
# ---- clean unmount ----------------------------------------------------------------------------
kill -TERM "$MOUNT_PID"
rc=0
wait "$MOUNT_PID" || rc=$?
[ "$rc" = 0 ] || fail "kelp-mount exited $rc after SIGTERM; its log: $(tail -n 30 "$WORK/mount.log")"
! mounted || fail "$MNT is still mounted after SIGTERM"
left=$(ls -A "$MNT")
[ -z "$left" ] || fail "the mountpoint is not empty after the unmount: $left"
echo "ok: SIGTERM unmounts cleanly (exit 0, mountpoint empty)"

start_mount "$WORK/mnt2"
[ "$(errno_of read "$MNT$probe")" = OK ] || fail "reading $probe through a second mount failed"
{ kill -KILL "$FILER_PID" && wait "$FILER_PID"; } 2>/dev/null || true # (no "Killed" line)
wait_until 90 reads_eio || fail "reads did not give EIO with the filer killed (last: $(errno_of read "$MNT$probe"))"
echo "ok: filer killed -> EIO"
fusermount3 -u "$MNT"
rc=0
wait "$MOUNT_PID" || rc=$?
[ "$rc" = 0 ] || fail "kelp-mount exited $rc after fusermount3 -u; its log: $(tail -n 30 "$WORK/mount.log")"
! mounted || fail "$MNT is still mounted after fusermount3 -u"
MOUNT_PID=""
echo "ok: fusermount3 -u ends kelp-mount cleanly (exit 0)"
echo "PASS"
