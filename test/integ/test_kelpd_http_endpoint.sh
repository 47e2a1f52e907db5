#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kelpd's HTTP endpoint ([http] listen) on kelp-vol volumes, with curl:
#   - GET of every needle (plain and gzip-stored, 0 B..300 KiB, one of 3 MiB read in a second round
#     trip) equals `kelp-vol cat --gunzip`; both fid forms (/3,xx and /3/xx/name); ETag = the
#     quoted CRC; HEAD = headers only with the same Content-Length; If-None-Match -> 304;
#   - gzip-stored: as stored with Content-Encoding: gzip when accepted, inflated otherwise;
#   - Range -> 206 + Content-Range, unsatisfiable and multi-range -> 416, 404 for a missing needle,
#     413 for one larger than the session's max_io,
#     503 + Retry-After for a volume no path serves, 400 for a bad fid, 405 for POST;
#   - keep-alive: several requests on one connection; malformed heads -> 400 and kelpd serves on;
#   - pipelining: 8 connections each send 40 mixed requests in one write; every answer in order;
#   - Content-Type: the MIME type stored with the needle (kelp-vol create --mime), else
#     application/octet-stream;
#   - /healthz 200, /status = kelpctl --json status's fields, /metrics parsed (exact names);
#   - local needles are served on the control thread (kelp_http_served_local_total counts them);
#   - /metrics' kelp_read_latency_seconds histogram (local path, after 1 s of kelp-bench through
#     libkelp): cumulative buckets, +Inf = _count, at least one sample and at most one per local
#     completion (sampled);
#   - a client from 127.0.0.2 against allow = 127.0.0.1/32 -> 403; [http] allow changed to add
#     127.0.0.2 + SIGHUP -> 200 (live, issue 10 item 2);
#   - [http] idle_timeout_ms (set low by SIGHUP): a connection that sends nothing, and one that
#     sends half a request head, are closed by kelpd (EOF within a bounded wait, well under the
#     60 s default); kelp_http_idle_closed_total counts them;
#   - /healthz probes the session socket: 503 + Retry-After once the socket file is gone;
#   - with [seaweedfs] jwt_read_key set, reads need a read token as a volume server wants it
#     (HS256, "fid" and "exp" claims; ?jwt=, Authorization: Bearer, or cookie AT): none, a wrong
#     key, another needle's, or an expired one -> 401; a good one -> 200 (also with "_N"-less
#     and named fid forms); /healthz needs none.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
command -v curl >/dev/null || { echo "skip: curl missing (run 'make deps')"; exit 77; }

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-httpep.XXXXXX")
trap 'kelpd_stop; rm -rf "$D"' EXIT
mkdir -p "$D/vol" "$D/files" "$D/got"
"$BIN/kelp-vol" create "$D/vol" 5 --synthetic 40 --size 1-300K --seed 11 >/dev/null
for i in $(seq 1 6); do seq 1 $((i * 700)) >"$D/files/f$i.txt"; done
"$BIN/kelp-vol" create "$D/vol" 8 --gzip "$D"/files/*.txt >/dev/null
: >"$D/files/empty"
"$BIN/kelp-vol" create "$D/vol" 7 "$D/files/empty" >/dev/null
head -c $((3 << 20)) /dev/urandom >"$D/files/big.bin"
big=$("$BIN/kelp-vol" create "$D/vol" 9 "$D/files/big.bin")
seq 1 50 >"$D/files/typed.txt"
typed=$("$BIN/kelp-vol" create "$D/vol" 10 --mime "text/plain; charset=utf-8" "$D/files/typed.txt")
head -c $((33 << 20)) /dev/zero >"$D/files/huge.bin" # over the 32 MiB arena (max_io): 413
huge=$("$BIN/kelp-vol" create "$D/vol" 11 "$D/files/huge.bin")
rm -f "$D/files/huge.bin"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
U=http://127.0.0.1:$PORT
KELPD_EXTRA_CONF="[http]
listen = 127.0.0.1:$PORT
allow = 127.0.0.1/32"
kelpd_test_start "$D" "$D/vol"
_up() { curl -s -o /dev/null --max-time 5 "$U/healthz"; }
wait_until 30 _up || fail "the endpoint does not answer on $U (log: $(tail -5 "$KELPD_LOG"))"

# 1. every needle equals kelp-vol cat (inflated), ETag is the CRC
n=0
for v in 5 7 8 9; do
	while read -r fid _ _ _ flags crc _; do
		[ "$fid" = FID ] && continue
		"$BIN/kelp-vol" cat "$D/vol/$v.dat" "$fid" --gunzip >"$D/want"
		code=$(curl -s -o "$D/got/body" -D "$D/got/hdr" -w '%{http_code}' "$U/$fid")
		[ "$code" = 200 ] || fail "GET /$fid: $code"
		cmp -s "$D/want" "$D/got/body" || fail "GET /$fid: body differs from kelp-vol cat"
		n=$((n + 1))
	done < <("$BIN/kelp-vol" ls "$D/vol/$v.dat")
done
[ "$n" -ge 48 ] || fail "only $n needles checked"
fid=$("$BIN/kelp-vol" ls "$D/vol/5.dat" | awk 'NR>1 && $4 > 100 {print $1; exit}')
"$BIN/kelp-vol" cat "$D/vol/5.dat" "$fid" >"$D/want"
size=$(stat -c %s "$D/want")
hdr=$(curl -s -D - -o /dev/null "$U/$fid" | tr -d '\r')
etag=$(sed -n 's/^ETag: //p' <<<"$hdr")
# kelp-vol create stores the raw CRC-32C (SeaweedFS >= 3.09); the volume server quotes its 8 hex
crc=$(python3 - "$D/want" <<'PY'
import sys
c = 0xFFFFFFFF
for b in open(sys.argv[1], "rb").read():
    c ^= b
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
print("%08x" % (c ^ 0xFFFFFFFF))
PY
)
[ "$etag" = "\"$crc\"" ] || fail "ETag '$etag', want \"$crc\" (the needle's CRC)"
# the other fid form, with a name
vid=${fid%%,*}
code=$(curl -s -o "$D/got/b2" -w '%{http_code}' "$U/$vid/${fid#*,}/name.bin")
[ "$code" = 200 ] && cmp -s "$D/want" "$D/got/b2" || fail "GET /$vid/${fid#*,}/name.bin: $code"
# HEAD
hhead=$(curl -s -I "$U/$fid" | tr -d '\r')
grep -qx "Content-Length: $size" <<<"$hhead" || fail "HEAD: no Content-Length $size: $hhead"
[[ $hhead == *"ETag: $etag"* ]] || fail "HEAD: ETag missing"
# If-None-Match
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/$fid")
[ "$code" = 304 ] || fail "If-None-Match: $code"

# 2. Range
code=$(curl -s -o "$D/got/r" -D "$D/got/rh" -w '%{http_code}' -H 'Range: bytes=10-59' "$U/$fid")
[ "$code" = 206 ] || fail "Range: $code"
cmp -s "$D/got/r" <(tail -c +11 "$D/want" | head -c 50) || fail "Range: wrong bytes"
rh=$(tr -d '\r' <"$D/got/rh")
grep -qx "Content-Range: bytes 10-59/$size" <<<"$rh" || fail "Content-Range: $rh"
code=$(curl -s -o "$D/got/r" -w '%{http_code}' -H 'Range: bytes=-7' "$U/$fid")
[ "$code" = 206 ] && cmp -s "$D/got/r" <(tail -c 7 "$D/want") || fail "suffix Range: $code"
code=$(curl -s -o /dev/null -D "$D/got/rh" -w '%{http_code}' -H "Range: bytes=$size-" "$U/$fid")
[ "$code" = 416 ] || fail "unsatisfiable Range: $code"
rh=$(tr -d '\r' <"$D/got/rh")
grep -qx "Content-Range: bytes \*/$size" <<<"$rh" || fail "416 Content-Range: $rh"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-1,5-6' "$U/$fid")
[ "$code" = 416 ] || fail "multi-range: $code"

