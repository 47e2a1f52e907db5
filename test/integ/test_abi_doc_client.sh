#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shm/ABI.md is enough to write a client: test/integ/abi_doc_client.py, written from ABI.md alone
# (Python, standard library only), against a real kelpd serving kelp-vol volumes:
#   - handshake: welcome, memfd then doorbell eventfd, header = ABI.md's layout formula; a NOP;
#   - READ of every needle (synthetic, gzip-stored, SeaweedFS's fixture with masked CRCs) byte for
#     byte against `kelp-vol cat`, batched, unaligned buffers; STAT; CRC raw or masked; partial,
#     end-of-needle, past-the-end and wrong-cookie reads;
#   - the documented error completions of bad SQEs (-EINVAL, -E2BIG, -EFAULT, in ABI.md's order);
#   - the doorbell: the lcore parks (idle_park_us = 100), NEED_WAKEUP, the client rings, it serves;
#   - ring protocol violations (an SQ tail beyond the ring, a CQ head beyond the CQ tail): BROKEN,
#     -EPROTO, another session unaffected;
#   - hello refusals, the hello timeout, -EUSERS at max_sessions;
#   - last: a hello with a non-zero reserved word is refused with -EINVAL.
# KELPD_BIN=path runs it against another kelpd build (e.g. an older one).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
for t in kelpd kelpctl kelp-vol; do
	[ -x "$BIN/$t" ] || { echo "skip: $BIN/$t not built (make)"; exit 77; }
done
command -v jq >/dev/null || { echo "skip: jq missing (run 'make deps')"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 77; }
CL="python3 test/integ/abi_doc_client.py"
MAX_SESSIONS=4

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-abidoc.XXXXXX")
trap 'kelpd_stop; rm -rf "$D"' EXIT
mkdir -p "$D/vol" "$D/want" "$D/files"
"$BIN/kelp-vol" create "$D/vol" 5 --synthetic 24 --size 1-40K --seed 11 >/dev/null
for i in $(seq 1 6); do seq 1 $((i * 700)) >"$D/files/f$i.txt"; done
"$BIN/kelp-vol" create "$D/vol" 8 --gzip "$D"/files/*.txt >/dev/null
cp test/fixtures/43.dat "$D/vol/43.dat" # written by an old SeaweedFS: masked CRCs

KELPD_CONF=$D/kelp.conf
KELPD_SOCK=$D/kelpd.sock
cat >"$KELPD_CONF" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $KELPD_SOCK
idle_park_us = 100
arena_mb = 8
queue_depth = 64
max_sessions = $MAX_SESSIONS
[export]
dirs = $D/vol
[rdma]
device = off
CONF
kelpd_start "$KELPD_CONF" "$D/kelpd.log"

: >"$D/fids"
for v in 5 8 43; do
	"$BIN/kelp-vol" ls "$D/vol/$v.dat" | awk 'NR>1 {print $1}' >>"$D/fids"
done
while read -r fid; do
	"$BIN/kelp-vol" cat "$D/vol/${fid%%,*}.dat" "$fid" >"$D/want/$fid"
done <"$D/fids"
n=$(wc -l <"$D/fids")
[ "$n" -ge 30 ] || fail "only $n fids listed"
first=$(head -n 1 "$D/fids")

$CL "$KELPD_SOCK" handshake || fail "handshake"
# shellcheck disable=SC2046
out=$($CL "$KELPD_SOCK" read "$D/want" $(cat "$D/fids")) || fail "read"
echo "$out"
case $out in *"masked 0,"*) fail "no masked CRC seen (43.dat has them)" ;; esac
case $out in *"gzip-stored 0"*) fail "no gzip-stored needle seen (volume 8 has 6)" ;; esac
$CL "$KELPD_SOCK" errors "$first" || fail "errors"
$CL "$KELPD_SOCK" doorbell || fail "doorbell"
$CL "$KELPD_SOCK" broken || fail "broken"
$CL "$KELPD_SOCK" refusals || fail "refusals"
kelpd_wait_sessions 0 || fail "sessions of the earlier steps not released"
$CL "$KELPD_SOCK" users "$MAX_SESSIONS" || fail "users"
kelpd_alive || fail "kelpd died"
# last, so that an older kelpd passes everything before it
$CL "$KELPD_SOCK" reserved || fail "reserved hello words accepted"
kelpd_stop_checked || fail "kelpd did not stop cleanly"
echo "ok: the ABI.md-only client works against kelpd"
