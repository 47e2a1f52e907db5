#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The HTTP fallback against a real SeaweedFS whose volume servers require JWT read tokens
# (security.toml jwt.signing.read.key) and sit in two data centers: without the key reads are
# refused (EPERM), with it they equal curl; kelpd signs them too ([seaweedfs] jwt_read_key); a
# volume replicated across the data centers (replication 100) is read from the preferred data
# center's replica first ([seaweedfs] data_center), whichever that is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. test/integ/lib/weed.sh
weed_require
FETCH=$ROOT/build/test/integ/http_fetch
READ=$ROOT/build/test/integ/kelp_read
BIN=$ROOT/build/bin
. test/integ/lib/kelpd.sh # kelpd_start: $BIN/kelpd
for b in "$FETCH" "$READ" "$BIN/kelpd"; do [ -x "$b" ] || { echo "FAIL: $b missing (make all)" >&2; exit 1; }; done
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
KEY=kelp-test-read-key-$$

# weed reads security.toml from its working directory: start the cluster from a directory holding one.
SEC=$(mktemp -d "${TMPDIR:-/tmp}/kelp-sec.XXXXXX")
at_exit "rm -rf '$SEC'"
cat >"$SEC/security.toml" <<EOF
[jwt.signing.read]
key = "$KEY"
expires_after_seconds = 60
EOF
cd "$SEC"
weed_require
weed_start_master
weed_start_volume -dataCenter=dc1 -rack=r1
weed_start_volume -dataCenter=dc2 -rack=r1
weed_wait_ready 2
cd "$ROOT"

head -c 12345 /dev/urandom >"$WEED_DIR/x.bin"
assign=$(weed_assign replication=100) || fail "no fid with replication 100"
fid=$(weed_json fid <<<"$assign") url=$(weed_json url <<<"$assign")
curl -sf -F "file=@$WEED_DIR/x.bin" "http://$url/$fid" >/dev/null || fail "upload with replication 100"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$url/$fid")
[ "$code" = 401 ] || fail "the volume server should refuse reads without a token, got $code"

# 1. no key -> EPERM; key -> the bytes
line=$("$FETCH" -m "$WEED_MASTER" "$fid" | sed -n 1p)
[ "$(field err "$line")" = EPERM ] || fail "no token: $line"
line=$("$FETCH" -m "$WEED_MASTER" --jwt-key wrong-key "$fid" | sed -n 1p)
[ "$(field err "$line")" = EPERM ] || fail "wrong key: $line"
"$FETCH" -m "$WEED_MASTER" --jwt-key "$KEY" -o "$WEED_DIR" "$fid" >"$WEED_DIR/res"
cmp -s "$WEED_DIR/$fid" "$WEED_DIR/x.bin" || fail "JWT read differs: $(cat "$WEED_DIR/res")"
echo "ok: JWT: no token / wrong key -> EPERM; HS256 token with the read key -> the uploaded bytes"

# 2. same data center first, for either data center
for i in 0 1; do
	dc=dc$((i + 1))
	line=$("$FETCH" -m "$WEED_MASTER" --jwt-key "$KEY" --dc "$dc" "$fid" | sed -n 1p)
	[ "$(field server "$line")" = "${WEED_VOLUME_URLS[i]}" ] ||
		fail "--dc $dc should read from ${WEED_VOLUME_URLS[i]}: $line"
done
echo "ok: data center preference: dc1 -> ${WEED_VOLUME_URLS[0]}, dc2 -> ${WEED_VOLUME_URLS[1]}"

# 3. kelpd signs its requests too
K=$WEED_DIR/kelp
mkdir -p "$K"
cat >"$K/kelp.conf" <<EOF
[engine]
lcores = 1
control_cpu = 0
socket = $K/kelpd.sock
arena_mb = 16
idle_park_us = 200
[seaweedfs]
master = $WEED_MASTER
data_center = dc2
jwt_read_key = $KEY
[rdma]
device = off
EOF
at_exit kelpd_stop
kelpd_start "$K/kelp.conf" "$K/kelpd.log" || fail "kelpd did not start"
"$READ" -c "$K/kelp.conf" --offset 1000 --length 5000 "$fid" >"$K/got" 2>"$K/meta" || fail "kelp_read: $(cat "$K/meta")"
head -c 6000 "$WEED_DIR/x.bin" | tail -c 5000 | cmp -s - "$K/got" || fail "kelpd JWT range read differs: $(cat "$K/meta")"
grep -q "path=http" "$K/meta" || fail "not served by HTTP: $(cat "$K/meta")"
echo "ok: kelpd with [seaweedfs] jwt_read_key reads the range through the JWT-protected server"
