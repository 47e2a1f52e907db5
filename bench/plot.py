#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turn kelp-bench --json runs into one PNG: throughput (ops/s and GB/s) and latency percentiles.

usage: bench/plot.py [-o OUT.png] [--title TEXT] RUN.json [RUN.json ...]

Each input file holds one or more JSON objects, one per line, as `kelp-bench --json` prints them
(append several runs to one file with >>). A run is named by its --label, else by its mode and
depth; when a name occurs several times (rounds), the run with the median ops/s is drawn. Needs matplotlib (`make deps` installs it).
"""
import argparse
import json
import sys


def load_runs(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    run = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"plot.py: {path}:{n}: not a kelp-bench --json line: {e}")
                for key in ("ops_per_sec", "mb_per_sec", "latency_us"):
                    if key not in run:
                        sys.exit(f"plot.py: {path}:{n}: missing '{key}' (is this kelp-bench --json output?)")
                runs.append(run)
    if not runs:
        sys.exit("plot.py: no runs in the input files")
    # Several rounds of one label: plot the run with the median ops/s, in first-seen order.
    groups = {}
    for r in runs:
        groups.setdefault(run_name(r), []).append(r)
    picked = []
    for rs in groups.values():
        rs = sorted(rs, key=lambda r: r["ops_per_sec"])
        picked.append(rs[(len(rs) - 1) // 2])
    return picked


def run_name(run):
    if run.get("label"):
        return run["label"]
    return f'{run.get("mode", "?")} t{run.get("threads", "?")}xd{run.get("depth", "?")}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="files of kelp-bench --json lines")
    ap.add_argument("-o", "--output", default="bench.png", help="PNG to write (default bench.png)")
    ap.add_argument("--title", default="kelp-bench", help="figure title")
    args = ap.parse_args()
    runs = load_runs(args.runs)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot.py: matplotlib is missing: run 'make deps' (or: python3 -m pip install matplotlib)")

    names = [run_name(r) for r in runs]
    x = range(len(runs))
    fig, (ax_ops, ax_gb, ax_lat) = plt.subplots(1, 3, figsize=(max(12, 1.9 * len(runs)), 5))
    fig.suptitle(args.title)

    ops = [r["ops_per_sec"] for r in runs]
    bars = ax_ops.bar(x, ops, color="#2a7fb8")
    ax_ops.set_title("reads per second")
    positive = [v for v in ops if v > 0]
    if positive and max(positive) / min(positive) > 50:
        ax_ops.set_yscale("log")  # e.g. kelp local next to HTTP: keep the small bars readable
        ax_ops.set_title("reads per second (log scale)")
    ax_ops.bar_label(bars, labels=[f"{v:,.0f}" for v in ops], fontsize=7, rotation=90, padding=2)

    gbs = [r["mb_per_sec"] / 1000.0 for r in runs]
    bars = ax_gb.bar(x, gbs, color="#3c9a5f")
    ax_gb.set_title("GB/s")
    ax_gb.bar_label(bars, labels=[f"{v:.2f}" for v in gbs], fontsize=7, rotation=90, padding=2)

    pcts = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]
    width = 0.8 / len(pcts)
    for i, (key, label) in enumerate(pcts):
        vals = [max(r["latency_us"].get(key, 0), 1e-3) for r in runs]
        ax_lat.bar([xi + (i - 1.5) * width for xi in x], vals, width, label=label)
    ax_lat.set_yscale("log")
    ax_lat.set_title("latency (us, log scale)")
    ax_lat.legend(fontsize=8)

    for ax in (ax_ops, ax_gb, ax_lat):
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.margins(y=0.2)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"plot.py: wrote {args.output} ({len(runs)} runs)")


if __name__ == "__main__":
    main()
