"""How long the report of the incident pair takes, next to the two verifies it rests on.

    python bench/report_time.py [--runs N] [--tree DIR]

Prints the best-of-N CPU time (``time.process_time``) of ``verify`` on the buggy and the fixed scenario, of their sum,
and of ``build_report`` on the pair (the work behind ``raceproof report``, rendering excluded).
`--tree DIR` imports raceproof from another checkout (as ``bench/throughput.py`` does).
Not a test: nothing here asserts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from source_tree import bench_args  # noqa: E402

sys.path.insert(0, str(ROOT))


PAIR = ("scenarios/guest-download-2026-04-10.toml", "scenarios/guest-download-fixed.toml")


def best(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    args = bench_args()
    from raceproof.reports import model
    from raceproof.runs import verify
    from raceproof.scenario import load

    buggy, fixed = (load(str(ROOT / p)) for p in PAIR)
    t_buggy = best(lambda: verify(buggy), args.runs)
    t_fixed = best(lambda: verify(fixed), args.runs)
    t_report = best(lambda: model.build_report([buggy, fixed]), args.runs)
    print(f"verify buggy   {t_buggy:7.3f} s")
    print(f"verify fixed   {t_fixed:7.3f} s")
    print(f"two verifies   {t_buggy + t_fixed:7.3f} s")
    print(f"report (pair)  {t_report:7.3f} s   ratio {t_report / (t_buggy + t_fixed):.2f}")


if __name__ == "__main__":
    main()
