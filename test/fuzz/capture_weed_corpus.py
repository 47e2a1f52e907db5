#!/usr/bin/env python3
"""Capture raw HTTP responses from a running weed master + volume server as seed corpora for
fuzz_http_response and fuzz_lookup (test/fuzz/corpus/<target>/).

usage: capture_weed_corpus.py MASTER_HOSTPORT VOLUME_HOSTPORT FID [FID...]
Loopback only; the seeds are committed, so this runs only when refreshing them."""
import os, socket, sys

def raw(hostport, req):
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(req.encode())
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out

def get(hostport, path, *headers):
    h = "".join(x + "\r\n" for x in headers)
    return raw(hostport, f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\n{h}Connection: close\r\n\r\n")

def main():
    if len(sys.argv) < 4 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    master, volume, fids = sys.argv[1], sys.argv[2], sys.argv[3:]
    here = os.path.dirname(os.path.abspath(__file__))
    hdir = os.path.join(here, "corpus", "fuzz_http_response")
    ldir = os.path.join(here, "corpus", "fuzz_lookup")
    os.makedirs(hdir, exist_ok=True)
    os.makedirs(ldir, exist_ok=True)
    seeds = {}
    for vid in ("1", "2", "999"):
        seeds[f"weed448-lookup-{vid}"] = get(master, f"/dir/lookup?volumeId={vid}")
    for i, fid in enumerate(fids):
        seeds[f"weed448-get-{i}"] = get(volume, "/" + fid)
        seeds[f"weed448-get-gzip-{i}"] = get(volume, "/" + fid, "Accept-Encoding: gzip")
        seeds[f"weed448-range-{i}"] = get(volume, "/" + fid, "Range: bytes=3-40")
    seeds["weed448-404"] = get(volume, "/1,ffffffffff")
    seeds["weed448-400"] = get(volume, "/zz")
    for name, resp in seeds.items():
        resp = resp[:60000]  # -max_len of mk/run-fuzz.sh
        with open(os.path.join(hdir, name), "wb") as f:
            f.write(bytes([255, 7]) + resp)  # dst cap 4080, feed in 7-byte pieces
        if "lookup" in name:
            status = int(resp.split(b" ", 2)[1])
            body = resp.split(b"\r\n\r\n", 1)[1]
            sel = {200: 0, 404: 1, 503: 2}.get(status, 3)
            with open(os.path.join(ldir, name), "wb") as f:
                f.write(bytes([sel]) + body)

main()
