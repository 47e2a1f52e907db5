#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Markdown table of kelp-bench --json runs, with ops/s ratios against a same-run baseline.

usage: bench/table.py RUNS.json [--baseline KIND]

Labels are "<kind> <size> [more]" (e.g. "local 4k d16", "pread 4k d1", "http 1m"). A run's ratio is
its ops/s over the baseline run of the same size and the same rest of the label ("<KIND> <size>
[more]"; when there is none, the first of that size) of the same round. When
a label occurs several times (rounds: the n-th occurrence of every label is round n), the run with
the median ops/s stands for it, the table gives the ops/s range, and the ratio column gives the
median of the per-round ratios with their range.
"""
import argparse
import json
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--baseline", default="pread", help="kind of the baseline runs (default pread)")
    args = ap.parse_args()
    by_label = {}
    with open(args.runs) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by_label.setdefault(r.get("label") or r.get("mode", "?"), []).append(r)
    if not by_label:
        sys.exit("table.py: no runs")
    # the baseline's runs in round order, by the rest of its label ("4k d64") and by size alone
    # ("4k": its first label of that size); a run is compared with the baseline of its own size
    # and depth when there is one (http 4k d64 for tcp 4k d64, not http 4k d16), else of its size
    base_rounds = {}
    for label, runs in by_label.items():
        parts = label.split()
        if parts[0] == args.baseline and len(parts) > 1:
            base_rounds.setdefault(" ".join(parts[1:]), runs)
            base_rounds.setdefault(parts[1], runs)
    ratios = {}  # label -> per-round ratios against the same round's baseline
    for label, runs in by_label.items():
        parts = label.split()
        b = None
        if len(parts) > 1:
            b = base_rounds.get(" ".join(parts[1:]), base_rounds.get(parts[1]))
        if b and b is not runs and not parts[0].startswith("nop"):
            ratios[label] = sorted(r["ops_per_sec"] / x["ops_per_sec"]
                                   for r, x in zip(runs, b) if x["ops_per_sec"] > 0)
    median = {}
    for label, runs in by_label.items():
        runs = sorted(runs, key=lambda r: r["ops_per_sec"])
        by_label[label] = runs
        median[label] = runs[(len(runs) - 1) // 2]
    rounds = max(len(v) for v in by_label.values())
    print(f"| run | ops/s{' (median of %d)' % rounds if rounds > 1 else ''} | GB/s | p50 us | p99 us | "
          f"p99.9 us | errors | served by | ops/s vs {args.baseline} (same run) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for label, r in median.items():
        parts = label.split()
        rs = ratios.get(label)
        if parts[0] == args.baseline and len(parts) > 1:
            ratio = "1.00x (baseline)"
        elif rs:
            ratio = f"{statistics.median(rs):.2f}x"
            if len(rs) > 1:
                ratio += f" ({rs[0]:.2f}..{rs[-1]:.2f})"
        else:
            ratio = "-"
        lat = r["latency_us"]
        runs = by_label[label]
        spread = ""
        if len(runs) > 1:
            spread = f' ({runs[0]["ops_per_sec"]:,.0f}..{runs[-1]["ops_per_sec"]:,.0f})'
        served = ", ".join(f"{k} {v}" for k, v in r.get("served_by", {}).items()) or "-"
        errors = sum(x["errors"] for x in runs)
        print(f'| {label} | {r["ops_per_sec"]:,.0f}{spread} | {r["gb_per_sec"]:.3f} | {lat["p50"]:.2f} | '
              f'{lat["p99"]:.2f} | {lat["p999"]:.2f} | {errors} | {served} | {ratio} |')


if __name__ == "__main__":
    main()
