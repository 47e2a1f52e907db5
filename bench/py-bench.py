#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Python read throughput for bench/run-python.sh: random reads of the fids in a file for a while,
one JSON line (label, ops_per_sec, mb_per_sec, errors) on stdout.

  py-bench.py kelp --socket S --fids FILE [-d 32] [-D 5] [--label L] [--zero-copy]
      Session.read_many at depth d (bytes copies; memoryviews with --zero-copy)
  py-bench.py http --server H:P --fids FILE [-D 5] [--client C]        keep-alive GETs, one after
      the other, with urllib3, requests or http.client (C = all: each, one line per client)
"""
import argparse
import json
import os
import random
import sys
import time


def fid_stream(fids, deadline, seed=1):
    rnd = random.Random(seed)
    picks = [rnd.choice(fids) for _ in range(1 << 16)]
    n = 0
    while True:
        if (n & 15) == 0 and time.monotonic() >= deadline:
            return
        yield picks[n & 0xffff]
        n += 1


def report(label, ops, nbytes, errors, secs):
    print(json.dumps({"label": label, "ops_per_sec": ops / secs, "mb_per_sec": nbytes / secs / 1e6,
                      "errors": errors, "seconds": secs}), flush=True)


def run_kelp(a, fids):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import kelp
    s = kelp.connect(socket=a.socket, wait_spin_us=a.wait_spin_us)
    for _ in s.read_many(fids[:256], depth=a.depth):  # warm up: connect, buffers, page cache
        pass
    ops = nbytes = errors = 0
    t0 = time.monotonic()
    for r in s.read_many(fid_stream(fids, t0 + a.duration), depth=a.depth, copy=not a.zero_copy):
        if not isinstance(r, Exception):
            ops += 1
            nbytes += len(r)
        else:
            errors += 1
    report(a.label or "python kelp read_many d%d" % a.depth, ops, nbytes, errors,
           time.monotonic() - t0)


def http_clients(server):
    host, port = server.rsplit(":", 1)
    out = {}
    try:
        import urllib3
        pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=1)

        def get_urllib3(fid):
            r = pool.request("GET", "/" + fid, preload_content=True, retries=False)
            return r.status, r.data
        out["urllib3"] = get_urllib3
    except ImportError:
        pass
    try:
        import requests
        sess = requests.Session()
        base = "http://%s/" % server

        def get_requests(fid):
            r = sess.get(base + fid)
            return r.status_code, r.content
        out["requests"] = get_requests
    except ImportError:
        pass
    import http.client
    conn = http.client.HTTPConnection(host, int(port))

    def get_httpclient(fid):
        conn.request("GET", "/" + fid)
        r = conn.getresponse()
        return r.status, r.read()
    out["http.client"] = get_httpclient
    return out


def run_http(a, fids):
    clients = http_clients(a.server)
    names = list(clients) if a.client == "all" else [a.client]
    for name in names:
        get = clients[name]
        for f in fids[:64]:
            get(f)
        ops = nbytes = errors = 0
        t0 = time.monotonic()
        for f in fid_stream(fids, t0 + a.duration):
            status, body = get(f)
            if status == 200:
                ops += 1
                nbytes += len(body)
            else:
                errors += 1
        report("python http %s" % name, ops, nbytes, errors, time.monotonic() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["kelp", "http"])
    p.add_argument("--fids", required=True)
    p.add_argument("--socket")
    p.add_argument("--server")
    p.add_argument("--client", default="all")
    p.add_argument("-d", "--depth", type=int, default=32)
    p.add_argument("-D", "--duration", type=float, default=5)
    p.add_argument("--label")
    p.add_argument("--zero-copy", action="store_true", help="read_many(copy=False): memoryviews")
    p.add_argument("--wait-spin-us", type=int, default=-1,
                   help="kelp.connect(wait_spin_us=): -1 busy-polls as kelp-bench does (default)")
    a = p.parse_args()
    with open(a.fids) as f:
        fids = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    run_kelp(a, fids) if a.mode == "kelp" else run_http(a, fids)


if __name__ == "__main__":
    main()
