"""Executions per second of the fixed incident's proof, with and without deferred tails.

    python bench/tails.py [RUNS]

The same 264 Mazurkiewicz traces (dpor, memory backend, direct driver, no symmetry), explored
plainly and with every job's tail deferred (``raceproof.tails``: the download and ``unpack`` run
once after the interleaved part, their effect replayed per claimed state). Best of RUNS (default
5) ``time.process_time``, the two alternating. Not a test: nothing here asserts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from raceproof import scenario
from raceproof.execution import Runner
from raceproof.exploration import run_exploration
from raceproof.runs import program_for
from raceproof.strategies import make_strategy

FIXED = Path(__file__).resolve().parents[1] / "scenarios" / "guest-download-fixed.toml"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sc = scenario.load(str(FIXED))
    best: dict[bool, tuple[float, int, int]] = {}
    for _ in range(runs):
        for tails in (False, True):
            program = program_for(sc)
            program.deferred_tails = tails
            program.tail_memo = {}
            t0 = time.process_time()
            with Runner(program, "memory", "direct") as runner:
                r = run_exploration(runner, make_strategy("dpor"))
            dt = time.process_time() - t0
            assert r.verdict == "safe"
            if dt < best.get(tails, (float("inf"), 0, 0))[0]:
                best[tails] = (dt, r.executions, r.steps)
    for tails, (dt, executions, steps) in sorted(best.items()):
        print(f"{'deferred tails' if tails else 'plain':15s} {executions} executions, {steps} scheduled steps, "
              f"{dt:.3f} s CPU: {executions / dt:,.0f} executions/s, {dt / steps * 1e6:.1f} us per scheduled step")


if __name__ == "__main__":
    main()
