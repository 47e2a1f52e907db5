#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# DEBIAN/control of `make deb`: mk/deb-control.sh VERSION ARCH STAGING_DIR BINARY...
# Depends lists the package of every shared library the BINARYs load (ldd: with what those load in
# turn; then dpkg -S on the library's real path), except libkelp itself, so the list follows the
# build's link line.
set -euo pipefail
version=$1 arch=$2 root=$3
shift 3
declare -A pkgs=()
for bin in "$@"; do
	while read -r lib; do
		[ -n "$lib" ] || continue
		case $lib in */libkelp.so*) continue ;; esac
		owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true)
		[ -n "$owner" ] || { echo "deb-control.sh: no package owns $lib (needed by $bin)" >&2; exit 1; }
		pkgs[${owner%%:*}]=1
	done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
done
depends=$(printf '%s\n' "${!pkgs[@]}" | LC_ALL=C sort | paste -sd, - | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat <<CONTROL
Package: kelp
Version: $version
Architecture: $arch
Maintainer: kelp developers <kelp@localhost>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: kernel-bypass read engine for SeaweedFS
 kelpd serves SeaweedFS needles to local processes over shared-memory rings from pinned,
 busy-polling lcores, reading local volumes directly, remote ones over RDMA or HTTP.
 Includes kelpctl, kelp-bench, kelp-vol, kelp-rdma, libkelp (shared and static, kelp.h,
 kelp.pc), the man pages, /etc/kelp/kelp.conf and kelpd.service (create the kelp user first:
 see kelpd.service's comments).
CONTROL
