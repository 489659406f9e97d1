"""One keep-alive run (a matrix cell's unit): executions and CPU time (see BENCHMARKS.md).

    python bench/keepalive_cell.py A 3:siblings:rrr/spine 2 none --crash [--budget N] [--old-pool FILE]

``--old-pool FILE`` swaps in the pool of an older ``toolkit/keepalive/pipeline.py`` (worker
threads taking jobs from a queue, ``take_job`` steps): ``git show e0228db:toolkit/keepalive/pipeline.py
> /tmp/old_pipeline.py`` gives the before of BENCHMARKS.md. Not a test: nothing here asserts.
CPU time (``time.process_time``) of this process only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

from raceproof.keepalive import stale
from raceproof.keepalive.compare import explore_run
from raceproof.mountsets import scenario_for_name
from raceproof.properties import PROPERTIES
from raceproof.scenario import load

HERE = os.path.dirname(os.path.abspath(__file__))


def old_pool(path: str) -> None:
    from raceproof.keepalive.pipeline import KeepalivePipeline

    spec = importlib.util.spec_from_file_location("old_keepalive_pipeline", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_keepalive_pipeline"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    KeepalivePipeline.bodies = mod.KeepalivePipeline.bodies  # type: ignore[method-assign]
    KeepalivePipeline.thread_names = mod.KeepalivePipeline.thread_names  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("algorithm")
    ap.add_argument("mount_set")
    ap.add_argument("workers", type=int)
    ap.add_argument("state")
    ap.add_argument("--crash", action="store_true")
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--old-pool", default=None)
    ap.add_argument("--split", action="store_true", help="two-stage crash run (raceproof.keepalive.crashsplit)")
    args = ap.parse_args()
    if args.old_pool:
        old_pool(args.old_pool)
    base = load(os.path.join(HERE, "..", "scenarios", "keepalive.toml")).with_changes(algorithm=args.algorithm)
    sc = stale.apply(scenario_for_name(base, f"{args.mount_set}:w{args.workers}"), args.state)
    t0 = time.process_time()
    first, n, complete, _r, _p = explore_run(sc, args.crash, set(PROPERTIES), args.budget,
                                             split=args.split)
    cpu = time.process_time() - t0
    print(f"{args.algorithm} {args.mount_set}:w{args.workers} stale={args.state} crash={args.crash}"
          f"{' (old pool)' if args.old_pool else ''}{' (split)' if args.split else ''}: {n} executions, "
          f"complete={complete}, "
          f"violated={sorted(first)}, cpu {cpu:.2f} s", flush=True)


if __name__ == "__main__":
    main()