# 3. gzip both ways
gfid=$("$BIN/kelp-vol" ls "$D/vol/8.dat" | awk 'NR==2 {print $1}')
"$BIN/kelp-vol" cat "$D/vol/8.dat" "$gfid" >"$D/want.gz"
code=$(curl -s -o "$D/got/gz" -D "$D/got/gh" -w '%{http_code}' -H 'Accept-Encoding: gzip' "$U/$gfid")
[ "$code" = 200 ] && cmp -s "$D/want.gz" "$D/got/gz" || fail "gzip accepted: $code or bytes differ"
gh=$(tr -d '\r' <"$D/got/gh")
grep -qx "Content-Encoding: gzip" <<<"$gh" || fail "no Content-Encoding: gzip: $gh"
curl -s -o "$D/got/plain" -D "$D/got/ph" "$U/$gfid"
gunzip -c "$D/want.gz" | cmp -s - "$D/got/plain" || fail "gzip not accepted: not inflated"
ph=$(tr -d '\r' <"$D/got/ph")
[[ $ph != *Content-Encoding* ]] || fail "inflated answer says Content-Encoding"

# 4. errors
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/5,ffffff00000000")
[ "$code" = 404 ] || fail "missing needle: $code"
code=$(curl -s -o /dev/null -D "$D/got/eh" -w '%{http_code}' "$U/77,0100000000")
[ "$code" = 503 ] || fail "volume no path serves: $code"
eh=$(tr -d '\r' <"$D/got/eh")
grep -qx "Retry-After: 1" <<<"$eh" || fail "503 without Retry-After"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/not-a-fid")
[ "$code" = 400 ] || fail "bad fid: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/$fid")
[ "$code" = 405 ] || fail "POST: $code"

