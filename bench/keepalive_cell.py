"""One keep-alive run (a matrix cell's unit): executions and CPU time (see BENCHMARKS.md).

    python bench/keepalive_cell.py A 3:siblings:rrr/spine 2 none --crash [--budget N]

Not a test: nothing here asserts. CPU time (``time.process_time``) of this process only.
"""

from __future__ import annotations

import argparse
import os
import time

from raceproof.keepalive import stale
from raceproof.keepalive.compare import explore_run
from raceproof.mountsets import scenario_for_name
from raceproof.properties import PROPERTIES
from raceproof.scenario import load

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("algorithm")
    ap.add_argument("mount_set")
    ap.add_argument("workers", type=int)
    ap.add_argument("state")
    ap.add_argument("--crash", action="store_true")
    ap.add_argument("--budget", type=int, default=None)
    args = ap.parse_args()
    base = load(os.path.join(HERE, "..", "scenarios", "keepalive.toml")).with_changes(algorithm=args.algorithm)
    sc = stale.apply(scenario_for_name(base, f"{args.mount_set}:w{args.workers}"), args.state)
    t0 = time.process_time()
    first, n, complete, _r, _p = explore_run(sc, args.crash, set(PROPERTIES), args.budget)
    cpu = time.process_time() - t0
    print(f"{args.algorithm} {args.mount_set}:w{args.workers} stale={args.state} crash={args.crash}: "
          f"{n} executions, complete={complete}, violated={sorted(first)}, cpu {cpu:.2f} s")


if __name__ == "__main__":
    main()
