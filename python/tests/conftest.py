# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the kelp package tests. test/integ/test_python.sh makes the volumes, starts kelpd
and exports KELP_TEST_*; run the tests through it (`bash test/integ/test_python.sh`)."""
import os
import subprocess

import pytest

ENV = ("KELP_TEST_DIR", "KELP_TEST_SOCK", "KELP_TEST_BIN", "KELP_TEST_KELPD_PID",
       "KELP_TEST_FILER_SOCK", "KELP_TEST_FILER_SET", "KELP_TEST_FILER_ROOT",
       "KELP_TEST_FILER_TEXT", "KELP_TEST_FILER_TEXT_LOCAL")


@pytest.fixture(scope="session")
def env():
    missing = [k for k in ENV if k not in os.environ]
    if missing:
        # not a skip: these tests only mean something against the kelpd the wrapper starts
        pytest.fail("run through test/integ/test_python.sh (missing %s)" % ", ".join(missing))
    return os.environ


@pytest.fixture(scope="session")
def sock(env):
    return env["KELP_TEST_SOCK"]


def kelp_vol(env, *args):
    return subprocess.run([os.path.join(env["KELP_TEST_BIN"], "kelp-vol"), *args],
                          check=True, capture_output=True).stdout


@pytest.fixture(scope="session")
def fids(env):
    """{volume: [fid, ...]} of every live needle, from `kelp-vol ls`."""
    out = {}
    for v in (5, 8, 9, 10, 12):
        lines = kelp_vol(env, "ls", os.path.join(env["KELP_TEST_DIR"], "vol", "%d.dat" % v))
        out[v] = [ln.split()[0] for ln in lines.decode().splitlines()[1:] if ln.strip()]
        assert out[v], "volume %d lists no needles" % v
    return out


@pytest.fixture(scope="session")
def want(env):
    """want(fid) -> the needle's bytes as stored, from `kelp-vol cat`."""
    cache = {}

    def get(fid):
        if fid not in cache:
            vol = os.path.join(env["KELP_TEST_DIR"], "vol", fid.split(",")[0] + ".dat")
            cache[fid] = kelp_vol(env, "cat", vol, fid)
        return cache[fid]
    return get
