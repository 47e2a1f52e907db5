#!/usr/bin/env python3
"""A deliberately broken HTTP server on 127.0.0.1 for fault tests: it plays a SeaweedFS master
(/dir/lookup) that points at itself, and a volume server (/<fid>) that answers with MODE.

usage: bad_http.py PORTFILE MODE
  PORTFILE  the port it listens on is written there (free port chosen by the kernel)
  MODE      lookup-garbage | lookup-bad-json | lookup-503 | lookup-500 |
            get-garbage | get-bad-length | get-truncated | get-huge-header | get-500 |
            get-no-content-range | get-hang
Lookups answer 200 with this server as the only location unless MODE starts with "lookup-".
It serves until killed."""
import socket, sys, threading, time

def lookup_ok(port):
    body = ('{"volumeOrFileId":"1","locations":[{"url":"127.0.0.1:%d","publicUrl":"127.0.0.1:%d"}]}'
            % (port, port)).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

def answer(mode, port, path):
    if path.startswith("/dir/lookup"):
        if mode == "lookup-garbage":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\x00\xffgarbage"
        if mode == "lookup-bad-json":
            return b'HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{"locations":[{"url":17}]}x'
        if mode == "lookup-503":
            return b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
        if mode == "lookup-500":
            return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        return lookup_ok(port)
    if mode == "get-garbage":
        return b"\x16\x03\x01 this is not http at all\r\n\r\n"
    if mode == "get-bad-length":
        return b"HTTP/1.1 206 Partial Content\r\nContent-Length: -5\r\n\r\n"
    if mode == "get-truncated":
        return b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort"
    if mode == "get-huge-header":
        return b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(1000)) + b"\r\n"
    if mode == "get-500":
        return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    if mode == "get-no-content-range":
        return b"HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\nabc"
    if mode == "get-hang":
        return None
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

def serve(conn, mode, port):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            out = answer(mode, port, path)
            if out is None:
                time.sleep(3600)
                return
            conn.sendall(out)
            if b"Connection: close" in out or not out.startswith(b"HTTP/1.1 ") or b"Content-Length: -" in out:
                return
    except OSError:
        pass
    finally:
        conn.close()

def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    port = s.getsockname()[1]
    with open(sys.argv[1], "w") as f:
        f.write(str(port))
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, sys.argv[2], port), daemon=True).start()

main()
