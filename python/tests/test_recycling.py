# SPDX-License-Identifier: Apache-2.0
"""Copies handed out as bytes are recycled once the caller has dropped them (kelp keeps one
reference and refills an object only when that reference is the last): whatever the caller still
holds must keep its bytes, and a refilled object must not carry the hash of its old contents."""
import kelp
import pytest


@pytest.fixture()
def s(sock):
    with kelp.connect(socket=sock) as sess:
        yield sess


def check(r, fid, want):
    assert r == want(fid), fid
    # hash() caches on the object: a recycled one that kept its old hash fails here
    assert hash(r) == hash(bytes(bytearray(r))), fid


def test_read_many_copies_survive_recycling(s, fids, want):
    same = fids[12]  # 24 needles of 64 KiB: each dropped result can carry the next one
    order = same * 4
    kept, views = [], []
    for i, r in enumerate(s.read_many(order, depth=8)):
        check(r, order[i], want)
        if i % 7 == 0:
            kept.append((order[i], r))             # held by a list
        elif i % 7 == 3:
            views.append((order[i], memoryview(r)))  # held only through a buffer export
    assert i == len(order) - 1
    for fid, r in kept:
        check(r, fid, want)
    for fid, v in views:
        assert v.tobytes() == want(fid), fid


def test_read_copies_survive_recycling(s, fids, want):
    same = fids[12]
    kept = []
    for i, fid in enumerate(same * 3):
        r = s.read(fid)
        check(r, fid, want)
        if i % 5 == 0:
            kept.append((fid, r))
    for fid, r in kept:
        check(r, fid, want)
    # mixed sizes through the same session: a spare of another size is never handed out
    for fid in fids[5][:40] + same[:6]:
        check(s.read(fid), fid, want)
