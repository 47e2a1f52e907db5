# SPDX-License-Identifier: Apache-2.0
"""python/examples/loader.py: one epoch with 3 worker processes yields every needle once."""
import gzip
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import loader  # noqa: E402


def test_one_epoch_with_workers(sock, fids, want):
    all_fids = fids[5] + fids[8] + fids[10]
    ds = loader.KelpDataset(all_fids, socket=sock, decode=bytes)
    got = sorted(bytes(s) for s in loader.iterate(ds, workers=3))
    expect = sorted([want(f) for f in fids[5] + fids[10]] +
                    [gzip.decompress(want(f)) for f in fids[8]])
    assert got == expect


def test_decoded_samples(sock, fids, want):
    ds = loader.KelpDataset(fids[9], socket=sock)
    samples = list(ds)
    if loader.np is not None:
        assert all(s.dtype == loader.np.uint8 for s in samples)
    assert [bytes(s) for s in samples] == [want(f) for f in fids[9]]
