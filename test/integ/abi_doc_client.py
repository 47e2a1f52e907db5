#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A kelpd client written from shm/ABI.md alone (Python 3, standard library only).

It exists to keep ABI.md honest: everything here follows the document, nothing was taken from
libkelp's code. test/integ/test_abi_doc_client.sh drives it against a real kelpd. Each command
prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and exits 1.

  abi_doc_client.py SOCK handshake            hello, welcome, fds, header against the formula
  abi_doc_client.py SOCK read WANT_DIR FID... READ (batched, unaligned buffers) and STAT of each
                                              FID, byte-exact against WANT_DIR/FID; CRC raw or masked
  abi_doc_client.py SOCK errors FID           the documented error completions of bad SQEs (FID is
                                              a live needle, so a skipped check would succeed)
  abi_doc_client.py SOCK doorbell             the lcore parks (NEED_WAKEUP), a NOP rings it awake;
                                              completions waited for on the CQ tail futex
  abi_doc_client.py SOCK broken               an SQ tail beyond the ring, a CQ head beyond the CQ
                                              tail: BROKEN, -EPROTO; a second session is unaffected
  abi_doc_client.py SOCK refusals             bad magic, version, kind, sq_entries; hello timeout
  abi_doc_client.py SOCK users N              N sessions open, the next is refused with -EUSERS
  abi_doc_client.py SOCK reserved             a hello with a non-zero reserved word: -EINVAL
"""
import ctypes
import errno
import fcntl
import mmap
import os
import platform
import select
import socket
import struct
import sys
import time

# ---- ABI.md section 1: handshake -------------------------------------------------------------
HELLO_MAGIC = 0x4B454C50
ABI_VERSION = 1
KIND_SESSION, KIND_ADMIN = 1, 2
HELLO = struct.Struct("=IIIIi11I")  # magic, abi_version, kind, sq_entries, numa_node, reserved[11]
WELCOME = struct.Struct("=IIiIQQ8I")  # magic, abi_version, status, reserved0, session_id, seg_size, reserved[8]
assert HELLO.size == 64 and WELCOME.size == 64

# ---- section 2: segment -------------------------------------------------------------------------
SEG_MAGIC = 0x31474553504C454B
HDR_SIZE = 4096
STATE_LIVE, STATE_STOPPING, STATE_BROKEN = 1, 2, 3
RING_CTL = 256
TAIL, HEAD, FLAGS = 0, 128, 132
SQ_NEED_WAKEUP = 0x1
CQ_WANT_WAKE = 0x1

# ---- sections 3 and 4: entries ------------------------------------------------------------------
OP_NOP, OP_READ, OP_STAT = 0, 1, 2
OP_PATH_STAT, OP_PATH_LIST, OP_PATH_READ, OP_PATH_READLINK = 3, 4, 5, 6  # ABI.md 3, Path requests
CQE_F_PATH = 0x40
SQE_F_RDMA_ONLY = 0x01
# opcode, flags, reserved0, volume_id, key, cookie, length, offset, buf_off, user_data, reserved[2]
SQE = struct.Struct("=BBHIQIIQQQ2Q")
CQE = struct.Struct("=QiIQII")  # user_data, result, flags, size, crc, needle_flags
assert SQE.size == 64 and CQE.size == 32
PATH_MASK, PATH_NONE, PATH_LOCAL = 0x3, 0, 1
CQE_F_GZIP, CQE_F_CRC_CHECKED, CQE_F_TRUNCATED = 0x4, 0x8, 0x10

# ---- section 5: futex (shared: no FUTEX_PRIVATE_FLAG) -------------------------------------------
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
FUTEX_WAIT = 0
_libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def round_up(v, a):
    return (v + a - 1) // a * a


def parse_fid(text):
    """ABI.md 3, File ids: "3,01637037d6" -> (volume_id 3, key 0x01, cookie 0x637037d6)."""
    s = text.lstrip("/")
    sep = min(i for i in (s.find(","), s.find("/")) if i >= 0)
    vol = int(s[:sep], 10)
    rest = s[sep + 1:]
    n = 0
    while n < len(rest) and rest[n] in "0123456789abcdefABCDEF":
        n += 1
    hexd = rest[:n]
    check(9 <= n <= 24, f"fid {text}: {n} hex digits")
    key, cookie = int(hexd[:-8], 16), int(hexd[-8:], 16)
    if rest[n:n + 1] == "_":
        m = n + 1
        while m < len(rest) and rest[m].isdigit():
            m += 1
        key += int(rest[n + 1:m], 10)
    check(vol < 2**32 and key < 2**64, f"fid {text} out of range")
    return vol, key, cookie


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """ABI.md 4: CRC-32C, reflected, init and final xor 0xffffffff."""
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc_masked(c):
    """ABI.md 4: what SeaweedFS before 3.09 stored instead of the CRC."""
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def hello_bytes(kind=KIND_SESSION, sq_entries=0, numa=-1, magic=HELLO_MAGIC, version=ABI_VERSION,
                reserved=None):
    return HELLO.pack(magic, version, kind, sq_entries, numa, *(reserved or [0] * 11))


def recv_welcome(sock):
    """Receive the 64-byte welcome and the fds that come with its first byte (ABI.md 1.3).
    Return (fields, fds); fields is None when kelpd closed the connection without a welcome."""
    fds = []
    data, anc, flags, _ = sock.recvmsg(WELCOME.size, socket.CMSG_SPACE(2 * 4), socket.MSG_CMSG_CLOEXEC)
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds += list(struct.unpack(f"={len(payload) // 4}i", payload[: len(payload) // 4 * 4]))
    check(not flags & socket.MSG_CTRUNC, "control data truncated")
    if not data:
        return None, fds
    while len(data) < WELCOME.size:
        more = sock.recv(WELCOME.size - len(data))
        check(more, "welcome cut short")
        data += more
    return WELCOME.unpack(data), fds


def raw_hello(path, payload, timeout=60):
    """Send @payload as a hello; return (welcome fields or None, fds, closed_after)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        if payload:
            s.sendall(payload)
        w, fds = recv_welcome(s)
        closed = None
        if w is not None and w[2] != 0:
            closed = s.recv(1) == b""  # a refusal is followed by the close
        for fd in fds:
            os.close(fd)
        return w, fds, closed
    finally:
        s.close()


