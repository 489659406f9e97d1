"""Mount-set rows: one process, N processes (--jobs) and a Dask LocalCluster, side by side.

    python bench/scale.py [K] [WORKERS]    # mount sets up to K (default 3), worker counts 1..WORKERS (default 4)

Prints wall seconds, CPU seconds (this process and its reaped children: the row processes; for
Dask, the cluster's processes, start-up included), the 1-minute load average before each run (the
machine may be shared), executions and the wall speed-up over one process, plus the largest single
row (a row is never split, so it bounds the speed-up from below).
"""

from __future__ import annotations

import os
import resource
import sys
import time

from raceproof import scenario
from raceproof.mountsets import mount_set_rows


def cpu() -> float:
    """CPU seconds of this process and of its reaped children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    workers = tuple(range(1, top + 1))
    base = scenario.load("scenarios/guest-download-fixed.toml")
    timings: dict[str, float] = {}
    cpus: dict[str, float] = {}
    loads: dict[str, float] = {}
    rows = None
    for label, kwargs in (("1 process", {"jobs": 1}), ("--jobs 2", {"jobs": 2})):
        loads[label] = os.getloadavg()[0]
        c0, t0 = cpu(), time.perf_counter()
        found = mount_set_rows(base, k, workers=workers, driver="direct", **kwargs)
        timings[label] = time.perf_counter() - t0
        cpus[label] = cpu() - c0
        assert rows is None or found.rows == rows, "parallel rows differ from serial ones"
        rows = found.rows
    try:
        from distributed import LocalCluster
    except ImportError:
        print("distributed not installed: no Dask figure")
    else:
        label = "dask LocalCluster(2)"
        loads[label] = os.getloadavg()[0]
        c0 = cpu()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=50) as cluster:
            t0 = time.perf_counter()
            found = mount_set_rows(base, k, workers=workers, driver="direct", dask=cluster.scheduler_address)
            timings[label] = time.perf_counter() - t0
            assert found.rows == rows, "Dask rows differ from serial ones"
        cpus[label] = cpu() - c0
    assert rows is not None
    execs = sum(int(r["executions"]) for r in rows)
    biggest = max(rows, key=lambda r: int(r["executions"]))
    print(f"--mount-sets {k}, workers 1..{top}: {len(rows)} rows, {execs} executions; largest row "
          f"{biggest['set']} w{biggest['workers']} ({biggest['executions']} executions)")
    for label, secs in timings.items():
        print(f"  {label:22} wall {secs:8.2f} s   CPU {cpus[label]:8.2f} s   load before {loads[label]:.2f}   "
              f"wall speed-up x{timings['1 process'] / secs:.2f}")


if __name__ == "__main__":
    main()
