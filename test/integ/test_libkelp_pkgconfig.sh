#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# libkelp as an application sees it: a program outside the tree, built only with
# `pkg-config --cflags --libs kelp` (shared) and with libkelp.a plus kelp.pc's private libraries
# (static), reads a needle through kelpd with the asynchronous API and gets the bytes `kelp-vol cat`
# gives. The shared program loads libkelp.so.0 (the soname; kelp.pc's version names the file it
# links to) and nothing of kelpd's (no libjansson); the static one needs no libkelp.so at all.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
command -v pkg-config >/dev/null || { echo "skip: pkg-config not installed"; exit 77; }
LIBDIR=$(pwd)/${BUILD:-build}/lib
[ -f "$LIBDIR/pkgconfig/kelp.pc" ] || { echo "skip: $LIBDIR/pkgconfig/kelp.pc not built (make)"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-pc.XXXXXX")
trap 'kelpd_stop; rm -rf "$D"' EXIT
cat >"$D/app.c" <<'C'
#include <kelp.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.socket_path = argv[1];
	struct kelp_session *s;
	int rc = kelp_connect(&o, &s);
	if (rc) { fprintf(stderr, "connect: %s\n", kelp_strerror(rc)); return 1; }
	struct kelp_fid fid;
	if (kelp_fid_parse(argv[2], strlen(argv[2]), &fid)) return 2;
	void *buf = kelp_buf_alloc(s, 1 << 20);
	if (!buf || kelp_queue_read(s, &fid, 0, buf, 1 << 20, 42) || kelp_submit(s) != 1) return 3;
	struct kelp_cqe c;
	if (kelp_wait(s, &c, 1, -1) != 1 || c.user_data != 42 || c.result < 0) {
		fprintf(stderr, "read: %s\n", kelp_strerror(c.result));
		return 4;
	}
	fwrite(buf, 1, (size_t)c.result, stdout);
	kelp_close(s);
	return 0;
}
C
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
# shellcheck disable=SC2046
cc -o "$D/app_shared" "$D/app.c" $(pkg-config --cflags --libs kelp) || fail "shared build"
private=()
for l in $(pkg-config --static --libs-only-l kelp); do [ "$l" = -lkelp ] || private+=("$l"); done
# shellcheck disable=SC2046
cc -o "$D/app_static" "$D/app.c" $(pkg-config --cflags kelp) "$LIBDIR/libkelp.a" "${private[@]}" ||
	fail "static build with libkelp.a ${private[*]}"

version=$(pkg-config --modversion kelp)
[ "$(readlink -f "$LIBDIR/libkelp.so")" = "$LIBDIR/libkelp.so.$version" ] ||
	fail "libkelp.so does not lead to libkelp.so.$version (kelp.pc's Version)"
needed=$(readelf -d "$D/app_shared")
[[ $needed == *"[libkelp.so.${version%%.*}]"* ]] || fail "the shared app does not need libkelp.so.${version%%.*}: $needed"
loaded=$(ldd "$D/app_shared")
[[ $loaded == *"$LIBDIR/libkelp.so.${version%%.*}"* ]] || fail "the shared app loads another libkelp: $loaded"
[[ $loaded != *libjansson* ]] || fail "libkelp.so drags libjansson into the app: $loaded"
needed=$(readelf -d "$D/app_static")
[[ $needed != *libkelp* ]] || fail "the static app still needs libkelp.so: $needed"

mkdir -p "$D/vol"
fid=$("$BIN/kelp-vol" create "$D/vol" 4 --synthetic 3 --size 100K | sed -n 2p)
"$BIN/kelp-vol" cat "$D/vol/4.dat" "$fid" >"$D/want"
kelpd_test_start "$D" "$D/vol"
"$D/app_shared" "$KELPD_SOCK" "$fid" >"$D/got1" || fail "shared app failed"
"$D/app_static" "$KELPD_SOCK" "$fid" >"$D/got2" || fail "static app failed"
cmp -s "$D/want" "$D/got1" || fail "shared app read other bytes"
cmp -s "$D/want" "$D/got2" || fail "static app read other bytes"
echo "ok: an outside program built with pkg-config (shared) and libkelp.a (static) reads $fid"
