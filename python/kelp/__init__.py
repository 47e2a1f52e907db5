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

Files by path, through the SeaweedFS filer that kelpd's [filer] address names::

    with s.open("/data/train/00001.bin") as f:      # read-only binary file object
        header = f.read(16); f.seek(0); whole = f.read()
    s.listdir("/data/train")                        # names, in the filer's order
    s.scandir("/data/train")                        # DirEntry(name, path, stat) with is_file()
    s.stat_path("/data/train/00001.bin").st_size    # an os.stat_result; stat(fid) is for needles
    kelp.open(path), kelp.listdir(path), kelp.scandir(path), kelp.stat_path(path)  # default session

Errors: FileNotFoundError (needle not found, deleted, wrong cookie; -ENOENT), ConnectionRefusedError
(no kelpd), ConnectionResetError (kelpd stopped), ConnectionAbortedError (kelpd closed the
session), PermissionError (allow_uids/allow_gids policy; -EACCES), kelp.CorruptNeedle (an OSError:
CRC mismatch, -EIO; for a file: a chunk that cannot be read intact or decrypted), TimeoutError,
NotADirectoryError / IsADirectoryError (paths), and OSError with .errno for the rest (ENOTCONN:
kelpd has no [filer] configured; EINVAL: a path that is not absolute or has "." / ".." / "//").
Messages come from kelp_strerror() / kelp_last_error(); .filename is the fid or the path.
"""
from __future__ import annotations

import io
import os
import stat as _stat
import threading
from typing import Iterator, List, NamedTuple, Optional, Union

from ._kelp import CorruptNeedle, ReadMany, Stat, gunzip, strerror
from . import _kelp

# kelp.open is left out on purpose: `from kelp import *` must not hide the built-in open()
__all__ = ["connect", "Session", "ReadMany", "Stat", "Fid", "CorruptNeedle", "File", "DirEntry",
           "read", "read_into", "read_many", "stat", "stat_path", "listdir", "scandir",
           "configure", "default_session", "gunzip", "strerror"]

_PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


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


def _stat_result(t) -> os.stat_result:
    size, mtime_ns, ctime_ns, ino, mode, uid, gid = t
    nlink = 2 if _stat.S_ISDIR(mode) else 1
    return os.stat_result((mode, ino, 0, nlink, uid, gid, size, mtime_ns // 10**9,
                           mtime_ns // 10**9, ctime_ns // 10**9),
                          {"st_atime": mtime_ns / 1e9, "st_mtime": mtime_ns / 1e9,
                           "st_ctime": ctime_ns / 1e9, "st_atime_ns": mtime_ns,
                           "st_mtime_ns": mtime_ns, "st_ctime_ns": ctime_ns})


class DirEntry(NamedTuple):
    """One entry of Session.scandir(): its name, its full filer path and its attributes (no
    further request needed: the listing carries them)."""
    name: str
    path: str
    stat: os.stat_result

    def is_dir(self) -> bool:
        return _stat.S_ISDIR(self.stat.st_mode)

    def is_file(self) -> bool:
        return _stat.S_ISREG(self.stat.st_mode)

    def is_symlink(self) -> bool:
        return _stat.S_ISLNK(self.stat.st_mode)


class File(io.RawIOBase):
    """A file of the filer opened for reading by Session.open(path, buffering=0): read, readinto,
    readall, seek, tell (io.RawIOBase). Every read is one request to kelpd (however many chunks
    it spans); the file's size is looked up at open and again when reading to the end. Not for
    use by two threads at once (nor is its session)."""

    def __init__(self, session: "Session", path: _PathArg, st: os.stat_result):
        super().__init__()
        self._session = session
        self._path = path
        self._pos = 0
        self.name = path
        self.size = st.st_size  # at open
        self.mode = "rb"

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._session.stat_path(self._path).st_size + offset
        else:
            raise ValueError("invalid whence (%r, should be 0, 1 or 2)" % whence)
        if pos < 0:
            raise OSError(22, "negative seek position %d" % pos)
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        self._checkClosed()
        n = self._session.path_readinto(self._path, buffer, self._pos)
        self._pos += n
        return n

    def read(self, size: Optional[int] = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            return self.readall()
        data = self._session.path_read(self._path, self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        self._checkClosed()
        data = self._session.path_read(self._path, self._pos, None)
        self._pos += len(data)
        return data


class Session(_kelp.Session):
    __doc__ = _kelp.Session.__doc__ + """

