# SPDX-License-Identifier: Apache-2.0
"""Files by path through kelpd's filer client (issue 11 API): Session.open/listdir/scandir/
stat_path against a real `weed filer` that test/integ/test_python.sh fills with files of each shape
(empty, inline, 4 KiB, 3 MiB in 4 chunks, sparse, deep, UTF-8 names; a compressed text file apart,
in /kelp-text),
compared with the bytes uploaded."""
import errno
import io
import os
import stat
import sys

import kelp
import pytest


@pytest.fixture(scope="session")
def fset(env):
    """[(path, kind, size, expected bytes)] of the files test_python.sh put into the filer."""
    rows = []
    with open(env["KELP_TEST_FILER_SET"], encoding="utf-8") as f:
        for ln in f:
            path, kind, size, exp = ln.rstrip("\n").split("\t")
            with open(exp, "rb") as e:
                rows.append((path, kind, int(size), e.read()))
    assert len(rows) >= 7
    return rows


@pytest.fixture(scope="session")
def root(env):
    return env["KELP_TEST_FILER_ROOT"]


@pytest.fixture(scope="session")
def fsock(env):
    """The socket of the kelpd whose [filer] address is the test filer."""
    return env["KELP_TEST_FILER_SOCK"]


@pytest.fixture()
def s(fsock):
    with kelp.connect(socket=fsock) as sess:
        yield sess


def by_kind(fset, kind):
    return next(r for r in fset if r[1] == kind)


def test_open_read_equals_the_filers_get(s, fset):
    for path, kind, size, data in fset:
        with s.open(path) as f:                  # io.BufferedReader over kelp.File
            assert isinstance(f, io.BufferedReader)
            assert f.read() == data, (kind, path)
        with s.open(path, buffering=0) as f:     # the raw file: every read one request
            assert isinstance(f, kelp.File) and f.readable() and f.seekable()
            assert f.read() == data, (kind, path)
            assert f.read() == b"" and f.tell() == size
        assert f.closed
        with pytest.raises(ValueError):
            f.read()


def test_seek_tell_readinto_across_chunks(s, fset):
    path, _, size, data = by_kind(fset, "multi")  # 3 MiB + 5 in 1 MiB chunks
    f = s.open(path, buffering=0)
    assert f.seek(1048570) == 1048570 and f.tell() == 1048570
    assert f.read(10) == data[1048570:1048580]  # crosses the first chunk boundary
    buf = bytearray(2 * 1048576 - 1000)         # larger than one request: several
    assert f.readinto(buf) == len(buf)
    assert buf == data[1048580:1048580 + len(buf)]
    assert f.seek(-5, io.SEEK_END) == size - 5
    assert f.read() == data[-5:]
    assert f.read(100) == b""
    big = bytearray(100)
    assert f.readinto(big) == 0
    f.seek(size - 3)
    assert f.readinto(big) == 3 and big[:3] == data[-3:]
    assert f.seek(10, io.SEEK_CUR) == size + 10 and f.read() == b""
    with pytest.raises(OSError):
        f.seek(-1)
    f.close()
    # buffered: many small reads, peek, readline-free binary protocol parsing
    with s.open(path, buffering=4096) as b:
        got = b"".join(b.read(7) for _ in range(1000))
        assert got == data[:7000]
        assert b.peek(1)[:1] == data[7000:7001]
        b.seek(2 * 1048576 - 2)
        assert b.read(4) == data[2 * 1048576 - 2:2 * 1048576 + 2]
    # the direct calls
    assert s.path_read(path, 1048575, 3) == data[1048575:1048578]
    assert s.path_read(path, size + 1) == b"" and s.path_read(path, 0, 0) == b""


def test_holes_and_names(s, fset):
    for kind in ("sparse", "names", "deep", "empty", "inline"):
        path, _, size, data = by_kind(fset, kind)
        with s.open(path, buffering=0) as f:
            mid = size // 2
            f.seek(mid)
            assert f.read(4096) == data[mid:mid + 4096], kind


