# SPDX-License-Identifier: Apache-2.0
"""kelp.Session reads against a real kelpd: bytes equal `kelp-vol cat`; errors map to exceptions."""
import errno
import gzip
import os
import subprocess
import sys

import pytest

import kelp


@pytest.fixture()
def s(sock):
    with kelp.connect(socket=sock) as sess:
        yield sess


def test_read_equals_kelp_vol_cat(s, fids, want):
    for v in (5, 8, 9, 10):
        for fid in fids[v]:
            assert s.read(fid) == want(fid), fid


def test_large_needles_read_in_pieces(s, fids, want):
    sizes = sorted(len(want(f)) for f in fids[10])
    assert sizes == [3 << 19, 3 << 20]
    info = s.info()
    for fid in fids[10]:
        assert s.read(fid) == want(fid)
    # larger than one buffer: read_many continues a needle in buffer-sized pieces
    it = s.read_many(fids[10] * 3, depth=4, buffer_size=256 << 10)
    assert it.buffer_size == 256 << 10
    assert list(it) == [want(f) for f in fids[10] * 3]
    assert info["max_io"] > 0


def test_offset_and_size(s, fids, want):
    fid = max(fids[5], key=lambda f: len(want(f)))
    data = want(fid)
    assert s.read(fid, 100, 1000) == data[100:1100]
    assert s.read(fid, offset=len(data) - 10) == data[-10:]
    assert s.read(fid, 5, size=0) == b""
    assert s.read(fid, size=len(data) + 500) == data
    big = fids[10][0]
    assert s.read(big, 1 << 20, 2 << 20) == want(big)[1 << 20:3 << 20]


def test_read_into_any_buffer(s, fids, want):
    fid = max(fids[5], key=lambda f: len(want(f)))
    data = want(fid)
    ba = bytearray(len(data) + 100)
    assert s.read_into(fid, ba) == len(data)
    assert ba[:len(data)] == data
    small = bytearray(50)
    assert s.read_into(fid, memoryview(small), 10) == 50
    assert small == data[10:60]
    import array
    arr = array.array("B", bytes(len(data)))
    assert s.read_into(fid, arr) == len(data) and arr.tobytes() == data
    with pytest.raises(BufferError):
        s.read_into(fid, b"read-only")


def test_read_many_order_and_errors(s, fids, want, env):
    all_fids = fids[5] + fids[8] + fids[9]
    mixed = list(all_fids)
    mixed.insert(3, "99,0101020304")           # not local
    mixed.insert(7, env["KELP_TEST_CORRUPT"])  # CRC mismatch
    mixed.insert(11, "not-a-fid")              # bad text
    wrong_cookie = all_fids[0][:-1] + ("0" if all_fids[0][-1] != "0" else "1")
    mixed.insert(15, wrong_cookie)
    got = list(s.read_many(mixed, depth=32))
    assert len(got) == len(mixed)
    for fid, r in zip(mixed, got):
        if fid == "99,0101020304":
            assert isinstance(r, OSError) and r.errno == errno.EHOSTUNREACH and r.filename == fid
        elif fid == env["KELP_TEST_CORRUPT"]:
            assert isinstance(r, kelp.CorruptNeedle) and r.errno == errno.EIO
            assert "corrupt" in str(r)
        elif fid == "not-a-fid":
            assert isinstance(r, ValueError)
        elif fid == wrong_cookie:
            assert isinstance(r, FileNotFoundError) and r.errno == errno.ENOENT
        else:
            assert r == want(fid), fid
    with pytest.raises(kelp.CorruptNeedle):
        list(s.read_many([all_fids[0], env["KELP_TEST_CORRUPT"]], raise_errors=True))
    # the session is usable after a raised error left the iterator half done
    assert s.read(env["KELP_TEST_INTACT"]) == want(env["KELP_TEST_INTACT"])


def test_read_many_depths_and_generators(s, fids, want):
    many = fids[5] * 3
    for depth in (1, 2, 7, 32, 64, 1000):
        assert list(s.read_many(iter(many), depth=depth)) == [want(f) for f in many], depth
    assert list(s.read_many([])) == []
    # Fid tuples work as well as strings
    assert list(s.read_many(kelp.Fid.parse(f) for f in fids[9])) == [want(f) for f in fids[9]]


def test_read_many_zero_copy_views(s, fids, want):
    many = fids[5] + fids[9] + fids[10]
    it = s.read_many(many, depth=8, copy=False, buffer_size=512 << 10)
    for fid, r in zip(many, it):
        if len(want(fid)) <= 512 << 10:
            assert isinstance(r, memoryview) and r.readonly, fid
        else:  # larger than a slot: read in pieces into bytes
            assert isinstance(r, bytes), fid
        assert r == want(fid), fid  # compared before the next item voids the view


