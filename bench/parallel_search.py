"""One DPOR search on 1 and on N processes (``raceproof.subtrees``): wall time and what the workers did.

    python bench/parallel_search.py [RUNS] [JOBS]

Plain DPOR (no reductions), memory backend, direct driver, best of RUNS (default 3) wall-clock
seconds (``time.perf_counter``: the point is elapsed time on several cores), for the fixed incident
and generated scenarios of a parent mount + K skill mounts (1 file each, 3 workers). Each line:
scenario, jobs, executions, seconds, speed-up over 1 job, and the split (subtrees sent, taken,
dropped, sent again, handed over unfinished, executions the workers ran). The results of 1 and JOBS processes
are checked equal. Not a test.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from raceproof import scenario
from raceproof.runs import verify

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from skills import make  # noqa: E402

OPTIONS: dict[str, Any] = {"strategy": "dpor", "symmetry": False, "confluence": False, "shrink": False,
                           "driver": "direct", "certain": False}


def timed(sc: scenario.Scenario, jobs: int, runs: int) -> tuple[float, Any]:
    best, r = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        r = verify(sc, jobs=jobs, **OPTIONS).result
        best = min(best, time.perf_counter() - t0)
    return best, r


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("fixed incident", scenario.load(str(ROOT / "scenarios" / "guest-download-fixed.toml")))]
        cases += [(f"parent + {k} skills", make(k, 1, 3, tmp)) for k in (3, 4, 5)]
        for name, sc in cases:
            one, r1 = timed(sc, 1, runs)
            many, rn = timed(sc, jobs, runs)
            key = (r1.verdict, r1.executions, r1.blocked, r1.classes, r1.steps)
            assert key == (rn.verdict, rn.executions, rn.blocked, rn.classes, rn.steps), (key, rn)
            s = rn.split
            split = "no workers" if s is None else (
                f"sent {s.sent}, taken {s.taken}, dropped {s.dropped}, resent {s.resent}, handed over {s.handed_over}, "
                f"{s.executions} executions by workers")
            print(f"{name:<18} 1 job {one:7.2f} s | {jobs} jobs {many:7.2f} s  x{one / many:4.2f} | "
                  f"{r1.executions} executions | {split}", flush=True)
    print(f"cores usable: {len(os.sched_getaffinity(0))}")


if __name__ == "__main__":
    main()
