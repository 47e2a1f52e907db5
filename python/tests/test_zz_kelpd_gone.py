# SPDX-License-Identifier: Apache-2.0
"""Runs last (file order): kelpd stops under open sessions -> ConnectionError subclasses."""
import os
import signal
import time

import pytest

import kelp


def test_kelpd_gone(sock, fids, want, env):
    s = kelp.connect(socket=sock)
    s2 = kelp.connect(socket=sock)
    assert s.read(fids[5][0]) == want(fids[5][0])
    assert s2.read(fids[5][0]) == want(fids[5][0])
    pid = int(env["KELP_TEST_KELPD_PID"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # bounded wait until the process is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # a zombie of the wrapper shell still answers kill 0: look at its state
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    with pytest.raises(ConnectionError) as e:
        s.read(fids[5][1])
    assert isinstance(e.value, (ConnectionResetError, ConnectionAbortedError)), e.value
    # read_many does not raise: every item is the session's error
    got = list(s2.read_many(fids[5][:5], depth=2))
    assert len(got) == 5 and all(isinstance(g, ConnectionError) for g in got), got
    with pytest.raises(ConnectionRefusedError):
        kelp.connect(socket=sock)
