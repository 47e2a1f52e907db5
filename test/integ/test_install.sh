#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install` as an operator and an application developer see it (README "Operating kelp"):
# - into a DESTDIR: exactly the expected files (kelpd in sbin/, the tools in bin/, libkelp.so.0.1.0
#   with its soname links and libkelp.a, kelp.h, kelp.pc with the installed paths, the man pages,
#   kelp.conf, the systemd unit), each tool's --version giving kelp.pc's version and the ABI version;
# - the unit passes `systemd-analyze verify` without a warning and runs kelpd as the kelp user with
#   LimitMEMLOCK=infinity and /run/kelp (the default socket's directory);
# - a program built against the DESTDIR tree with pkg-config only (PKG_CONFIG_SYSROOT_DIR, shared and
#   static) reads a needle through the installed kelpd, loading libkelp.so.0 from the DESTDIR;
# - a second install keeps an edited kelp.conf; `make uninstall` leaves kelp.conf and nothing else;
# - PREFIX=/usr with a multiarch LIBDIR puts the config in /etc and names those paths in the unit;
# - `make deb`: dpkg-deb --info/--contents of the package (never installed here): name, version,
#   architecture, Depends from the libraries kelpd loads, the PREFIX=/usr files, kelp.conf a
#   conffile.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
for c in pkg-config systemd-analyze; do
	command -v $c >/dev/null || { echo "skip: $c not installed (make deps)"; exit 77; }
done

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-install.XXXXXX")
trap 'kelpd_stop; [ -n "${KEEP:-}" ] || rm -rf "$D"' EXIT
R=$D/root
# make without the PKG_CONFIG_* below (exported for the app build): the Makefile's own probe of
# the system's fuse3 (kelp-mount) must see the system
mk() { env -u PKG_CONFIG_SYSROOT_DIR -u PKG_CONFIG_LIBDIR -u PKG_CONFIG_PATH \
	make -s --no-print-directory ${BUILD:+BUILD=$BUILD} "$@" >"$D/make.log" 2>&1 ||
	{ cat "$D/make.log" >&2; fail "make $*"; }; }
files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort); }

mk install PREFIX=/usr/local DESTDIR="$R"
version=$(sed -n 's/^KELP_VERSION := //p' Makefile)
abi=$(sed -n 's/^#define KELP_ABI_VERSION \([0-9]*\)u$/\1/p' shm/kelp_abi.h)
[ -n "$version" ] && [ -n "$abi" ] || fail "no KELP_VERSION in Makefile or KELP_ABI_VERSION in kelp_abi.h"
want="usr/local/bin/kelp-bench
usr/local/bin/kelp-rdma
usr/local/bin/kelp-vol
usr/local/bin/kelpctl
usr/local/etc/kelp/kelp.conf
usr/local/include/kelp.h
usr/local/lib/libkelp.a
usr/local/lib/libkelp.so
usr/local/lib/libkelp.so.0
usr/local/lib/libkelp.so.$version
usr/local/lib/pkgconfig/kelp.pc
usr/local/lib/systemd/system/kelpd.service
usr/local/sbin/kelpd
usr/local/share/man/man1/kelp-bench.1
usr/local/share/man/man1/kelp-rdma.1
usr/local/share/man/man1/kelp-vol.1
usr/local/share/man/man3/libkelp.3
usr/local/share/man/man5/kelp.conf.5
usr/local/share/man/man8/kelpctl.8
usr/local/share/man/man8/kelpd.8"
# kelp-mount is built, and so installed, only where libfuse3 is (Makefile)
mount_tool=()
if [ -x "${BUILD:-build}/bin/kelp-mount" ]; then
	mount_tool=(bin/kelp-mount)
	want=$(printf '%s\nusr/local/bin/kelp-mount\nusr/local/share/man/man8/kelp-mount.8\n' "$want" |
		LC_ALL=C sort)
fi
got=$(files "$R")
[ "$got" = "$want" ] || fail "installed files differ: $(diff <(echo "$want") <(echo "$got") || true)"
L=$R/usr/local/lib
[ "$(readlink "$L/libkelp.so")" = libkelp.so.0 ] || fail "libkelp.so -> $(readlink "$L/libkelp.so")"
[ "$(readlink "$L/libkelp.so.0")" = "libkelp.so.$version" ] || fail "libkelp.so.0 -> $(readlink "$L/libkelp.so.0")"
cmp -s conf/kelp.conf "$R/usr/local/etc/kelp/kelp.conf" || fail "installed kelp.conf is not conf/kelp.conf"
for t in sbin/kelpd bin/kelpctl bin/kelp-bench bin/kelp-vol bin/kelp-rdma "${mount_tool[@]}"; do
	out=$("$R/usr/local/$t" --version) || fail "$t --version failed"
	[ "$out" = "${t#*/} $version (shm ABI $abi)" ] || fail "$t --version says '$out'"