# 5. keep-alive: three requests on one connection (curl says it reused it)
out=$(curl -sv -o /dev/null -o /dev/null -o /dev/null "$U/$fid" "$U/$gfid" "$U/healthz" 2>&1)
[[ $out == *"Re-using existing connection"* || $out == *"Reusing existing"* ]] ||
	fail "connection not kept alive"
# malformed heads -> 400, then kelpd still serves
for bad in 'GARBAGE\r\n\r\n' 'GET /x HTTP/1.1\r\nNoColon\r\n\r\n' 'GET  HTTP/1.1\r\n\r\n' \
	'GET /x HTTP/1.1\r\n folded\r\n\r\n' 'GET /x HTTP/1.1\r\nContent-Length: zz\r\n\r\n'; do
	reply=$(python3 - "$PORT" "$bad" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode())
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.split(b"\r\n")[0].decode())
PY
)
	[[ $reply == "HTTP/1.1 400 "* ]] || fail "malformed head '$bad': '$reply'"
done
code=$(curl -s -o "$D/got/after" -w '%{http_code}' "$U/$fid")
[ "$code" = 200 ] && cmp -s "$D/want" "$D/got/after" || fail "after malformed heads: $code"

# 5b. Content-Type from the needle's stored MIME type
hdr=$(curl -s -D - -o "$D/got/typed" "$U/$typed" | tr -d '\r')
grep -qFx "Content-Type: text/plain; charset=utf-8" <<<"$hdr" || fail "stored MIME not served: $hdr"
cmp -s "$D/files/typed.txt" "$D/got/typed" || fail "typed needle differs"
hdr=$(curl -s -D - -o /dev/null -H 'Range: bytes=0-9' "$U/$typed" | tr -d '\r')
[[ $hdr == *"Content-Type: text/plain; charset=utf-8"* ]] || fail "stored MIME not on a 206: $hdr"
hdr=$(curl -s -D - -o /dev/null "$U/$fid" | tr -d '\r')
[[ $hdr == *"Content-Type: application/octet-stream"* ]] || fail "needle without MIME: $hdr"

