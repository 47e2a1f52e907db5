#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Upload N random files of SIZE bytes to a real SeaweedFS cluster, the way its clients do
(POST /dir/assign on the master, multipart POST to the volume server), over keep-alive
connections so thousands of uploads take seconds. Prints one fid per line.

usage: bench/weed-fill.py --master HOST:PORT -n N --size BYTES [--volume VID]

Random bytes do not compress, so the volume server stores them as sent (no gzip).
"""
import argparse
import http.client
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True, help="master host:port")
    ap.add_argument("-n", type=int, required=True, help="number of files")
    ap.add_argument("--size", type=int, required=True, help="bytes per file")
    args = ap.parse_args()
    master = http.client.HTTPConnection(args.master, timeout=30)
    volume_conns = {}
    boundary = "kelpfillboundary7d1c"
    for i in range(args.n):
        master.request("POST", "/dir/assign")
        resp = master.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"weed-fill: /dir/assign answered {resp.status}: {body[:200]!r}")
        a = json.loads(body)
        if "fid" not in a:
            sys.exit(f"weed-fill: /dir/assign: {a}")
        url = a["url"]
        conn = volume_conns.get(url)
        if conn is None:
            conn = volume_conns[url] = http.client.HTTPConnection(url, timeout=30)
        data = os.urandom(args.size)
        payload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f{i}.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        conn.request("POST", "/" + a["fid"], body=payload,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status not in (200, 201):
            sys.exit(f"weed-fill: upload of {a['fid']} to {url} answered {resp.status}: {body[:200]!r}")
        print(a["fid"])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
