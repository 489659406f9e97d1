"""Fault placements on 1 and on N processes (``explore_placements(jobs=...)``): wall time.

    python bench/placements.py [RUNS] [JOBS]

``verify`` with an exploring injector (every placement of the faults, one DPOR each; the
placements of a level go to JOBS processes past the 500-execution warm-up), default options but
the strategy (`dpor`), best of RUNS (default 3) wall-clock seconds (``time.perf_counter``: the
point is elapsed time on several cores). Each line: scenario and injector, jobs, placements,
executions, seconds, speed-up over 1 job. The results of 1 and JOBS processes are checked equal.
Not a test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from raceproof import scenario
from raceproof.runs import verify

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    ("chaos-crash.toml", ()),  # its own [[inject]]: crash anywhere, then a rerun
    ("guest-download-fixed.toml", ("errno:op=mkdir",)),  # EIO at any one mkdir
    ("guest-download-fixed.toml", ("errno:op=mkdir,at_most=2",)),  # at any two
]


def timed(sc: scenario.Scenario, inject: tuple[str, ...], jobs: int, runs: int) -> tuple[float, Any]:
    best, vr = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        vr = verify(sc, "dpor", inject=list(inject), jobs=jobs, driver="direct")
        best = min(best, time.perf_counter() - t0)
    return best, vr


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    print(f"| scenario | inject | jobs | placements | executions | wall s (best of {runs}) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, inject in CASES:
        sc = scenario.load(str(ROOT / "scenarios" / name))
        one, a = timed(sc, inject, 1, runs)
        many, b = timed(sc, inject, jobs, runs)
        ra, rb = a.result, b.result
        assert (ra.verdict, ra.executions, ra.classes, ra.steps, a.placements.per_placement, a.token) == \
               (rb.verdict, rb.executions, rb.classes, rb.steps, b.placements.per_placement, b.token)
        label = " ".join(inject) or "(its own)"
        for j, t in ((1, one), (jobs, many)):
            print(f"| {name} | {label} | {j} | {a.placements.placements} | {ra.executions:,} | {t:.2f} | "
                  f"{one / t:.2f}x |")


if __name__ == "__main__":
    main()
