#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The docs cannot drift from the code (README "Operating kelp"):
# - every key of core/config.c's table is in conf/kelp.conf under its section, and the file names no
#   key the table lacks; kelp.conf(5) lists the same keys;
# - every long option in each tool's --help (and its commands' --help) is in its man page, and so
#   are --version and every call libkelp exports (shm/libkelp.map) in libkelp(3);
# - every page renders with `man -l` without a warning.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-${BUILD:-build}/bin}
MAN=${BUILD:-build}/man
fail() { echo "FAIL: $*" >&2; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 # BUILD=build-asan: --help paths
command -v man >/dev/null || { echo "skip: man not installed (make deps)"; exit 77; }
for p in kelpd.8 kelpctl.8 kelp-bench.1 kelp-vol.1 kelp-rdma.1 kelp.conf.5 libkelp.3; do
	[ -f "$MAN/$p" ] || { echo "skip: $MAN/$p not built (make)"; exit 77; }
done

# section.key of the table: {.section = "engine", .key = "lcores", ...
table=$(grep -o '\.section = "[a-z_]*", \.key = "[a-z_0-9]*"' core/config.c |
	sed 's/\.section = "\([^"]*\)", \.key = "\([^"]*\)"/\1.\2/' | LC_ALL=C sort)
[ "$(wc -l <<<"$table")" -ge 20 ] || fail "found only $(wc -l <<<"$table") keys in core/config.c's table"
conf=$(awk '/^\[/ { s = substr($0, 2, length($0) - 2); next }
	/^[a-z_0-9]+[ \t]*=/ { k = $0; sub(/[ \t]*=.*/, "", k); print s "." k }' conf/kelp.conf |
	LC_ALL=C sort)
[ "$table" = "$conf" ] || fail "conf/kelp.conf and core/config.c's keys differ (< table, > conf/kelp.conf):
$(diff <(echo "$table") <(echo "$conf") || true)"
# kelp.conf(5): ".SS [engine]" headings, "\fBlcores\fR = 1" tags
page=$(awk '/^\.SS \\?\[/ { s = $2; gsub(/[\\[\]]/, "", s); next }
	/^\\fB[a-z_0-9]+\\fR = / { k = $0; sub(/^\\fB/, "", k); sub(/\\fR.*/, "", k); print s "." k }' \
	"$MAN/kelp.conf.5" | LC_ALL=C sort)
[ "$table" = "$page" ] || fail "kelp.conf(5) and core/config.c's keys differ (< table, > page):
$(diff <(echo "$table") <(echo "$page") || true)"

# rendered pages: no warnings, and the text to search (hyphens as typed: -Tascii)
render() {
	local out err
	err=$(MANWIDTH=200 man --warnings=w -E ascii -l "$1" 2>&1 >/dev/null) || fail "man -l $1 failed: $err"
	[ -z "$err" ] || fail "man -l $1 warns: $err"
	out=$(MANWIDTH=200 man -E ascii -l "$1" 2>/dev/null)
	printf '%s\n' "$out"
}
# tool page "sub-command ..." : every --long option of `tool --help` and `tool sub --help`
check_tool() {
	local tool=$1 page=$2 text help opts o
	shift 2
	text=$(render "$MAN/$page")
	help=$("$BIN/$tool" --help)
	for sub in "$@"; do help+=$'\n'$("$BIN/$tool" "$sub" --help); done
	opts=$(grep -o -- '--[a-z][a-z0-9-]*' <<<"$help" | LC_ALL=C sort -u)
	[ -n "$opts" ] || fail "$tool --help names no long option"
	[[ $opts == *--version* ]] || fail "$tool --help does not name --version"
	for o in $opts; do
		[[ $text == *"$o"* ]] || fail "$page does not mention $o of $tool's --help"
	done
	echo "ok: $page: $(wc -w <<<"$opts") long options of $tool --help"
}
check_tool kelpd kelpd.8
check_tool kelpctl kelpctl.8
check_tool kelp-bench kelp-bench.1
check_tool kelp-vol kelp-vol.1 ls verify cat idx create
check_tool kelp-rdma kelp-rdma.1 serve get bench
# kelp-mount is built only where libfuse3 is (Makefile): checked when it was
if [ -x "$BIN/kelp-mount" ]; then
	[ -f "$MAN/kelp-mount.8" ] || fail "$BIN/kelp-mount is built but $MAN/kelp-mount.8 is not"
	check_tool kelp-mount kelp-mount.8
fi

text=$(render "$MAN/kelp.conf.5")
[[ $text == *"socket = /run/kelp/kelpd.sock"* ]] || fail "kelp.conf(5) lacks the default socket"
text=$(render "$MAN/libkelp.3")
calls=$(grep -o 'kelp_[a-z_0-9]*;' shm/libkelp.map | tr -d ';')
[ -n "$calls" ] || fail "no calls in shm/libkelp.map"
for c in $calls; do [[ $text == *"$c("* ]] || fail "libkelp(3) does not document $c()"; done
echo "ok: kelp.conf(5) and conf/kelp.conf list the $(wc -l <<<"$table") keys of core/config.c; libkelp(3) the $(wc -w <<<"$calls") calls"