done

# kelp.pc: installed paths there, the build tree's in build/lib/pkgconfig/kelp.pc
pc=$(cat "$L/pkgconfig/kelp.pc")
[[ $pc != *"$(pwd)"* ]] || fail "the installed kelp.pc names the build tree: $pc"
[[ $pc == *"libdir=/usr/local/lib"* && $pc == *"includedir=/usr/local/include"* ]] ||
	fail "the installed kelp.pc lacks the installed paths: $pc"
inpc=$(cat "${BUILD:-build}/lib/pkgconfig/kelp.pc")
[[ $inpc == *"libdir=$(pwd)/${BUILD:-build}/lib"* ]] || fail "build/lib/pkgconfig/kelp.pc no longer points into the build tree: $inpc"

# the unit
unit=$R/usr/local/lib/systemd/system/kelpd.service
for line in "ExecStart=/usr/local/sbin/kelpd -c /usr/local/etc/kelp/kelp.conf" User=kelp \
	LimitMEMLOCK=infinity RuntimeDirectory=kelp Restart=on-failure NoNewPrivileges=yes \
	ProtectSystem=strict; do
	grep -qxF "$line" "$unit" || fail "the unit lacks the line $line"
done
for line in MemoryDenyWriteExecute= SystemCallFilter= PrivateDevices=yes; do
	! grep -q "^$line" "$unit" || fail "the unit sets $line (breaks RDMA verbs or io_uring)"
done
[ "$(sed -n 's/^socket = //p' conf/kelp.conf)" = /run/kelp/kelpd.sock ] ||
	fail "conf/kelp.conf's default socket is not in the unit's RuntimeDirectory /run/kelp"
# verify looks for ExecStart's binary on this host: point it at the DESTDIR's. verify exits 0 on
# warnings (an unknown key, a bad value), so any output fails the test.
mkdir "$D/unit"
sed "s|^ExecStart=/usr/local/|ExecStart=$R/usr/local/|" "$unit" >"$D/unit/kelpd.service"
verify=$(systemd-analyze verify --man=no "$D/unit/kelpd.service" 2>&1) ||
	fail "systemd-analyze verify failed: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"

# an application built against the DESTDIR tree, with pkg-config only
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
	if (rc) { fprintf(stderr, "connect: %s\n", kelp_last_error()); return 1; }
	struct kelp_fid fid;
	if (kelp_fid_parse(argv[2], strlen(argv[2]), &fid)) return 2;
	void *buf = kelp_buf_alloc(s, 1 << 20);
	ssize_t n = buf ? kelp_read(s, &fid, 0, buf, 1 << 20, NULL) : -1;
	if (n < 0) { fprintf(stderr, "read: %s\n", kelp_strerror((int)n)); return 3; }
	fwrite(buf, 1, (size_t)n, stdout);
	kelp_close(s);
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_LIBDIR=$L/pkgconfig PKG_CONFIG_PATH=$L/pkgconfig
[ "$(pkg-config --modversion kelp)" = "$version" ] || fail "pkg-config --modversion: $(pkg-config --modversion kelp)"
cflags=$(pkg-config --cflags kelp)
cflags=${cflags% } # pkg-config ends it with a space
[ "$cflags" = "-I$R/usr/local/include" ] || fail "pkg-config --cflags kelp = '$cflags'"
# shellcheck disable=SC2046
cc -o "$D/app_shared" "$D/app.c" $(pkg-config --cflags --libs kelp) || fail "shared build"
private=()
for l in $(pkg-config --static --libs-only-l kelp); do [ "$l" = -lkelp ] || private+=("$l"); done
# shellcheck disable=SC2046
cc -o "$D/app_static" "$D/app.c" $(pkg-config --cflags --libs-only-L kelp) -Wl,-Bstatic -lkelp \
	-Wl,-Bdynamic "${private[@]}" || fail "static build"
needed=$(readelf -d "$D/app_static")
[[ $needed != *libkelp* ]] || fail "the static app needs libkelp.so: $needed"
loaded=$(LD_LIBRARY_PATH=$L ldd "$D/app_shared")
[[ $loaded == *"$L/libkelp.so.0 "* ]] || fail "the shared app does not load the DESTDIR's libkelp: $loaded"

