"""What a single search's checkpoint costs, and what a resume costs.

    python bench/checkpoint.py [RUNS]

The fixed incident's plain DPOR proof (264 executions; no reductions, direct driver), best of
RUNS (default 3) ``time.process_time``:

- without a checkpoint;
- with ``--checkpoint`` at the default period (one write at the end: the interleaved bookkeeping
  with interrupts held back, and trace classes with the process-independent hash);
- writing after every execution (``checkpoint_every=0``: the most a checkpoint can cost);
- resuming a run interrupted half-way (the second half plus reading the file).

Also the size of the checkpoint file. Not a test: nothing here asserts.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from raceproof import scenario
from raceproof.runs import verify

FIXED = Path(__file__).resolve().parents[1] / "scenarios" / "guest-download-fixed.toml"
OPTIONS: dict[str, Any] = {"strategy": "dpor", "symmetry": False, "confluence": False, "shrink": False,
                           "driver": "direct"}


def timed(**more: Any) -> tuple[float, Any]:
    t0 = time.process_time()
    r = verify(scenario.load(str(FIXED)), **OPTIONS, **more).result
    return time.process_time() - t0, r


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    best: dict[str, float] = {}
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ck.json")
        for _ in range(runs):
            for name, more in [("none", {}), ("default period", {"checkpoint": ck}),
                               ("every execution", {"checkpoint": ck, "checkpoint_every": 0})]:
                if os.path.exists(ck):
                    os.unlink(ck)
                dt, r = timed(**more)
                assert r.executions == 264
                best[name] = min(best.get(name, float("inf")), dt)
                if name == "default period":
                    size = os.path.getsize(ck)
            os.unlink(ck)

            def half(done: int, failing: int, pending: int) -> None:
                if done == 132:
                    os.kill(os.getpid(), signal.SIGINT)

            try:
                timed(checkpoint=ck, progress=half)
            except* KeyboardInterrupt:
                pass
            dt, r = timed(checkpoint=ck, resume=ck)
            assert r.executions == 264
            best["resume at 132"] = min(best.get("resume at 132", float("inf")), dt)
    base = best["none"]
    for name, dt in best.items():
        print(f"{name:16s} {dt:.3f} s CPU ({dt / base:.2f}x)")
    print(f"checkpoint file at the end: {size:,} bytes")


if __name__ == "__main__":
    main()
