# SPDX-License-Identifier: Apache-2.0
"""Threads (one default session each; a shared session refuses concurrent use) and fork (the
child reconnects instead of using the parent's rings)."""
import os
import threading

import pytest

import kelp


def test_threads_get_their_own_default_session(sock, fids, want):
    kelp.configure(socket=sock)
    errors, sessions = [], set()
    work = fids[5] + fids[8] + fids[10]

    def worker(k):
        try:
            sessions.add(id(kelp.default_session()))
            for _ in range(3):
                rot = work[k:] + work[:k]
                got = list(kelp.read_many(rot, depth=16))
                if got != [want(f) for f in rot]:
                    errors.append("thread %d: wrong bytes" % k)
                if kelp.read(rot[0]) != want(rot[0]):
                    errors.append("thread %d: read wrong" % k)
        except Exception as e:  # reported below, with the thread
            errors.append("thread %d: %r" % (k, e))

    for f in work:  # fill the cache before the threads start
        want(f)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    # every worker thread had its own session (ids of live objects are distinct)
    assert len(sessions) == 4


def test_shared_session_refuses_concurrent_use(sock, fids):
    """While one thread waits with the GIL released, another's call on the same session raises
    RuntimeError instead of corrupting the rings."""
    s = kelp.connect(socket=sock)
    it = s.read_many(fids[10] * 20, depth=2, buffer_size=64 << 10)
    next(it)
    seen = []
    stop = threading.Event()

    def other():
        while not stop.is_set():
            try:
                s.read(fids[5][0])
            except RuntimeError as e:
                seen.append(str(e))
                return

    t = threading.Thread(target=other)
    t.start()
    for _ in it:
        pass
    stop.set()
    t.join()
    assert seen, "the concurrent read was never refused"
    s.close()


def _child(fn):
    """Run fn() in a forked child; return its exit status (0 = passed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_fork_child_gets_a_fresh_session(sock, fids, want):
    s = kelp.connect(socket=sock)
    kelp.configure(socket=sock)
    parent_default = kelp.default_session()
    assert s.read(fids[5][0]) == want(fids[5][0])
    parent_id = s.info()["session_id"]
    expected = [want(f) for f in fids[5]]
    pipe_r, pipe_w = os.pipe()

    def child():
        ok = list(s.read_many(fids[5])) == expected      # the explicit session reconnects
        ok = ok and kelp.default_session() is not parent_default
        ok = ok and kelp.read(fids[9][0]) == want(fids[9][0])
        os.write(pipe_w, b"%d\n" % s.info()["session_id"])
        return ok

    for _ in range(3):
        assert _child(child) == 0
    os.close(pipe_w)
    child_ids = set(int(x) for x in os.read(pipe_r, 1000).split())
    os.close(pipe_r)
    assert len(child_ids) == 3 and parent_id not in child_ids
    # the parent's session and rings still work after the children used theirs
    assert list(s.read_many(fids[5])) == expected
    assert parent_default.read(fids[5][1]) == want(fids[5][1])
    s.close()


def test_fork_with_iterator_in_flight(sock, fids, want):
    s = kelp.connect(socket=sock)
    it = s.read_many(fids[5], depth=8)
    first = next(it)

    def child():
        try:
            next(it)
        except RuntimeError:
            return s.read(fids[5][0]) == want(fids[5][0])
        return False

    assert _child(child) == 0
    assert [first] + list(it) == [want(f) for f in fids[5]]
    s.close()