def test_stat_path(s, fset, root):
    for path, kind, size, _ in fset:
        st = s.stat_path(path)
        assert isinstance(st, os.stat_result)
        assert stat.S_ISREG(st.st_mode) and st.st_size == size, (kind, st)
        assert st.st_mtime_ns > 0 and st.st_mtime == st.st_mtime_ns / 1e9
    d = s.stat_path(root)
    assert stat.S_ISDIR(d.st_mode) and d.st_size == 0


def test_listdir_and_scandir(s, fset, root):
    # the names directly under root, from the set's paths
    top = {p[len(root) + 1:].split("/")[0] for p, *_ in fset}
    names = s.listdir(root)
    assert set(names) == top
    assert names == sorted(names, key=lambda n: n.encode())  # the filer's byte order
    ents = {e.name: e for e in s.scandir(root)}
    assert set(ents) == top
    assert ents["deep"].is_dir() and not ents["deep"].is_file()
    assert ents["deep"].path == root + "/deep"
    small = by_kind(fset, "small")
    e = ents[small[0].rsplit("/", 1)[1]]
    assert e.is_file() and e.stat.st_size == small[2]
    assert s.listdir(root + "/deep/a/b/c/d/e/f/g/h") == ["leaf.bin"]
    odd = by_kind(fset, "names")[0]  # "dir with spaces/näme ünïcödé 日本語 #1%.bin"
    assert s.listdir(odd.rsplit("/", 1)[0]) == [odd.rsplit("/", 1)[1]]
    assert s.listdir(os.fsencode(root + "/deep")) == ["a"]  # bytes paths too


def test_path_errors(s, fset, root):
    small = by_kind(fset, "small")[0]
    with pytest.raises(FileNotFoundError) as e:
        s.stat_path(root + "/no-such-file")
    assert e.value.errno == errno.ENOENT and e.value.filename == root + "/no-such-file"
    with pytest.raises(FileNotFoundError):
        s.open(root + "/no-such-file")
    with pytest.raises(FileNotFoundError):
        s.listdir(root + "/no-such-dir")
    with pytest.raises(NotADirectoryError):
        s.listdir(small)
    with pytest.raises(IsADirectoryError):
        s.open(root + "/deep")
    with pytest.raises(IsADirectoryError):
        s.path_read(root + "/deep")
    with pytest.raises(OSError) as e:
        s.stat_path("relative/path")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        s.stat_path(root + "/../etc")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        s.stat_path(root + "/a\0b")
    with pytest.raises(ValueError):
        s.open(small, "w")
    # the session still serves after all of these
    assert s.open(small).read() == by_kind(fset, "small")[3]


def test_module_level_and_fork(fsock, fset, root):
    kelp.configure(socket=fsock)
    path, _, _, data = by_kind(fset, "multi")
    assert kelp.open(path).read() == data
    assert kelp.stat_path(path).st_size == len(data)
    assert sorted(kelp.listdir(root)) == sorted(e.name for e in kelp.scandir(root))
    f = kelp.open(path, buffering=0)
    f.seek(1000)
    pid = os.fork()
    if pid == 0:  # the child: its own session, the parent's file object works there too
        ok = kelp.open(path).read() == data and f.read(100) == data[1000:1100]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert f.read(100) == data[1000:1100]  # the parent's position is its own


def test_loader_over_a_filer_directory(fsock, fset, root):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import loader
    ds = loader.KelpDataset.from_filer_dir(root, socket=fsock, decode=bytes)
    got = sorted(bytes(x) for x in loader.iterate(ds, workers=2))
    assert got == sorted(data for _, _, _, data in fset)


def test_compressed_text_file(s, env):
    """A chunk the filer stored compressed (is_compressed, and the needle's gzip flag): kelpd
    inflates it once (it answered EIO before main's d210384)."""
    with open(env["KELP_TEST_FILER_TEXT_LOCAL"], "rb") as f:
        data = f.read()
    with s.open(env["KELP_TEST_FILER_TEXT"]) as f:
        assert f.read() == data