class Session:
    """One session: the socket, the mapped segment, our private ring indices."""

    def __init__(self, path, sq_entries=0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.sock.sendall(hello_bytes(KIND_SESSION, sq_entries))
        w, fds = recv_welcome(self.sock)
        check(w is not None, "kelpd closed the connection without a welcome")
        magic, version, status, _, self.session_id, seg_size, *_ = w
        check(magic == HELLO_MAGIC and version == ABI_VERSION, f"welcome magic/version {magic:#x}/{version}")
        if status != 0:
            for fd in fds:
                os.close(fd)
            self.sock.close()
            raise RefusedError(status)
        check(len(fds) == 2, f"{len(fds)} fds with the welcome, want 2")
        memfd, self.doorbell = fds
        st = os.fstat(memfd)
        check(st.st_size == seg_size, f"memfd size {st.st_size} != welcome seg_size {seg_size}")
        self.mm = mmap.mmap(memfd, seg_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(memfd)  # the mapping keeps the memory
        self.seg_size = seg_size
        self.words = {}
        self._check_header()
        self.sq_tail = 0  # ABI.md 2: both rings start at 0
        self.cq_head = 0
        self.outstanding = 0
        self.rings = 0

    def _check_header(self):
        m = self.mm
        (magic, version, hdr_size, seg_size, sid, self.sq_off, self.sq_entries, self.cq_off,
         self.cq_entries, self.arena_off, self.arena_size, self.max_io, self.lcore_id,
         self.hugepages, reserved0) = struct.unpack_from("=QIIQQIIIIQQIIII", m, 0)
        check(magic == SEG_MAGIC and version == ABI_VERSION, "segment magic / version")
        check(hdr_size == HDR_SIZE and seg_size == self.seg_size, "hdr_size / seg_size")
        check(sid == self.session_id, "session id differs from the welcome's")
        e = self.sq_entries
        check(2 <= e <= 65536 and e & (e - 1) == 0, f"sq_entries {e}")
        page = 2 << 20 if self.hugepages else 4096
        cq_off = round_up(4096 + RING_CTL + 64 * e, 4096)
        arena_off = round_up(cq_off + RING_CTL + 32 * 2 * e, page)
        check((self.sq_off, self.cq_entries, self.cq_off, self.arena_off) == (4096, 2 * e, cq_off, arena_off),
              "ring geometry differs from ABI.md 2's formula")
        check(self.arena_size % page == 0 and arena_off + self.arena_size == seg_size, "arena size")
        check(self.max_io == min(self.arena_size, 2**30), f"max_io {self.max_io}")
        check(self.state() == STATE_LIVE, f"state {self.state()}")
        # ABI.md 2: both rings start at 0 (the SQ flags may already say the lcore parked)
        for off in (TAIL, HEAD):
            check(self._u32(self.sq_off + off).value == 0, "SQ index not 0 at start")
        for off in (TAIL, HEAD, FLAGS):
            check(self._u32(self.cq_off + off).value == 0, "CQ word not 0 at start")

    # shared 4-byte words: aligned loads and stores (x86-64: acquire / release, ABI.md 2)
    def _u32(self, off):
        w = self.words.get(off)
        if w is None:
            w = self.words[off] = ctypes.c_uint32.from_buffer(self.mm, off)
        return w

    def state(self):
        return self._u32(128).value

    def seg_error(self):
        return struct.unpack_from("=i", self.mm, 132)[0]

    def sq_flags(self):
        return self._u32(self.sq_off + FLAGS).value

    def cq_flags(self):
        return self._u32(self.cq_off + FLAGS).value

    def arena_write(self, buf_off, data):
        self.mm[self.arena_off + buf_off:self.arena_off + buf_off + len(data)] = data

    def arena_read(self, buf_off, n):
        return bytes(self.mm[self.arena_off + buf_off:self.arena_off + buf_off + n])

    def queue(self, opcode, flags=0, reserved0=0, volume_id=0, key=0, cookie=0, length=0, offset=0,
              buf_off=0, user_data=0, reserved=(0, 0)):
        """Fill the next SQ slot (not yet published)."""
        end = time.monotonic() + 60
        while (self.sq_tail - self._u32(self.sq_off + HEAD).value) % 2**32 >= self.sq_entries:
            # ABI.md 2: the head may move a little after the completions: wait for room
            check(time.monotonic() < end, "SQ stays full")
        slot = self.sq_off + RING_CTL + (self.sq_tail & (self.sq_entries - 1)) * SQE.size
        SQE.pack_into(self.mm, slot, opcode, flags, reserved0, volume_id, key, cookie, length, offset,
                      buf_off, user_data, *reserved)
        self.sq_tail = (self.sq_tail + 1) % 2**32
        self.outstanding += 1

    def publish(self):
        """Store the SQ tail (one store publishes the batch), then ring if the lcore is parked.
        No full fence is available here: wait() re-checks the flag (ABI.md 5)."""
        self._u32(self.sq_off + TAIL).value = self.sq_tail
        if self.sq_flags() & SQ_NEED_WAKEUP:
            self.ring()

    def ring(self):
        os.write(self.doorbell, struct.pack("=Q", 1))
        self.rings += 1

    def poll(self):
        tail = self._u32(self.cq_off + TAIL).value
        n = (tail - self.cq_head) % 2**32
        check(n <= self.cq_entries, f"CQ tail {tail} impossible (head {self.cq_head})")
        out = []
        for _ in range(n):
            slot = self.cq_off + RING_CTL + (self.cq_head & (self.cq_entries - 1)) * CQE.size
            out.append(CQE.unpack_from(self.mm, slot))
            self.cq_head = (self.cq_head + 1) % 2**32
        if n:
            self._u32(self.cq_off + HEAD).value = self.cq_head  # after copying them out
            self.outstanding -= n
        return out

    def futex_wait(self, seen, ms):
        """FUTEX_WAIT on the CQ tail word; return 'woken', 'changed' or 'timeout'."""
        check(SYS_FUTEX is not None, f"no futex syscall number for {platform.machine()}")
        addr = ctypes.addressof(self._u32(self.cq_off + TAIL))
        ts = Timespec(ms // 1000, (ms % 1000) * 1000000)
        rc = _libc.syscall(SYS_FUTEX, ctypes.c_void_p(addr), FUTEX_WAIT, ctypes.c_uint32(seen),
                           ctypes.byref(ts), None, 0)
        if rc == 0:
            return "woken"
        e = ctypes.get_errno()
        check(e in (errno.EAGAIN, errno.ETIMEDOUT, errno.EINTR), f"futex: {os.strerror(e)}")
        return "changed" if e == errno.EAGAIN else "timeout"

    def kelpd_gone(self):
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)  # kelpd never writes after the welcome: readable = closed

    def wait(self, n, deadline_s=60, spin=2000, stats=None):
        """Collect @n completions: poll, re-ring while NEED_WAKEUP is set, sleep on the futex."""
        got = []
        end = time.monotonic() + deadline_s
        idle = 0
        while len(got) < n:
            new = self.poll()
            if new:
                got += new
                idle = 0
                continue
            check(self.state() == STATE_LIVE, f"session state {self.state()} error {self.seg_error()}")
            if self.outstanding and self.sq_flags() & SQ_NEED_WAKEUP:
                self.ring()  # ABI.md 5: no full fence here, so re-check and ring again
            idle += 1
            if idle < spin:
                continue
            check(time.monotonic() < end, f"{n - len(got)} completions missing after {deadline_s} s")
            check(not self.kelpd_gone(), "kelpd closed the session's socket")
            self._u32(self.cq_off + FLAGS).value = CQ_WANT_WAKE  # plain store of the only CQ flag
            seen = self._u32(self.cq_off + TAIL).value
            how = "changed" if seen != self.cq_head else self.futex_wait(seen, 50)
            if stats is not None:
                stats[how] = stats.get(how, 0) + 1
        return got

    def close(self):
        self.words.clear()
        self.mm.close()
        os.close(self.doorbell)
        self.sock.close()


class RefusedError(Exception):
    def __init__(self, status):
        super().__init__(f"refused: {status} ({errno.errorcode.get(-status, '?')})")
        self.status = status


def err_name(r):
    return f"-{errno.errorcode.get(-r, r)}" if r < 0 else str(r)


# ---- commands ----------------------------------------------------------------------------------

def cmd_handshake(path, args):
    s = Session(path)
    print(f"ok: session {s.session_id}: sq {s.sq_entries}, cq {s.cq_entries}, arena {s.arena_size} at "
          f"{s.arena_off}, max_io {s.max_io}, lcore {s.lcore_id}, hugepages {s.hugepages}; layout as ABI.md 2")
    link = os.readlink(f"/proc/self/fd/{s.doorbell}")
    check("eventfd" in link, f"second fd is {link}, not an eventfd")
    nonblock = bool(fcntl.fcntl(s.doorbell, fcntl.F_GETFL) & os.O_NONBLOCK)
    print(f"info: doorbell O_NONBLOCK {nonblock} (ABI.md 5 says it is; kelpd before the per-session "
          f"doorbell passed a blocking shared eventfd)")
    s.queue(OP_NOP, user_data=0xFEEDFACECAFEBEEF)
    s.publish()
    (c,) = s.wait(1)
    check(c == (0xFEEDFACECAFEBEEF, 0, 0, 0, 0, 0), f"NOP completion {c}")
    print("ok: second fd is an eventfd; NOP completes with result 0, user_data echoed, other fields 0")
    s.close()


def cmd_read(path, args):
    want_dir, fids = args[0], args[1:]
    s = Session(path)
    want = {f: open(os.path.join(want_dir, f), "rb").read() for f in fids}
    # buffers back to back at odd offsets: ABI.md 3 says buf_off needs no alignment
    offs, off = {}, 3
    for f in fids:
        offs[f] = off
        off += len(want[f]) + 5
    check(off < s.arena_size, "test needles do not fit the arena")
    pending = list(enumerate(fids))
    results = {}
    while pending:
        batch, pending = pending[: s.sq_entries // 2], pending[s.sq_entries // 2:]
        for i, f in batch:
            v, k, c = parse_fid(f)
            s.arena_write(offs[f], b"\xa5" * (len(want[f]) + 1))
            s.queue(OP_READ, volume_id=v, key=k, cookie=c, length=max(1, len(want[f])), buf_off=offs[f],
                    user_data=2 * i)
            s.queue(OP_STAT, volume_id=v, key=k, cookie=c, user_data=2 * i + 1)
        s.publish()  # one tail store for the whole batch
        for ud, res, flags, size, crc, nflags in s.wait(2 * len(batch)):
            results[ud] = (res, flags, size, crc, nflags)
    kinds = {"raw": 0, "masked": 0, "gzip": 0}
    for i, f in enumerate(fids):
        data = want[f]
        res, flags, size, crc, nflags = results[2 * i]
        check(res == len(data), f"{f}: READ result {err_name(res)}, want {len(data)}")
        check(flags & PATH_MASK == PATH_LOCAL, f"{f}: path {flags & PATH_MASK}")
        got = s.arena_read(offs[f], len(data) + 1)
        check(got[:-1] == data, f"{f}: bytes differ from kelp-vol cat")
        check(got[-1] == 0xA5, f"{f}: wrote past the result")
        check(size == len(data), f"{f}: size {size}")
        check(bool(flags & CQE_F_CRC_CHECKED) == (size > 0), f"{f}: CRC_CHECKED {flags:#x}")
        check(not flags & CQE_F_TRUNCATED, f"{f}: TRUNCATED")
        check(bool(flags & CQE_F_GZIP) == bool(nflags & 0x01), f"{f}: GZIP flag vs needle flags {nflags:#x}")
        kinds["gzip"] += bool(flags & CQE_F_GZIP)
        if size:
            raw = crc32c(data)
            check(crc in (raw, crc_masked(raw)), f"{f}: crc {crc:#x} is neither {raw:#x} nor masked")
            kinds["raw" if crc == raw else "masked"] += 1
        sres, sflags, ssize, scrc, snflags = results[2 * i + 1]
        check((sres, ssize, scrc, snflags) == (0, size, crc, nflags), f"{f}: STAT {results[2 * i + 1]}")
        check(sflags == flags & ~(CQE_F_CRC_CHECKED | CQE_F_TRUNCATED), f"{f}: STAT flags {sflags:#x}")
    print(f"ok: {len(fids)} needles read byte-exact (unaligned buffers, batched) and STATed; "
          f"CRC raw {kinds['raw']}, masked {kinds['masked']}, gzip-stored {kinds['gzip']}")
    # a partial read, a read at the end, past the end
    f = max(fids, key=lambda x: len(want[x]))
    data = want[f]
    v, k, c = parse_fid(f)
    s.queue(OP_READ, volume_id=v, key=k, cookie=c, length=7, offset=3, buf_off=1, user_data=1)
    s.queue(OP_READ, volume_id=v, key=k, cookie=c, length=7, offset=len(data), buf_off=100, user_data=2)
    s.queue(OP_READ, volume_id=v, key=k, cookie=c, length=7, offset=len(data) + 1, buf_off=200, user_data=3)
    s.queue(OP_READ, volume_id=v, key=k, cookie=c ^ 1, length=7, buf_off=300, user_data=4)
    s.publish()
    r = {c[0]: c for c in s.wait(4)}
    check(r[1][1] == 7 and r[1][2] & CQE_F_TRUNCATED and not r[1][2] & CQE_F_CRC_CHECKED, f"partial {r[1]}")
    check(s.arena_read(1, 7) == data[3:10], "partial read bytes")
    check(r[2][1] == 0, f"read at the end: {r[2]}")
    check(r[3][1] == -errno.ERANGE and r[3][2] & PATH_MASK == PATH_LOCAL, f"past the end: {r[3]}")
    check(r[4][1] == -errno.ENOENT and r[4][2] & PATH_MASK == PATH_LOCAL, f"wrong cookie: {r[4]}")
    print("ok: partial READ truncated, READ at the end 0, past it -ERANGE, wrong cookie -ENOENT (path local)")
    s.close()


def cmd_errors(path, args):
    v, k, c = parse_fid(args[0])
    s = Session(path)
    A, M = s.arena_size, s.max_io
    live = dict(volume_id=v, key=k, cookie=c)
    cases = [  # (what, sqe fields, expected result): ABI.md 3, "Validation, in this order"
        ("READ unknown flag 0x04", dict(opcode=OP_READ, flags=0x04, length=8, **live), -errno.EINVAL),
        ("READ RDMA_ONLY and TCP_ONLY", dict(opcode=OP_READ, flags=0x03, length=8, **live), -errno.EINVAL),
        ("READ reserved0", dict(opcode=OP_READ, reserved0=1, length=8, **live), -errno.EINVAL),
        ("READ reserved[1]", dict(opcode=OP_READ, reserved=(0, 1), length=8, **live), -errno.EINVAL),
        ("reserved beats length 0", dict(opcode=OP_READ, reserved0=1, length=0, **live), -errno.EINVAL),
        ("NOP with RDMA_ONLY", dict(opcode=OP_NOP, flags=SQE_F_RDMA_ONLY), -errno.EINVAL),
        ("NOP with volume_id", dict(opcode=OP_NOP, volume_id=1), -errno.EINVAL),
        ("NOP with buf_off", dict(opcode=OP_NOP, buf_off=4096), -errno.EINVAL),
        ("STAT with length", dict(opcode=OP_STAT, length=1, **live), -errno.EINVAL),
        ("STAT with offset", dict(opcode=OP_STAT, offset=1, **live), -errno.EINVAL),
        ("STAT with buf_off", dict(opcode=OP_STAT, buf_off=4096, **live), -errno.EINVAL),
        ("opcode 7", dict(opcode=7, **live), -errno.EINVAL),
        # path opcodes (ABI.md 3): volume_id/key/cookie are path_len/path_off/after_len there
        ("PATH_STAT with after_len", dict(opcode=OP_PATH_STAT, volume_id=2, cookie=1, length=48), -errno.EINVAL),
        ("PATH_READ path_len 0", dict(opcode=OP_PATH_READ, length=8), -errno.EINVAL),
        ("PATH_READ with flags", dict(opcode=OP_PATH_READ, flags=SQE_F_RDMA_ONLY, volume_id=2, length=8), -errno.EINVAL),
        ("PATH_STAT with offset", dict(opcode=OP_PATH_STAT, volume_id=2, offset=1, length=48), -errno.EINVAL),
        ("PATH_READ path_len 4097", dict(opcode=OP_PATH_READ, volume_id=4097, length=8), -errno.ENAMETOOLONG),
        ("PATH_LIST after_len 256", dict(opcode=OP_PATH_LIST, volume_id=2, cookie=256, length=304), -errno.ENAMETOOLONG),
        ("PATH_READ path past the arena", dict(opcode=OP_PATH_READ, volume_id=2, key=A - 1, length=8), -errno.EFAULT),
        ("PATH_STAT length 47", dict(opcode=OP_PATH_STAT, volume_id=2, length=47), -errno.EINVAL),
        ("PATH_LIST length 303", dict(opcode=OP_PATH_LIST, volume_id=2, length=303), -errno.EINVAL),
        ("PATH_READ length max_io + 1", dict(opcode=OP_PATH_READ, volume_id=2, length=M + 1), -errno.E2BIG),
        ("PATH_READ buffer past the arena", dict(opcode=OP_PATH_READ, volume_id=2, length=2, buf_off=A - 1), -errno.EFAULT),
        ("opcode 255", dict(opcode=255), -errno.EINVAL),
        ("READ length 0", dict(opcode=OP_READ, length=0, **live), -errno.EINVAL),
        ("READ length max_io + 1", dict(opcode=OP_READ, length=M + 1, **live), -errno.E2BIG),
        ("E2BIG beats EFAULT", dict(opcode=OP_READ, length=M + 1, buf_off=2**64 - 1, **live), -errno.E2BIG),
        ("READ buf_off = arena_size", dict(opcode=OP_READ, length=1, buf_off=A, **live), -errno.EFAULT),
        ("READ one byte past the arena", dict(opcode=OP_READ, length=2, buf_off=A - 1, **live), -errno.EFAULT),
        ("READ buf_off + length wraps", dict(opcode=OP_READ, length=2, buf_off=2**64 - 1, **live), -errno.EFAULT),
        ("READ max_io at the arena end", dict(opcode=OP_READ, length=M, buf_off=A - M + 1, **live), -errno.EFAULT),
    ]
    if M + 1 >= 2**32:
        cases = [x for x in cases if x[2] != -errno.E2BIG]
    for i, (_, f, _) in enumerate(cases):
        s.queue(user_data=1000 + i, **f)
    s.publish()
    got = {x[0]: x for x in s.wait(len(cases))}
    for i, (what, f, res) in enumerate(cases):
        c = got[1000 + i]
        check(c[1] == res, f"{what}: {err_name(c[1])}, want {err_name(res)}")
        # a path opcode's completion carries the PATH flag, errors too (ABI.md 4)
        flags = CQE_F_PATH if f["opcode"] in (OP_PATH_STAT, OP_PATH_LIST, OP_PATH_READ, OP_PATH_READLINK) else 0
        check(c[2:] == (flags, 0, 0, 0), f"{what}: flags/size/crc/needle_flags {c[2:]} not ({flags}, 0, 0, 0)")
    print(f"ok: {len(cases)} bad SQEs -> -EINVAL / -E2BIG / -EFAULT in ABI.md's order, other CQE fields 0 "
          "(flags: PATH on path opcodes)")
    # the same fields valid: they would have succeeded
    s.queue(OP_READ, length=M, buf_off=A - M, user_data=1, **live)
    s.queue(OP_READ, flags=SQE_F_RDMA_ONLY, length=8, user_data=2, **live)
    s.queue(OP_READ, volume_id=4000000000, key=1, cookie=2, length=8, user_data=3)
    s.publish()
    got = {x[0]: x for x in s.wait(3)}
    check(got[1][1] >= 0 and got[1][2] & PATH_MASK == PATH_LOCAL, f"READ max_io at the arena end: {got[1]}")
    check(got[2][1] == -errno.ENOTCONN and got[2][2] & PATH_MASK == PATH_NONE, f"RDMA_ONLY without RDMA: {got[2]}")
    check(got[3][1] == -errno.EHOSTUNREACH and got[3][2] & PATH_MASK == PATH_NONE, f"not local: {got[3]}")
    print("ok: valid neighbours read; RDMA_ONLY without RDMA -ENOTCONN and an unknown volume -EHOSTUNREACH, "
          "path bits 0")
    s.close()


def cmd_doorbell(path, args):
    s = Session(path)
    stats = {}
    for rnd in range(3):
        end = time.monotonic() + 60
        while not s.sq_flags() & SQ_NEED_WAKEUP:  # idle_park_us is small: it parks soon
            check(time.monotonic() < end, "the lcore never set NEED_WAKEUP (is idle_park_us set?)")
            time.sleep(0.001)
        rings = s.rings
        s.queue(OP_NOP, user_data=rnd)
        s.publish()
        check(s.rings > rings, "publish saw NEED_WAKEUP but did not ring")
        (c,) = s.wait(1, spin=0, stats=stats)  # straight to the futex: WANT_WAKE path
        check(c[:2] == (rnd, 0), f"NOP after the doorbell: {c}")
    print(f"ok: 3 times the lcore parked (NEED_WAKEUP), the doorbell woke it, the NOP completed "
          f"(futex waits: {stats})")
    s.close()


def cmd_broken(path, args):
    bad = Session(path)
    good = Session(path)
    bad._u32(bad.sq_off + TAIL).value = bad.sq_entries + 1  # more entries than the ring holds
    end = time.monotonic() + 60
    while bad.state() == STATE_LIVE:
        check(time.monotonic() < end, "kelpd did not break the session")
        if bad.sq_flags() & SQ_NEED_WAKEUP:
            bad.ring()
        seen = bad._u32(bad.cq_off + TAIL).value
        bad.futex_wait(seen, 50)  # a state change wakes the CQ tail futex
    check(bad.state() == STATE_BROKEN and bad.seg_error() == -errno.EPROTO,
          f"state {bad.state()} error {bad.seg_error()}")
    good.queue(OP_NOP, user_data=7)
    good.publish()
    check(good.wait(1)[0][:2] == (7, 0), "the other session")
    print("ok: an SQ tail beyond the ring -> BROKEN, seg_error -EPROTO; another session still served")
    bad.close()

    # A CQ head beyond the CQ tail: kelpd reads the head only once its cached copy shows too little
    # room, i.e. after cq_entries completions the client did not consume (ABI.md 2, What kelpd checks)
    bad = Session(path)
    bad._u32(bad.cq_off + HEAD).value = 2**31  # far beyond any tail kelpd will have
    end = time.monotonic() + 60
    sent = 0
    while bad.state() == STATE_LIVE:
        check(time.monotonic() < end, f"kelpd did not break the session ({sent} NOPs sent)")
        if (bad.sq_tail - bad._u32(bad.sq_off + HEAD).value) % 2**32 < bad.sq_entries:
            bad.queue(OP_NOP, user_data=sent)
            bad.publish()
            sent += 1
        elif bad.sq_flags() & SQ_NEED_WAKEUP:
            bad.ring()
    check(bad.state() == STATE_BROKEN and bad.seg_error() == -errno.EPROTO,
          f"CQ head: state {bad.state()} error {bad.seg_error()}")
    good.queue(OP_NOP, user_data=8)
    good.publish()
    check(good.wait(1)[0][:2] == (8, 0), "the other session")
    print(f"ok: a CQ head beyond the tail -> BROKEN -EPROTO once kelpd needed room ({sent} NOPs); "
          "another session still served")
    bad.close()
    good.close()


def expect_refusal(path, payload, status, what):
    w, fds, closed = raw_hello(path, payload)
    check(w is not None, f"{what}: closed without a welcome")
    check(w[2] == status, f"{what}: status {err_name(w[2])}, want {err_name(status)}")
    check(w[1] == ABI_VERSION and w[4:6] == (0, 0), f"{what}: welcome {w}")
    check(not fds, f"{what}: {len(fds)} fds with a refusal")
    check(closed, f"{what}: connection not closed after the refusal")


def cmd_refusals(path, args):
    w, fds, _ = raw_hello(path, hello_bytes(magic=0x12345678))
    check(w is None and not fds, f"bad magic: {w}")
    expect_refusal(path, hello_bytes(version=2), -errno.EPROTONOSUPPORT, "version 2")
    expect_refusal(path, hello_bytes(kind=3), -errno.EINVAL, "kind 3")
    expect_refusal(path, hello_bytes(sq_entries=48), -errno.EINVAL, "sq_entries 48")
    expect_refusal(path, hello_bytes(sq_entries=131072), -errno.EINVAL, "sq_entries 131072")
    w, fds, _ = raw_hello(path, hello_bytes(kind=KIND_ADMIN))
    check(w is not None and w[2] == 0 and not fds and w[4:6] == (0, 0), f"ADMIN: {w} {fds}")
    s = Session(path, sq_entries=16)
    check(s.sq_entries == 16 and s.cq_entries == 32, "sq_entries 16 granted")
    s.close()
    print("ok: bad magic closed; version -EPROTONOSUPPORT, kind / sq_entries -EINVAL, no fds, closed; "
          "ADMIN status 0 without fds; sq_entries 16 granted")
    for what, payload in (("nothing", b""), ("half a hello", hello_bytes()[:20])):
        w, fds, _ = raw_hello(path, payload, timeout=60)
        check(w is None and not fds, f"silent client ({what}): got a welcome")
    print("ok: a client that sends nothing or half a hello is disconnected (hello timeout)")


def cmd_users(path, args):
    n = int(args[0])
    held = [Session(path) for _ in range(n)]
    try:
        Session(path)
        raise Fail(f"session {n + 1} accepted")
    except RefusedError as e:
        check(e.status == -errno.EUSERS, f"session {n + 1}: {e}")
    for s in held:
        s.close()
    print(f"ok: {n} sessions, the next refused with -EUSERS")


def cmd_reserved(path, args):
    for i in (0, 10):
        r = [0] * 11
        r[i] = 1
        expect_refusal(path, hello_bytes(reserved=r), -errno.EINVAL, f"SESSION reserved[{i}]")
        expect_refusal(path, hello_bytes(kind=KIND_ADMIN, reserved=r), -errno.EINVAL, f"ADMIN reserved[{i}]")
    print("ok: hellos with a non-zero reserved word -> -EINVAL")


COMMANDS = {"handshake": cmd_handshake, "read": cmd_read, "errors": cmd_errors, "doorbell": cmd_doorbell,
            "broken": cmd_broken, "refusals": cmd_refusals, "users": cmd_users, "reserved": cmd_reserved}


def main(argv):
    if len(argv) < 3 or argv[2] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    try:
        COMMANDS[argv[2]](argv[1], argv[3:])
    except (Fail, RefusedError) as e:
        print(f"FAIL: {argv[2]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