mkdir -p "$D/vol"
fid=$("$R/usr/local/bin/kelp-vol" create "$D/vol" 4 --synthetic 3 --size 100K | sed -n 2p)
"$R/usr/local/bin/kelp-vol" cat "$D/vol/4.dat" "$fid" >"$D/want"
KELPD_BIN=$R/usr/local/sbin/kelpd
kelpd_test_start "$D" "$D/vol"
LD_LIBRARY_PATH=$L "$D/app_shared" "$KELPD_SOCK" "$fid" >"$D/got1" || fail "shared app failed"
"$D/app_static" "$KELPD_SOCK" "$fid" >"$D/got2" || fail "static app failed"
cmp -s "$D/want" "$D/got1" || fail "shared app read other bytes"
cmp -s "$D/want" "$D/got2" || fail "static app read other bytes"
kelpd_stop_checked || fail "the installed kelpd did not stop cleanly"

# an edited config survives a second install; uninstall keeps it and removes everything else
echo "# edited by the operator" >>"$R/usr/local/etc/kelp/kelp.conf"
mk install PREFIX=/usr/local DESTDIR="$R"
edited=$(tail -n 1 "$R/usr/local/etc/kelp/kelp.conf")
[ "$edited" = "# edited by the operator" ] || fail "make install overwrote an edited kelp.conf"
mk uninstall PREFIX=/usr/local DESTDIR="$R"
left=$(files "$R")
[ "$left" = usr/local/etc/kelp/kelp.conf ] || fail "make uninstall left: $left"

# PREFIX=/usr, Debian's multiarch LIBDIR, the unit where Debian's packages put theirs
R2=$D/root2
mk install PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu SYSTEMDUNITDIR=/lib/systemd/system DESTDIR="$R2"
for f in etc/kelp/kelp.conf usr/lib/x86_64-linux-gnu/libkelp.so.0 usr/lib/x86_64-linux-gnu/pkgconfig/kelp.pc \
	lib/systemd/system/kelpd.service usr/sbin/kelpd usr/share/man/man5/kelp.conf.5; do
	[ -e "$R2/$f" ] || fail "PREFIX=/usr: no $f"
done
grep -qxF "ExecStart=/usr/sbin/kelpd -c /etc/kelp/kelp.conf" "$R2/lib/systemd/system/kelpd.service" ||
	fail "PREFIX=/usr: the unit names other paths: $(grep ExecStart "$R2/lib/systemd/system/kelpd.service")"
grep -qxF "libdir=/usr/lib/x86_64-linux-gnu" "$R2/usr/lib/x86_64-linux-gnu/pkgconfig/kelp.pc" ||
	fail "PREFIX=/usr: kelp.pc's libdir is not LIBDIR"
mk uninstall PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu SYSTEMDUNITDIR=/lib/systemd/system DESTDIR="$R2"
left=$(files "$R2")
[ "$left" = etc/kelp/kelp.conf ] || fail "PREFIX=/usr: make uninstall left: $left"
echo "ok: make install / uninstall into a DESTDIR; an app built with its pkg-config reads $fid"

# make deb: inspected with dpkg-deb, not installed
command -v dpkg-deb >/dev/null || { echo "skip: make deb (no dpkg-deb)"; exit 0; }
mk deb
arch=$(dpkg --print-architecture)
multi=$(gcc -print-multiarch)
deb=${BUILD:-build}/kelp_${version}_$arch.deb
[ -f "$deb" ] || fail "make deb made no $deb"
info=$(dpkg-deb --info "$deb")
for want in "Package: kelp" "Version: $version" "Architecture: $arch"; do
	grep -qxF " $want" <<<"$info" || fail "make deb: no '$want' in: $info"
done
depends=$(dpkg-deb --field "$deb" Depends)
for lib in liburing libnuma libjansson libinih libc6; do
	[[ $depends == *"$lib"* ]] || fail "make deb: Depends lacks $lib: $depends"
done
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/kelp/kelp.conf ] ||
	fail "make deb: kelp.conf is not a conffile"
contents=$(dpkg-deb --contents "$deb" | awk '{print $1, $2, $NF}')
for f in ./usr/sbin/kelpd ./usr/bin/kelpctl ./usr/bin/kelp-bench ./usr/bin/kelp-vol ./usr/bin/kelp-rdma \
	"./usr/lib/$multi/libkelp.so.$version" "./usr/lib/$multi/libkelp.a" ./usr/include/kelp.h \
	"./usr/lib/$multi/pkgconfig/kelp.pc" ./etc/kelp/kelp.conf ./lib/systemd/system/kelpd.service \
	./usr/share/man/man8/kelpd.8 ./usr/share/man/man5/kelp.conf.5; do
	grep -qE "^[-l]rw[-x]r[-w][-x]r[-w][-x] root/root $f\$" <<<"$contents" ||
		fail "make deb: no $f owned by root in: $contents"
done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/kelpd.service >"$D/deb.service"
grep -qxF "ExecStart=/usr/sbin/kelpd -c /etc/kelp/kelp.conf" "$D/deb.service" ||
	fail "make deb: the unit names other paths"
echo "ok: make deb: $deb ($(wc -c <"$deb") bytes), Depends: $depends"