def test_read_many_iterator_owns_the_session_until_done(s, fids, want):
    it = s.read_many(fids[5], depth=8)
    first = next(it)
    assert first == want(fids[5][0])
    with pytest.raises(RuntimeError, match="read_many"):
        s.read(fids[5][0])
    it.close()
    assert s.read(fids[5][1]) == want(fids[5][1])
    # an abandoned iterator gives its buffers back when collected
    for _ in range(50):
        it = s.read_many(fids[5], depth=32)
        next(it)
        del it
    assert s.read(fids[5][2]) == want(fids[5][2])


def test_errors_map_to_exceptions(s, fids, env):
    with pytest.raises(FileNotFoundError) as e:
        s.read(fids[5][0][:-1] + ("0" if fids[5][0][-1] != "0" else "1"))
    assert e.value.errno == errno.ENOENT and "not found" in str(e.value)
    with pytest.raises(kelp.CorruptNeedle) as e:
        s.read(env["KELP_TEST_CORRUPT"])
    assert isinstance(e.value, OSError) and e.value.filename == env["KELP_TEST_CORRUPT"]
    with pytest.raises(OSError) as e:
        s.read("99,0101020304")
    assert e.value.errno == errno.EHOSTUNREACH
    with pytest.raises(FileNotFoundError):
        s.stat("99,0101020304".replace("99", "5"))
    with pytest.raises(ValueError):
        s.read("nonsense")
    with pytest.raises(ConnectionRefusedError) as e:
        kelp.connect(socket=os.path.join(env["KELP_TEST_DIR"], "nobody-listens.sock"))
    assert "nobody-listens.sock" in str(e.value)  # kelp_last_error(), with the path
    with pytest.raises(FileNotFoundError):
        kelp.connect(config=os.path.join(env["KELP_TEST_DIR"], "missing.conf"))


def test_permission_error_for_the_allow_policy(env):
    """kelpd admits uid 0 only ([engine] allow_uids = 0): another user gets PermissionError."""
    if os.getuid() != 0:
        pytest.fail("this test runs as root (test/integ/test_python.sh under make test)")
    pkg = os.path.dirname(os.path.dirname(kelp.__file__))
    code = ("import kelp, sys\n"
            "try:\n kelp.connect(socket=sys.argv[1])\n"
            "except PermissionError as e:\n print('PermissionError', e.errno, e)\n")
    # the system python3 (other users cannot reach a python under /root); same 3.11 ABI
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/usr/bin/python3", "-c", code, env["KELP_TEST_SOCK"]],
                       env={"PYTHONPATH": pkg}, capture_output=True, text=True)
    assert r.stdout.startswith("PermissionError %d" % errno.EACCES), (r.stdout, r.stderr)


def test_stat_and_gzip(s, fids, want, env):
    for fid in fids[8]:
        st = s.stat(fid)
        assert st.gzip and st.needle_flags & 0x01 and st.path == "local"
        assert st.size == len(want(fid))
        raw = s.read(fid)
        assert raw == want(fid)
        plain = s.read(fid, gunzip=True)
        assert plain == gzip.decompress(raw) == kelp.gunzip(raw)
    # the files they came from: f1..f8 = seq 1 700*i
    texts = sorted(s.read(f, gunzip=True) for f in fids[8])
    assert texts == sorted(("".join("%d\n" % k for k in range(1, 700 * i + 1))).encode()
                           for i in range(1, 9))
    got = list(s.read_many(fids[8] + fids[5][:3], gunzip=True))
    assert got[:len(fids[8])] == [gzip.decompress(want(f)) for f in fids[8]]
    assert got[len(fids[8]):] == [want(f) for f in fids[5][:3]]  # plain needles as stored
    st = s.stat(fids[5][0])
    assert not st.gzip and st.size == len(want(fids[5][0]))


def test_fid_parse_format():
    f = kelp.Fid.parse("3,01637037d6")
    assert f == (3, 1, 0x637037d6) and f.format() == "3,01637037d6" and str(f) == "3,01637037d6"
    assert kelp.Fid.parse("/3,01637037d6.jpg") == f
    assert kelp.Fid.parse("3/01637037d6/name.jpg") == f
    assert kelp.Fid.parse("3,01637037d6_2").key == 3
    with pytest.raises(ValueError):
        kelp.Fid.parse("3;0")


def test_closed_session(sock, fids):
    s = kelp.connect(socket=sock)
    s.close()
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s.read(fids[5][0])
    s.close()  # twice is fine


def test_module_level_default_session(sock, fids, want, monkeypatch):
    monkeypatch.setenv("KELP_SOCKET", sock)
    kelp.configure(socket=sock)
    assert kelp.read(fids[5][0]) == want(fids[5][0])
    assert kelp.default_session() is kelp.default_session()
    assert list(kelp.read_many(fids[9])) == [want(f) for f in fids[9]]
    assert kelp.stat(fids[9][0]).size == len(want(fids[9][0]))


def test_help_is_useful():
    assert "read_many" in kelp.Session.read_many.__doc__
    assert "copies" in kelp.__doc__
    assert sys.modules["kelp"].connect.__doc__
