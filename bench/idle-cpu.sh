#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CPU used by an idle kelpd (issue 10 item 6): start kelpd from each given build/bin folder with
# one lcore and a small exported volume, no client, let it settle, and read its utime + stime from
# /proc/<pid>/stat over SECONDS (default 10). Prints one row per build: the share of one core.
# EXTRA_CONF: more [engine] lines (e.g. "idle_park_us = 0" for the dedicated-core setting).
#
# usage: bench/idle-cpu.sh [-D SECONDS] BIN...
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=10
[ "${1:-}" = -D ] && { SECS=$2; shift 2; }
[ $# -ge 1 ] || { echo "idle-cpu.sh: give build/bin folders (see the header)" >&2; exit 2; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kelp-idle.XXXXXX")
. test/integ/lib/kelpd.sh
trap 'kelpd_stop; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/vol"
"$1/kelp-vol" create "$DIR/vol" 3 --synthetic 100 --size 4K >/dev/null
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, every thread of the process
for bin in "$@"; do
	cat >"$DIR/kelp.conf" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $DIR/kelpd.sock
arena_mb = 16
${EXTRA_CONF:-}
[export]
dirs = $DIR/vol
[rdma]
device = off
CONF
	KELPD_BIN=$bin/kelpd kelpd_start "$DIR/kelp.conf" "$DIR/kelpd.log"
	sleep 1 # settle: start-up work is not idle CPU
	t0=$(ticks "$KELPD_PID")
	sleep "$SECS"
	t1=$(ticks "$KELPD_PID")
	kelpd_stop
	awk -v b="$bin" -v d=$((t1 - t0)) -v s="$SECS" -v t="$TCK" -v e="${EXTRA_CONF:-default}" \
		'BEGIN { printf "%-40s %-22s idle CPU %6.1f %% of one core over %d s\n", b, e, 100 * d / (s * t), s }'
done
