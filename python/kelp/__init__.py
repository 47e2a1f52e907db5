# SPDX-License-Identifier: Apache-2.0
"""kelp: read SeaweedFS needles through kelpd's shared-memory rings, from Python.

Quick start::

    import kelp
    with kelp.connect(socket="/run/kelp/kelpd.sock") as s:
        data = s.read("3,01637037d6")               # bytes, as stored
        for item in s.read_many(fids, depth=32):    # bytes or an exception object, in order
            ...
    kelp.read("3,01637037d6")                       # per-thread default session

Sessions: a Session is one connection to kelpd. Use it from one thread at a time (a concurrent
use raises RuntimeError); the module-level functions (kelp.read, kelp.read_many, kelp.stat) keep
one session per thread for you. After os.fork() (DataLoader workers) a session reconnects by
itself in the child on first use: the child never touches the parent's rings.

read_many() yields copies (bytes objects the caller owns) by default: an item stays valid however
long it is kept. read_many(copy=False) yields read-only memoryviews into the session's arena
instead, valid only until the next item is asked for: no copy, for callers that decode each
sample at once (np.frombuffer(view).copy(), a decoder). A view kept longer shows whatever its
slot holds by then (stale or newer bytes) but never crashes: every view keeps the arena mapped,
so after Session.close() (which makes further calls raise ValueError) the kelpd session itself
ends only when the last view is released (view.release() or del). Needles larger
than the iterator's buffer_size, and inflated ones, still come as bytes.

Errors: FileNotFoundError (needle not found, deleted, wrong cookie; -ENOENT), ConnectionRefusedError
(no kelpd), ConnectionResetError (kelpd stopped), ConnectionAbortedError (kelpd closed the
session), PermissionError (allow_uids/allow_gids policy; -EACCES), kelp.CorruptNeedle (an OSError:
CRC mismatch, -EIO), TimeoutError, and OSError with .errno for the rest. Messages come from
kelp_strerror() / kelp_last_error(); .filename is the fid.
"""
from __future__ import annotations

import os
import threading
from typing import NamedTuple, Optional

from ._kelp import CorruptNeedle, ReadMany, Session, Stat, gunzip, strerror
from . import _kelp

__all__ = ["connect", "Session", "ReadMany", "Stat", "Fid", "CorruptNeedle", "read", "read_into",
           "read_many", "stat", "configure", "default_session", "gunzip", "strerror"]


class Fid(NamedTuple):
    """A SeaweedFS file id "3,01637037d6": volume 3, key 0x01, cookie 0x637037d6.

    A Fid can be passed wherever a fid string can (it is a 3-tuple).
    """
    volume_id: int
    key: int
    cookie: int

    @classmethod
    def parse(cls, s: str | bytes) -> "Fid":
        """Parse "3,01637037d6", "/3,01637037d6", "3,01637037d6.jpg", "3/01637037d6/name" or with
        an "_N" suffix. Raises ValueError when the text is not a file id."""
        return cls(*_kelp.fid_parse(s))

    def format(self) -> str:
        """The fid the way SeaweedFS writes it (leading zero bytes of the key dropped)."""
        return _kelp.fid_format(self.volume_id, self.key, self.cookie)

    def __str__(self) -> str:
        return self.format()


def connect(config: Optional[str] = None, socket: Optional[str] = None, *,
            queue_depth: int = 0, wait_spin_us: Optional[int] = None) -> Session:
    """Open a session with kelpd. socket (kelpd's Unix socket) wins over config (a kelp.conf whose
    [engine] socket is used); with neither, KELP_SOCKET / KELP_CONFIG from the environment, else
    /run/kelp/kelpd.sock. Raises ConnectionRefusedError when no kelpd listens there.
    queue_depth: submission ring entries (0: kelpd's default). wait_spin_us: how long a wait
    busy-polls before sleeping on a futex (None: libkelp's 50 us; -1: never sleep, lowest latency
    but a busy core while waiting; what kelp-bench does by default)."""
    if config is None and socket is None:
        socket = os.environ.get("KELP_SOCKET")
        config = os.environ.get("KELP_CONFIG")
    return Session(config, socket, queue_depth=queue_depth, wait_spin_us=wait_spin_us)


_default_opts: dict = {}
_local = threading.local()


def configure(config: Optional[str] = None, socket: Optional[str] = None) -> None:
    """Set where the per-thread default sessions connect (as connect()). Sessions already open
    keep their connection; threads open new ones with these options."""
    global _default_opts
    _default_opts = {"config": config, "socket": socket}
    _local.__dict__.clear()


def default_session() -> Session:
    """This thread's default session, connected on first use (a forked child gets its own)."""
    s = getattr(_local, "session", None)
    if s is None or s.closed or getattr(_local, "pid", None) != os.getpid():
        s = connect(**_default_opts)
        _local.session = s
        _local.pid = os.getpid()
    return s


def read(fid, offset: int = 0, size: Optional[int] = None, *, gunzip: bool = False) -> bytes:
    """Session.read() on this thread's default session."""
    return default_session().read(fid, offset, size, gunzip=gunzip)


def read_into(fid, buffer, offset: int = 0) -> int:
    """Session.read_into() on this thread's default session."""
    return default_session().read_into(fid, buffer, offset)


def read_many(fids, depth: int = 32, **kw) -> ReadMany:
    """Session.read_many() on this thread's default session."""
    return default_session().read_many(fids, depth, **kw)


def stat(fid) -> Stat:
    """Session.stat() on this thread's default session."""
    return default_session().stat(fid)
