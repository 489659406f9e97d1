"""The keep-alive candidate matrix at the issue's size: proof sizes and times (see BENCHMARKS.md).

    python bench/keepalive.py                      # A B C D, mount sets <= 3, stale <= 2, with and without crash
    python bench/keepalive.py --mounts 2 --stale 1 # smaller

Each candidate is compared on its own (one row of the matrix per process call), so the times are
per candidate. Prints a Markdown table and writes the matrix JSON to bench/keepalive-matrix.json.
Not a test: nothing here asserts. Timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from raceproof.keepalive.compare import compare
from raceproof.scenario import load

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mounts", type=int, default=3)
    ap.add_argument("--stale", type=int, default=2)
    ap.add_argument("--no-crash", action="store_true")
    ap.add_argument("--no-split", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "keepalive-matrix.json"))
    ap.add_argument("algorithms", nargs="*", default=["A", "B", "C", "D"])
    args = ap.parse_args()
    base = load(os.path.join(HERE, "..", "scenarios", "keepalive.toml"))
    rows, docs = [], []
    for a in args.algorithms:
        t0 = time.perf_counter()
        c0 = time.process_time()
        def note(label: str, i: int, total: int, t0: float = t0) -> None:
            if i % 25 == 0:
                print(f"  {time.perf_counter() - t0:7.1f} s  run {i}/{total}  {label}", file=sys.stderr, flush=True)

        m = compare(base, [a], args.mounts, args.stale, not args.no_crash, on_run=note, split=not args.no_split)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        doc = m.to_json()
        docs.append(doc)
        row = doc["rows"][0]
        cells = " | ".join(f"{c['verdict']}" + (f" ({c['executions']})" if c["verdict"] == "proved" else "")
                           for c in row["cells"])
        rows.append(f"| {a} | {cells} | {row['runs']} | {row['executions']} | {cpu:.1f} s CPU ({wall:.1f} s wall) |")
        print(rows[-1], flush=True)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cpus, Python {sys.version.split()[0]}; "
          f"mount sets <= {args.mounts}, stale <= {args.stale}, crash: {not args.no_crash}")
    print("| candidate | P1 | P2 | P3 | P4 | P5 | runs | executions | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    with open(args.out, "w") as fh:
        json.dump(docs, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
