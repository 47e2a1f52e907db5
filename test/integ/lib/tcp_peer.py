#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile (or merely wrong) peer of kelpd's TCP export (proto/tcp_frame.h), for
test/integ/test_kelpd_tcp.sh. Prints one line saying what the exporter did, exit 0 when it did
what a correct exporter must:

  tcp_peer.py HOST:PORT nohs           garbage instead of a HELLO: the exporter closes (no ACK)
  tcp_peer.py HOST:PORT badsecret S    a HELLO with the mac of a wrong secret S: ACK status AUTH
                                       (2), then the close
  tcp_peer.py HOST:PORT garbage S      a correct handshake with secret S, then a frame that does
                                       not parse: the exporter closes this connection
  tcp_peer.py HOST:PORT read S FID     a correct handshake, then a READ of FID (volume,key,cookie
                                       in hex as kelp prints them): prints status and size
  tcp_peer.py HOST:PORT stall S FID N  a correct handshake (small receive buffer), N READs of FID,
                                       then it reads nothing: exit 0 when the exporter closes the
                                       connection within 60 s (it must not wait for a reader that
                                       stopped reading)
  tcp_peer.py HOST:PORT idle S         a correct handshake, then silence (a reader gone without a
                                       FIN): the exporter closes within 120 s ([peer] idle_timeout_s)
  tcp_peer.py HOST:PORT stuck S FID N  a READ of FID whose reply it does not read for N s (longer
                                       than idle_timeout_s, shorter than the export's send limit):
                                       a connection with a reply in flight is not closed; then the
                                       whole reply arrives, and one more read on the connection
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return b
        b += c
    return b


def closed(s, timeout=10):
    """True when the exporter closes the connection within @timeout s (EOF or reset)."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def handshake(addr, secret, rcvbuf=0):
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # before connect: it sets the window the exporter sees
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((host, int(port)))
    ch = recv_exact(s, 40)
    if len(ch) != 40 or ch[:4] != b"KLPC":
        print("no challenge: %r" % ch)
        sys.exit(1)
    nonce_e = ch[8:40]
    nonce_r = os.urandom(32)
    head = struct.pack(">IHHQQ", 0x4B4C5054, 1, 0, 0x1234, 0x5678) + nonce_r
    mac = hmac.new(secret.encode(), b"kelp-tcp-1 reader" + nonce_e + nonce_r + head,
                   hashlib.sha256).digest() if secret else bytes(32)
    s.sendall(head + mac)
    ack = recv_exact(s, 40)
    return s, ack


def main():
    addr, mode = sys.argv[1], sys.argv[2]
    if mode == "nohs":
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
        recv_exact(s, 40)
        s.sendall(os.urandom(88))
        ok = closed(s)
        print("nohs: closed" if ok else "nohs: still open")
        return 0 if ok else 1
    secret = sys.argv[3]
    s, ack = handshake(addr, secret, 4096 if mode == "stall" else 0)
    if mode == "badsecret":
        status = ack[6] if len(ack) == 40 else None
        ok = status == 2 and closed(s)
        print("badsecret: ack status %s, %s" % (status, "closed" if ok else "not refused"))
        return 0 if ok else 1
    if len(ack) != 40 or ack[6] != 0:
        print("handshake refused: %r" % ack)
        return 1
    if mode == "idle":
        ok = closed(s, 120)
        print("idle: closed by the exporter" if ok else "idle: still open after 120 s")
        return 0 if ok else 1
    if mode == "stuck":
        vol, rest = sys.argv[4].split(",")
        key, cookie = int(rest[:-8], 16), int(rest[-8:], 16)
        for k, length in enumerate((16 << 20, 4096)):
            req = struct.pack(">IBBHQIIQQIIQQ", 0x4B4C5051, 1, 0, 0, k + 1, int(vol), cookie,
                              key, 0, length, 0, 0, 0)
            s.sendall(struct.pack(">I", 64) + req)
            if k == 0:
                time.sleep(float(sys.argv[5]))  # nothing read meanwhile
            s.settimeout(60)
            hdr = recv_exact(s, 36)
            if len(hdr) != 36:
                print("stuck: the exporter closed the connection")
                return 1
            status = hdr[8]
            written = struct.unpack(">I", hdr[20:24])[0]
            data = recv_exact(s, written)
            print("stuck: status %d written %d got %d" % (status, written, len(data)))
            if status != 0 or len(data) != written:
                return 1
        return 0
    if mode == "garbage":
        # a length the protocol never uses, then noise
        s.sendall(struct.pack(">I", 7) + os.urandom(200))
        ok = closed(s)
        print("garbage: closed" if ok else "garbage: still open")
        return 0 if ok else 1
    if mode in ("read", "stall"):
        vol, rest = sys.argv[4].split(",")
        key, cookie = int(rest[:-8], 16), int(rest[-8:], 16)
        n = int(sys.argv[5]) if mode == "stall" else 1
        for i in range(n):
            req = struct.pack(">IBBHQIIQQIIQQ", 0x4B4C5051, 1, 0, 0, i + 1, int(vol), cookie,
                              key, 0, 16 << 20 if mode == "stall" else 1 << 20, 0, 0, 0)
            s.sendall(struct.pack(">I", 64) + req)
    if mode == "stall":
        # nothing read: the exporter's send stalls; wait for its FIN or reset, which is queued
        # behind the bytes it sent, so peek at the socket's state instead of reading
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
            if info[0] != 1:  # tcpi_state: no longer ESTABLISHED (FIN or RST arrived)
                print("stall: the exporter closed the connection")
                return 0
            time.sleep(0.2)
        print("stall: still connected after 60 s")
        return 1
    if mode == "read":
        hdr = recv_exact(s, 36)
        ln, magic, status = struct.unpack(">IIB", hdr[:9])
        written = struct.unpack(">I", hdr[20:24])[0]
        data = recv_exact(s, written)
        print("read: status %d written %d got %d" % (status, written, len(data)))
        return 0 if status == 0 and len(data) == written else 1
    return 2


sys.exit(main())
