"""CPU time of the incident's searches, for comparing two source trees back to back.

    python bench/throughput.py [--runs N] [--tree DIR]

Best-of-N ``time.process_time`` of ``verify(..., shrink=False)`` on the fixed incident (dpor: 264
executions; dfs, random: 300) and on the buggy one (dpor to the first counterexample). `--tree`
imports raceproof from another checkout (its ``toolkit``, ``injectors`` and ``reports`` folders
are laid out as the package in a temporary directory), so a base commit can be measured from the
same virtualenv: ``git archive BASE | tar -x -C /tmp/base`` then ``--tree /tmp/base``.
Not a test: nothing here asserts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from source_tree import bench_args  # noqa: E402


def main() -> None:
    args = bench_args()
    import raceproof
    from raceproof.runs import verify
    from raceproof.scenario import load

    scenarios = args.tree or ROOT
    fixed = load(str(scenarios / "scenarios/guest-download-fixed.toml"))
    buggy = load(str(scenarios / "scenarios/guest-download-2026-04-10.toml"))
    rows: list[tuple[str, Any, str, int | None]] = [
        ("fixed, dpor", fixed, "dpor", None),
        ("buggy, dpor to the counterexample", buggy, "dpor", None),
        ("fixed, dfs (300)", fixed, "dfs", 300),
        ("fixed, random (300)", fixed, "random", 300),
    ]
    print(f"raceproof from {Path(raceproof.__file__).resolve().parent}")
    for label, sc, strategy, budget in rows:
        best, executions = float("inf"), 0
        for _ in range(args.runs):
            t0 = time.process_time()
            vr = verify(sc, strategy=strategy, max_executions=budget, shrink=False, symmetry=False)
            best = min(best, time.process_time() - t0)
            executions = getattr(vr, "result", vr).executions
        print(f"{label:36s} {executions:5d} executions  {best:6.3f} s CPU")


if __name__ == "__main__":
    main()