# 5c. pipelined requests: 8 connections at once, each sends 40 requests in one write (GETs of small
# needles, served from the connection's own buffer in one send, and of needles over 64 KiB, from the
# arena; HEAD, Range, If-None-Match, 404, gzip inflated, typed, /healthz), then reads the answers:
# every one, in order, with the right status and bytes
small=$("$BIN/kelp-vol" ls "$D/vol/5.dat" | awk 'NR>1 && $4 < 65536 {print $1; exit}')
large=$("$BIN/kelp-vol" ls "$D/vol/5.dat" | awk 'NR>1 && $4 > 65536 {print $1; exit}')
[ -n "$small" ] && [ -n "$large" ] || fail "no needle under and over 64 KiB in volume 5"
"$BIN/kelp-vol" cat "$D/vol/5.dat" "$small" >"$D/small"
"$BIN/kelp-vol" cat "$D/vol/5.dat" "$large" >"$D/large"
gunzip -c "$D/want.gz" >"$D/gunz"
out=$(python3 - "$PORT" "$D" "$small" "$large" "$gfid" "$typed" <<'PY2'
import socket, sys, threading
port, d, small, large, gfid, typed = sys.argv[1:]
rd = lambda f: open(f"{d}/{f}", "rb").read()
S, L, G, T = rd("small"), rd("large"), rd("gunz"), rd("files/typed.txt")
# (method, path, extra header, status, body or None for "no body", content-type or None)
reqs = [("GET", small, "", 200, S, None), ("HEAD", small, "", 200, None, None),
        ("GET", large, "", 200, L, None), ("GET", small, "Range: bytes=5-40", 206, S[5:41], None),
        ("GET", large, "Range: bytes=-9", 206, L[-9:], None), ("GET", "5,ffffff00000000", "", 404, None, None),
        ("GET", gfid, "", 200, G, None), ("GET", typed, "", 200, T, "text/plain; charset=utf-8"),
        ("GET", "healthz", "", 200, None, None), ("GET", small, "If-None-Match: \"x\"", 200, S, None)] * 4
errors = []
def client(k):
    try:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
        s.sendall(b"".join(f"{m} /{p} HTTP/1.1\r\nHost: x\r\n{h and h + chr(13) + chr(10)}\r\n".encode()
                           for m, p, h, *_ in reqs))
        buf = b""
        for i, (m, p, h, status, body, ctype) in enumerate(reqs):
            while b"\r\n\r\n" not in buf:
                b = s.recv(65536)
                if not b:
                    raise EOFError(f"EOF before answer {i}")
                buf += b
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            hdr = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
            n = int(hdr["content-length"])
            got_status = int(lines[0].split()[1])
            if m == "HEAD":
                n = 0
            while len(buf) < n:
                b = s.recv(65536)
                if not b:
                    raise EOFError(f"EOF in body {i}")
                buf += b
            got, buf = buf[:n], buf[n:]
            if got_status != status:
                raise AssertionError(f"{i} {m} /{p} {h}: status {got_status}, want {status}")
            if body is not None and got != body:
                raise AssertionError(f"{i} {m} /{p} {h}: {len(got)} bytes differ from {len(body)}")
            if m == "HEAD" and int(hdr["content-length"]) != len(S):
                raise AssertionError(f"{i} HEAD: Content-Length {hdr['content-length']}")
            if ctype and hdr.get("content-type") != ctype:
                raise AssertionError(f"{i}: Content-Type {hdr.get('content-type')}")
        s.close()
    except Exception as e:
        errors.append(f"connection {k}: {e!r}")
ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("; ".join(errors) if errors else f"ok {8 * len(reqs)}")
PY2
)
[ "$out" = "ok 320" ] || fail "pipelined requests: $out"

# 6. the 3 MiB needle (beyond the first 1 MiB read); one larger than a read can be: 413
curl -s -o "$D/got/big" "$U/$big"
cmp -s "$D/files/big.bin" "$D/got/big" || fail "3 MiB needle differs"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/$huge")
[ "$code" = 413 ] || fail "33 MiB needle (arena 32 MiB): $code, want 413"
# kelp-bench below reads every needle of the directory, and /status is compared below: wait until
# kelpd has followed the removal (one volume fewer)
nvol=$(curl -s "$U/status" | jq '.volumes')
rm -f "$D/vol/11.dat" "$D/vol/11.idx"
_volume_11_gone() { [ "$(curl -s "$U/status" | jq '.volumes')" = $((nvol - 1)) ]; }
wait_until 60 _volume_11_gone || fail "kelpd still lists volume 11 after its files were removed"

# 7. /healthz, /status, /metrics
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")
[ "$code" = 200 ] || fail "/healthz: $code"
st=$(curl -s "$U/status")
want=$(kelpctl --json status)
[ "$(jq -r 'keys|join(",")' <<<"$st")" = "$(jq -r 'keys|join(",")' <<<"$want")" ] ||
	fail "/status keys differ from kelpctl --json status: $st"
[ "$(jq '.volumes' <<<"$st")" = "$(jq '.volumes' <<<"$want")" ] || fail "/status volumes differ"
# the endpoint served its local reads on the control thread; a libkelp client's reads (1 s of
# kelp-bench) feed the lcore's counters and latency histogram checked below
served=$(curl -s "$U/metrics" | awk '$1 == "kelp_http_served_local_total" {print $2}')
[ -n "$served" ] && [ "$served" -ge "$n" ] || fail "/metrics served_local '$served' < $n"
"$BIN/kelp-bench" -c "$KELPD_CONF" -d 4 -D 1 --volume-dir "$D/vol" >"$D/bench.out" 2>&1 ||
	fail "kelp-bench against kelpd: $(tail -3 "$D/bench.out")"
