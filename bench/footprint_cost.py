"""What complete footprints cost: CPU time per step of the fixed incident's proof and of a
stat-heavy user program (issue 8). Prints numbers; asserts nothing.

    python bench/footprint_cost.py            # this checkout
    PYTHONPATH=/path/to/other/raceproof-parent python bench/footprint_cost.py   # another build

CPU time (``time.process_time``), the best of five runs, so a loaded machine disturbs it less.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import raceproof
from raceproof import explore
from raceproof.runs import verify
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[1]


async def stat_reader(fs):  # type: ignore[no-untyped-def]
    for name in ("a", "b", "c"):
        await fs.stat(f"/d/{name}")


async def rewriter(fs):  # type: ignore[no-untyped-def]
    await fs.write_file("/d/b", b"rewritten")


def best(fn, runs: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    out = None
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out


def main() -> None:
    print(f"raceproof from {Path(raceproof.__file__).parent}")
    sc = load(str(ROOT / "scenarios" / "guest-download-fixed.toml"))
    t, vr = best(lambda: verify(sc, symmetry=False).result)
    print(f"fixed incident, dpor: {vr.executions} executions, {vr.steps} steps, {t:.3f} s CPU, "
          f"{1e6 * t / vr.steps:.1f} us/step")
    setup = {"/d/a": b"1", "/d/b": b"22", "/d/c": b"333"}
    t, r = best(lambda: explore([stat_reader, rewriter, stat_reader], setup=setup, strategy="dpor"))
    print(f"2 stat readers + 1 rewriter, dpor: {r.executions} executions, {r.steps} steps, {t:.3f} s CPU, "
          f"{1e6 * t / r.steps:.1f} us/step")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
