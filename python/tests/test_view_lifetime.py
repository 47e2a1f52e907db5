# SPDX-License-Identifier: Apache-2.0
"""Lifetime of the arena behind read_many(copy=False) views. A view is valid until the next item;
kept longer it may show newer bytes (stale data), and kept past Session.close() it still reads
the bytes its slot held: close() only marks the session closed, and kelp_close() (which unmaps
the arena) runs when the last view is released. These used to segfault (close unmapped at once)."""
import gc
import json
import os
import subprocess
import sys
import time

import pytest

import kelp


def kelpd_session_ids(env):
    out = subprocess.run([os.path.join(env["KELP_TEST_BIN"], "kelpctl"), "-c",
                          env["KELP_TEST_CONF"], "--json", "sessions"],
                         check=True, capture_output=True).stdout
    return {s["id"] for s in json.loads(out)["sessions"]}


def wait_gone(env, sid, deadline_s=30):
    """Bounded wait until kelpd no longer lists session sid (it notices a close asynchronously)."""
    end = time.monotonic() + deadline_s
    while sid in kelpd_session_ids(env):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_view_used_after_close_reads_stale_bytes(sock, fids, want):
    """In a child process, so that the old behaviour (SIGSEGV) fails this test instead of killing
    pytest: views kept past the next item and past close() are read, and hold the needle's
    length; the last one still holds its needle's bytes (nothing rewrites its slot)."""
    code = r"""
import sys, kelp
sock, fids = sys.argv[1], sys.argv[2:]
s = kelp.connect(socket=sock)
it = s.read_many(fids * 3, depth=8, copy=False, buffer_size=256 << 10)
views = [next(it) for _ in range(len(fids) * 2)]   # kept past their next item: stale at worst
s.close()
try:
    next(it)
    sys.exit("next() on a closed session's iterator did not raise")
except RuntimeError:
    pass
try:
    s.read(fids[0])
    sys.exit("read() on a closed session did not raise")
except ValueError:
    pass
total = sum(len(bytes(v)) for v in views if isinstance(v, memoryview))
sys.stdout.buffer.write(bytes(views[-1]))
"""
    small = [f for f in fids[5] if 0 < len(want(f)) <= 256 << 10][:20]
    r = subprocess.run([sys.executable, "-c", code, sock, *small], capture_output=True)
    assert r.returncode == 0, (r.returncode, r.stderr.decode()[-2000:])
    assert r.stdout == want(small[-1])


def test_close_with_views_alive_ends_session_when_views_go(env, sock, fids, want):
    s = kelp.connect(socket=sock)
    sid = s.info()["session_id"]
    it = s.read_many(fids[5], depth=8, copy=False, buffer_size=512 << 10)
    v1 = next(it)
    v2 = next(it)
    assert isinstance(v1, memoryview) and isinstance(v2, memoryview)
    assert v2 == want(fids[5][1])
    s.close()
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s.read(fids[5][0])
    with pytest.raises(RuntimeError, match="closed session"):
        next(it)
    # the mapping stays while views exist: the session stays open at kelpd too
    assert sid in kelpd_session_ids(env)
    assert v2 == want(fids[5][1])
    del it
    gc.collect()
    assert sid in kelpd_session_ids(env)  # v1, v2 still hold the arena
    del v1
    assert v2.tobytes() == want(fids[5][1])
    v2.release()  # the last view: kelp_close() now
    assert wait_gone(env, sid), "kelpd still lists session %d after its last view" % sid
    del v2


def test_close_without_views_ends_session_now(env, sock, fids):
    s = kelp.connect(socket=sock)
    sid = s.info()["session_id"]
    assert [bytes(v) for v in s.read_many(fids[9], copy=False)]  # views made and dropped
    s.close()
    assert wait_gone(env, sid)


def test_iterator_kept_after_close_does_not_hold_the_session(env, sock, fids):
    """An unfinished iterator kept after close() must not keep kelpd's session alive."""
    s = kelp.connect(socket=sock)
    sid = s.info()["session_id"]
    it = s.read_many(fids[5], depth=8, copy=False)
    next(it)  # its view is dropped right away; the iterator has reads in flight
    s.close()
    assert wait_gone(env, sid)
    with pytest.raises(RuntimeError):
        next(it)


def test_forked_child_closing_keeps_parent_views(sock, fids, want):
    """A child never unmaps the parent's arena: its close() leaves the parent's mapping alone,
    and a view inherited from the parent stays readable in both."""
    s = kelp.connect(socket=sock)
    it = s.read_many(fids[9], copy=False)
    v = next(it)
    expected = want(fids[9][0])
    assert v == expected
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            s.close()
            ok = bytes(v) == expected
            del v
            gc.collect()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert v == expected
    assert list(it)  # the parent's session and rings still work
    assert s.read(fids[9][0]) == expected
    s.close()