rc=0
"$BIN/kelpctl" -c "$KELPD_CONF" get 5,ffffff00000000 >/dev/null 2>&1 || rc=$? # an lcore's noent
[ "$rc" != 0 ] || fail "kelpctl get of a missing needle succeeded"
_one_session() { [ "$(kelpd_sessions)" = 1 ]; }
wait_until 30 _one_session || fail "kelp-bench's session still listed"
m=$(curl -s "$U/metrics")
reads=$(awk '$1 == "kelp_lcore_reads_total{lcore=\"0\"}" {print $2}' <<<"$m")
[ -n "$reads" ] && [ "$reads" -ge "$n" ] || fail "/metrics reads '$reads' < $n"
local_ok=$(awk '$1 == "kelp_lcore_completions_total{lcore=\"0\",path=\"local\"}" {print $2}' <<<"$m")
[ -n "$local_ok" ] && [ "$local_ok" -ge "$n" ] || fail "/metrics local completions '$local_ok'"
noent=$(awk '$1 == "kelp_lcore_errors_total{lcore=\"0\",kind=\"noent\"}" {print $2}' <<<"$m")
[ "$noent" -ge 1 ] || fail "/metrics noent '$noent'"
sess=$(awk '$1 == "kelp_sessions" {print $2}' <<<"$m")
[ "$sess" = 1 ] || fail "/metrics kelp_sessions '$sess' (the endpoint's own session)"
bad=$(grep -v '^#' <<<"$m" | grep -Ecv '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?$' || true)
[ "$bad" = 0 ] || fail "/metrics has $bad lines not in Prometheus text format"
printf '%s\n' "$m" >"$D/metrics"
python3 - "$n" "$D/metrics" <<'PY' || fail "/metrics latency histogram: $(grep latency <<<"$m")"
import re, sys
n = int(sys.argv[1])
buckets, count, total, local_ok = [], None, None, None
for line in open(sys.argv[2]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, value = line.rsplit(" ", 1)
    if name.startswith('kelp_read_latency_seconds_bucket{path="local"'):
        le = re.search(r'le="([^"]+)"', name).group(1)
        buckets.append((float("inf") if le == "+Inf" else float(le), int(value)))
    elif name == 'kelp_read_latency_seconds_count{path="local"}':
        count = int(value)
    elif name == 'kelp_read_latency_seconds_sum{path="local"}':
        total = float(value)
    elif name == 'kelp_lcore_completions_total{lcore="0",path="local"}':
        local_ok = int(value)
assert len(buckets) > 10 and buckets[-1][0] == float("inf"), buckets
assert all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
assert buckets[-1][1] == count and 1 <= count <= local_ok and local_ok >= n, (buckets[-1], count, local_ok, n)
assert 0 < total < count, total  # seconds: each local read well under a second
PY

# 8. access control: 127.0.0.2 is not in allow = 127.0.0.1/32
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$U/$fid")
[ "$code" = 403 ] || fail "client from 127.0.0.2: $code, want 403"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/$fid")
[ "$code" = 200 ] || fail "after the 403: $code"
# [http] allow is applied live on SIGHUP (connections accepted afterwards)
sed -i 's|^allow = 127.0.0.1/32$|allow = 127.0.0.1/32,127.0.0.2/32|' "$KELPD_CONF"
kill -HUP "$KELPD_PID"
_reloaded() { local l; l=$(<"$KELPD_LOG"); [[ $l == *"SIGHUP: configuration re-read"* ]]; }
wait_until 30 _reloaded || fail "no SIGHUP verdict: $(tail -5 "$KELPD_LOG")"
log=$(<"$KELPD_LOG")
[[ $log == *"SIGHUP: [http] allow = 127.0.0.1/32,127.0.0.2/32 (applied)"* ]] ||
	fail "[http] allow not applied: $(tail -5 "$KELPD_LOG")"
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$U/$fid")
[ "$code" = 200 ] || fail "client from 127.0.0.2 after allow += 127.0.0.2/32 and SIGHUP: $code"

# 9. idle connections are closed after [http] idle_timeout_ms (lowered live to 300 ms)
echo "idle_timeout_ms = 300" >>"$KELPD_CONF" # the [http] section is the last one
kill -HUP "$KELPD_PID"
_reloaded2() { local l; l=$(<"$KELPD_LOG"); [[ $l == *"SIGHUP: [http] idle_timeout_ms = 300 (applied)"* ]]; }
wait_until 30 _reloaded2 || fail "idle_timeout_ms not applied: $(tail -5 "$KELPD_LOG")"
for first in "" "GET /$fid HTTP/1.1"$'\r\n'"Host: x"$'\r\n'; do
	python3 - "$PORT" "$first" <<'PY' || fail "an idle connection ('$first') was not closed by kelpd"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
if sys.argv[2]:
    s.sendall(sys.argv[2].encode())  # half a request head: no blank line
s.settimeout(30)  # bounded: the default timeout (60 s) would fail this
try:
    data = s.recv(4096)
except ConnectionResetError:
    data = b""
assert data == b"", data
PY
done
idle=$(curl -s "$U/metrics" | awk '$1 == "kelp_http_idle_closed_total" {print $2}')
[ "$idle" -ge 2 ] || fail "kelp_http_idle_closed_total '$idle', want >= 2"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/$fid")
[ "$code" = 200 ] || fail "after the idle closes: $code"

# 10. /healthz also probes the session socket: gone socket file -> 503
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")
[ "$code" = 200 ] || fail "/healthz before removing the socket: $code"
rm -f "$KELPD_SOCK"
hdr=$(curl -s -D - -o /dev/null "$U/healthz" | tr -d '\r')
[[ $hdr == "HTTP/1.1 503 "* && $hdr == *"Retry-After: "* ]] || fail "/healthz without the session socket: $hdr"

kelpd_stop_checked || fail "kelpd did not stop cleanly"

# 11. read tokens: kelpd restarted with [seaweedfs] jwt_read_key
KEY=kelp-endpoint-test-key
KELPD_EXTRA_CONF="[http]
listen = 127.0.0.1:$PORT
allow = 127.0.0.1/32
[seaweedfs]
jwt_read_key = $KEY"
kelpd_test_start "$D" "$D/vol"
wait_until 30 _up || fail "the endpoint does not answer after the restart (log: $(tail -5 "$KELPD_LOG"))"
# token KEY FID EXP_OFFSET_S: an HS256 read token as SeaweedFS's security.EncodeJwt writes it
token() {
	python3 - "$1" "$2" "$3" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
key, fid, off = sys.argv[1].encode(), sys.argv[2], int(sys.argv[3])
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps({"fid": fid, "exp": int(time.time()) + off}, separators=(",", ":")).encode())
sig = b64(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
PY
}
other=$("$BIN/kelp-vol" ls "$D/vol/5.dat" | awk -v f="$fid" 'NR > 1 && $1 != f {print $1; exit}')
code_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
good=$(token "$KEY" "$fid" 60)
[ "$(code_of "$U/$fid")" = 401 ] || fail "jwt: a read without a token was not refused"
[ "$(code_of "$U/$fid?jwt=$(token wrong-key "$fid" 60)")" = 401 ] || fail "jwt: wrong key accepted"
[ "$(code_of "$U/$fid?jwt=$(token "$KEY" "$other" 60)")" = 401 ] || fail "jwt: another fid's token accepted"
[ "$(code_of "$U/$fid?jwt=$(token "$KEY" "$fid" -5)")" = 401 ] || fail "jwt: an expired token accepted"
[ "$(code_of "$U/$fid?jwt=garbage.not.jwt")" = 401 ] || fail "jwt: garbage accepted"
curl -s -o "$D/got/jwt" "$U/$fid?jwt=$good"
cmp -s "$D/got/jwt" <("$BIN/kelp-vol" cat --gunzip "$D/vol/5.dat" "$fid") || fail "jwt: ?jwt= read differs"
[ "$(code_of -H "Authorization: Bearer $good" "$U/$fid")" = 200 ] || fail "jwt: Bearer token refused"
[ "$(code_of -b "AT=$good" "$U/$fid")" = 200 ] || fail "jwt: cookie AT token refused"
[ "$(code_of -I "$U/$fid?x=1&jwt=$good")" = 200 ] || fail "jwt: HEAD with a token refused"
[ "$(code_of "$U/${fid%%,*}/${fid#*,}/name.bin?jwt=$good")" = 200 ] || fail "jwt: named form refused"
[ "$(code_of "$U/healthz")" = 200 ] || fail "jwt: /healthz wants a token"
kelpd_stop_checked || fail "kelpd (jwt) did not stop cleanly"
echo "ok: HTTP endpoint ($n needles, read tokens)"
