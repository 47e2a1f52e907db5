#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An iterable dataset over SeaweedFS fids, or the files of a filer directory, read through kelpd,
with N worker processes.

    from loader import KelpDataset, iterate
    ds = KelpDataset(fids, socket="/run/kelp/kelpd.sock", decode=None)
    ds = KelpDataset.from_filer_dir("/data/train", socket="/run/kelp/kelpd.sock")  # or files
    for sample in iterate(ds, workers=4, batch_size=None):   # torch DataLoader when torch imports
        ...

Each worker process reads its share of the fids (every N-th) with Session.read_many (depth 32) on
its own session: the module-level default session is per process and per thread, and a forked
worker reconnects by itself. Filer files (kelpd's [filer] address) are read whole, one request
each (kelp.open(path).read()), the directory listed once, recursively, in the parent. Samples are numpy uint8 arrays when numpy is installed, else bytes;
gzip-stored needles are inflated. A failed read raises in the worker (DataLoader passes it on).

Without torch, iterate() runs the workers with multiprocessing (fork) and yields in worker
round-robin order. Run as a script for one epoch:

    python3 loader.py --socket /run/kelp/kelpd.sock --fids FILE [--workers 4]
    python3 loader.py --socket /run/kelp/kelpd.sock --dir /filer/directory [--workers 4]
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

try:
    import kelp
except ImportError:  # run from the source tree: python/examples/loader.py next to python/kelp
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import kelp

try:
    import numpy as np
except ImportError:
    np = None

try:
    import torch.utils.data as tud
    _Base = tud.IterableDataset
except ImportError:
    tud = None
    _Base = object


def to_array(data: bytes):
    """Raw bytes -> a numpy uint8 array (no copy) when numpy is there, else the bytes."""
    return np.frombuffer(data, dtype=np.uint8) if np is not None else data


class KelpDataset(_Base):
    """Iterable over the needles of `fids`; with workers, each takes every N-th fid."""

    def __init__(self, fids=(), socket=None, config=None, depth=32, decode=to_array, paths=()):
        self.fids = list(fids)
        self.paths = list(paths)
        self.socket, self.config, self.depth = socket, config, depth
        self.decode = decode or (lambda b: b)
        self.worker, self.workers = 0, 1

    @classmethod
    def from_filer_dir(cls, directory, socket=None, config=None, decode=to_array):
        """Every regular file under filer directory `directory` (recursively; symlinks left out),
        in the filer's order."""
        paths, todo = [], [directory]
        with kelp.connect(config=config, socket=socket) as s:
            while todo:
                for e in s.scandir(todo.pop(0)):
                    if e.is_dir():
                        todo.append(e.path)
                    elif e.is_file():
                        paths.append(e.path)
        return cls(socket=socket, config=config, decode=decode, paths=paths)

    def __len__(self):
        return len(self.fids) + len(self.paths)

    def shard(self, worker, workers):
        self.worker, self.workers = worker, workers
        return self

    def __iter__(self):
        worker, workers = self.worker, self.workers
        if tud is not None:
            info = tud.get_worker_info()
            if info is not None:
                worker, workers = info.id, info.num_workers
        kelp.configure(config=self.config, socket=self.socket)
        mine = self.fids[worker::workers]
        for data in kelp.read_many(mine, self.depth, raise_errors=True, gunzip=True):
            yield self.decode(data)
        for path in self.paths[worker::workers]:
            with kelp.open(path, buffering=0) as f:
                yield self.decode(f.read())


def _worker(ds, worker, workers, q):
    try:
        for sample in ds.shard(worker, workers):
            q.put(sample)
        q.put(None)
    except BaseException as e:  # the parent re-raises it
        q.put(e)


def iterate(ds, workers=2, batch_size=None):
    """One epoch over ds with `workers` processes: torch's DataLoader when torch is importable,
    else multiprocessing (fork) with a queue per worker, read round-robin."""
    if tud is not None:
        yield from tud.DataLoader(ds, num_workers=workers, batch_size=batch_size)
        return
    ctx = mp.get_context("fork")
    qs = [ctx.Queue(maxsize=64) for _ in range(workers)]
    procs = [ctx.Process(target=_worker, args=(ds, i, workers, qs[i]), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()
    live = list(range(workers))
    try:
        while live:
            for i in list(live):
                item = qs[i].get()
                if item is None:
                    live.remove(i)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


def main():
    ap = argparse.ArgumentParser(description="one epoch over the fids in a file")
    ap.add_argument("--socket")
    ap.add_argument("--config")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--fids", help="file with one fid per line")
    src.add_argument("--dir", help="a filer directory: its files, recursively")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    if a.dir:
        ds = KelpDataset.from_filer_dir(a.dir, socket=a.socket, config=a.config)
    else:
        fids = [ln.strip() for ln in open(a.fids) if ln.strip() and not ln.startswith("#")]
        ds = KelpDataset(fids, socket=a.socket, config=a.config)
    t0, n, nbytes = time.monotonic(), 0, 0
    for sample in iterate(ds, workers=a.workers):
        n += 1
        nbytes += len(sample)
    dt = time.monotonic() - t0
    print("epoch: %d samples, %d bytes, %.2f s, %.0f samples/s (%s, %d workers, %s)" % (
        n, nbytes, dt, n / dt, "torch DataLoader" if tud else "multiprocessing", a.workers,
        "numpy" if np is not None else "bytes"))


if __name__ == "__main__":
    main()
