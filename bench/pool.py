"""Executions and wall time of verify on mount sets where workers < mounts (the pool model).

    python bench/pool.py [K]    # every mount set up to K mounts (default 3), workers 1..4

Prints one line per worker count: rows, executions, verdict mismatches, seconds.
"""

from __future__ import annotations

import sys
import time

from raceproof import scenario
from raceproof.mountsets import mount_set_rows


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for name in ("guest-download-fixed", "guest-download-2026-04-10"):
        base = scenario.load(f"scenarios/{name}.toml")
        for w in (1, 2, 3, 4):
            t0 = time.perf_counter()
            rows = mount_set_rows(base, k, workers=(w,), driver="direct")
            dt = time.perf_counter() - t0
            execs = sum(r["executions"] for r in rows.rows if "executions" in r)
            bad = sum(1 for r in rows.rows if r.get("ok") == "MISMATCH")
            print(f"{name:28} K={k} w{w}: {len(rows.rows):3} rows {execs:8} executions "
                  f"{bad} mismatches {dt:7.2f} s", flush=True)


if __name__ == "__main__":
    main()