Files by path (through the SeaweedFS filer of kelpd's [filer] address): open(), listdir(),
scandir(), stat_path(); paths are absolute, as the filer sees them ("/data/x.bin"); kelpd
normalises nothing (no "..", no "//"). Errors: FileNotFoundError, NotADirectoryError,
IsADirectoryError; OSError(ENOTCONN) when kelpd has no filer configured."""
    __slots__ = ()

    def stat_path(self, path: _PathArg) -> os.stat_result:
        """Attributes of the filer entry at path as an os.stat_result (st_size, st_mode with
        S_IFDIR/S_IFREG/S_IFLNK, st_mtime(_ns), st_ctime(_ns) = creation time, st_ino, st_uid,
        st_gid). A separate name from stat(fid): "/3,01637037d6" is both a valid fid and a valid
        path, so the argument cannot tell which is meant."""
        return _stat_result(self.path_stat(path))

    def scandir(self, path: _PathArg) -> List[DirEntry]:
        """Every entry of filer directory path as DirEntry(name, path, stat), in the filer's byte
        order (a list; kelpd is asked for 256 entries at a time). NotADirectoryError for a file.
        Names and paths are str (os.fsdecode) also when path is bytes."""
        p = os.fsdecode(path)
        base = p if p.endswith("/") else p + "/"
        return [DirEntry(name, base + name, _stat_result(t)) for name, t in self.path_list(path)]

    def listdir(self, path: _PathArg) -> List[str]:
        """Names in filer directory path (like os.listdir: no "." or ".."), in the filer's byte
        order. NotADirectoryError when path is a file, FileNotFoundError when it does not exist."""
        return [name for name, _ in self.path_list(path)]

    def open(self, path: _PathArg, mode: str = "rb", buffering: int = -1):
        """Open file path of the filer for reading, as the built-in open(path, "rb") would a
        local file: buffering=0 gives the raw kelp.File (each read one request to kelpd), else
        an io.BufferedReader over it (buffering bytes of buffer; -1: 128 KiB). read() of the
        whole file is one request either way. Raises FileNotFoundError, IsADirectoryError."""
        if mode not in ("r", "rb", "br"):
            raise ValueError("kelp files are read-only binary: mode must be 'rb', not %r" % mode)
        st = self.stat_path(path)
        if _stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, os.strerror(21), path)
        raw = File(self, path, st)
        if buffering == 0:
            return raw
        return io.BufferedReader(raw, buffering if buffering > 1 else 128 << 10)


def connect(config: Optional[str] = None, socket: Optional[str] = None, *,
            queue_depth: int = 0, wait_spin_us: Optional[int] = None) -> Session:
    """Open a session with kelpd. socket (kelpd's Unix socket) wins over config (a kelp.conf whose
    [engine] socket is used); with neither, KELP_SOCKET / KELP_CONFIG from the environment, else
    /run/kelp/kelpd.sock. Raises ConnectionRefusedError when no kelpd listens there.
    queue_depth: submission ring entries (0: kelpd's default). wait_spin_us: how long a wait
    busy-polls before sleeping on a futex (None: libkelp's 50 us), while the session's recent waits
    usually ended that soon; while they usually outlasted it (HTTP fallback, remote reads, filer
    lookups) a wait sleeps at once. 0: always sleep at once; -1: never sleep, lowest latency but a
    busy core while waiting (what kelp-bench does by default)."""
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


def open(path: _PathArg, mode: str = "rb", buffering: int = -1):
    """Session.open() on this thread's default session: a filer file, read-only binary."""
    return default_session().open(path, mode, buffering)


def stat_path(path: _PathArg) -> os.stat_result:
    """Session.stat_path() on this thread's default session."""
    return default_session().stat_path(path)


def listdir(path: _PathArg) -> List[str]:
    """Session.listdir() on this thread's default session."""
    return default_session().listdir(path)


def scandir(path: _PathArg) -> List[DirEntry]:
    """Session.scandir() on this thread's default session."""
    return default_session().scandir(path)
