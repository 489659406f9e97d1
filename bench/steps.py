"""Per-step cost of the fixed incident's proof (issue 13 item 5): executions/s and µs per step.

    python bench/steps.py [REPEATS]     # memory backend, both drivers, dpor, CPU time
    python bench/steps.py --profile     # cProfile of one direct-driver proof, by own time

CPU time (time.process_time), best of REPEATS, since the machine is shared. Not a test.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raceproof.runs import verify  # noqa: E402
from raceproof.scenario import load  # noqa: E402

FIXED = ROOT / "scenarios" / "guest-download-fixed.toml"


def once(driver: str) -> tuple[float, int, int]:
    sc = load(str(FIXED))
    t0 = time.process_time()
    r = verify(sc, "dpor", driver=driver, symmetry=False)  # the engine on the 264 traces, not the reduction
    return time.process_time() - t0, r.executions, r.steps


def main() -> None:
    if "--profile" in sys.argv:
        sc = load(str(FIXED))
        verify(sc, "dpor", driver="direct", symmetry=False)  # warm
        prof = cProfile.Profile()
        prof.enable()
        verify(sc, "dpor", driver="direct", symmetry=False)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    once("direct")  # warm imports
    print(f"| driver | executions | steps | CPU s (best of {repeats}) | executions/s | µs/step |")
    print("|---|---|---|---|---|---|")
    for driver in ("direct", "trio"):
        runs = [once(driver) for _ in range(repeats)]
        cpu, ex, steps = min(runs)
        print(f"| {driver} | {ex} | {steps} | {cpu:.3f} | {ex / cpu:,.0f} | {cpu / steps * 1e6:.1f} |")


if __name__ == "__main__":
    main()
