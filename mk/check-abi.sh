#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# libkelp's ABI as an application sees it, checked against shm/kelp.h (run by `make check-abi`):
#   1. libkelp.so exports exactly the calls kelp.h declares: prints every exported symbol that kelp.h
#      does not declare and every kelp.h call that is not exported (shm/libkelp.map decides)
#   2. its soname is libkelp.so.MAJOR, libkelp.so.MAJOR -> libkelp.so.VERSION <- libkelp.so
#   3. it needs no library beyond the ones given (the Makefile's KELP_SYSLIBS), libc, the loader and the
#      sanitizer runtimes (a SAN=1 build)
#   4. libkelp.a defines every kelp.h call and every kelp_ symbol its objects use (a static link
#      needs no other archive)
#   5. kelp.h's file-id block is character for character core/fid.h's (the shared KELP_FID_DEFINED
#      guard lets either come first, so a difference would go unnoticed by the compiler)
# Exits 1 listing every failure.
#   usage: mk/check-abi.sh LIBDIR/libkelp.so.VERSION LIBDIR/libkelp.a VERSION "-lfoo -lbar"
set -euo pipefail
cd "$(dirname "$0")/.."
so=$1 ar=$2 version=$3 syslibs=$4
header=shm/kelp.h
fails=()

# Function names declared in kelp.h: a declaration starts in column 0 with its return type and has
# the name on its first line ("int kelp_connect(", "const char *kelp_strerror(").
declared=$(grep -E '^[a-z][a-z0-9_ ]*[ *]kelp_[a-z0-9_]+\(' "$header" |
	sed -E 's/^.*[ *](kelp_[a-z0-9_]+)\(.*$/\1/' | sort -u)
[ -n "$declared" ] || { echo "check-abi: no function declaration found in $header" >&2; exit 1; }
# Every defined dynamic symbol but the version node itself (type A), without its @@KELP_x version.
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)
while IFS= read -r s; do
	[ -n "$s" ] && fails+=("$so exports $s, which $header does not declare (shm/libkelp.map)")
done < <(comm -13 <(echo "$declared") <(echo "$exported"))
while IFS= read -r s; do
	[ -n "$s" ] && fails+=("$header declares $s, which $so does not export (shm/libkelp.map)")
done < <(comm -23 <(echo "$declared") <(echo "$exported"))

major=${version%%.*}
dir=$(dirname "$so")
soname=$(readelf -d "$so" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
[ "$soname" = "libkelp.so.$major" ] || fails+=("$so: soname '$soname', want libkelp.so.$major")
[ "$(basename "$so")" = "libkelp.so.$version" ] && [ -f "$so" ] && [ ! -L "$so" ] ||
	fails+=("$so is not the regular file libkelp.so.$version")
[ "$(readlink "$dir/libkelp.so.$major" || true)" = "libkelp.so.$version" ] ||
	fails+=("$dir/libkelp.so.$major does not link to libkelp.so.$version")
[ "$(readlink "$dir/libkelp.so" || true)" = "libkelp.so.$major" ] ||
	fails+=("$dir/libkelp.so does not link to libkelp.so.$major")

allowed='libc|ld-linux[-a-z0-9_]*|libasan|libubsan|libstdc\+\+|libm|libgcc_s'
for l in $syslibs; do allowed+="|lib${l#-l}"; done
needed=$(readelf -d "$so" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]$/\1/p')
for n in $needed; do
	[[ $n =~ ^($allowed)\.so ]] || fails+=("$so needs $n (allowed: $syslibs, libc)")
done

undef=$(nm -g --undefined-only "$ar" | awk '$2 == "U" && $3 ~ /^kelp_/ { print $3 }' | sort -u)
defs=$(nm -g --defined-only "$ar" | awk 'NF == 3 { print $3 }' | sort -u)
while IFS= read -r s; do
	[ -n "$s" ] && fails+=("$ar uses $s but defines it nowhere (KELP_CORE_SRCS in the Makefile)")
done < <(comm -23 <(echo "$undef") <(echo "$defs"))
while IFS= read -r s; do
	[ -n "$s" ] && fails+=("$header declares $s, which $ar does not define (KELP_CORE_SRCS in the Makefile)")
done < <(comm -23 <(echo "$declared") <(echo "$defs"))

block() { sed -n '/^#ifndef KELP_FID_DEFINED$/,/^#endif \/\* KELP_FID_DEFINED \*\/$/p' "$1"; }
if [ -z "$(block core/fid.h)" ] || ! diff -u <(block core/fid.h) <(block "$header") >/dev/null; then
	fails+=("the KELP_FID_DEFINED blocks of core/fid.h and $header differ (diff them; keep both equal)")
fi

echo "$(basename "$so") (soname $soname) exports $(echo "$exported" | wc -l) symbols;" \
	"$header declares $(echo "$declared" | wc -l) calls; needs:" $needed
if [ ${#fails[@]} -gt 0 ]; then
	echo "check-abi: ${#fails[@]} problem(s):"
	printf '  %s\n' "${fails[@]}"
	exit 1
fi
echo "check-abi: ok"
