"""Shared helpers for the engine tests (imported by path: tests/engine has no __init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from raceproof.execution import Execution, Runner
from raceproof.strategies import make_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCIDENT = os.path.join(ROOT, "scenarios", "guest-download-2026-04-10.toml")
FIXED = os.path.join(ROOT, "scenarios", "guest-download-fixed.toml")
BACKENDS = ("memory", "fake", "real")


def trace_rows(ex: Execution) -> list[tuple[int, str, str, str]]:
    return [(e.thread, e.op, e.path, e.result) for e in ex.trace]


def observation(ex: Execution, *, footprints: bool = True) -> dict[str, Any]:
    """Everything an execution shows that must not depend on the backend."""
    return {
        "trace": trace_rows(ex),
        "footprints": [e.footprint for e in ex.trace] if footprints else None,
        "choices": list(ex.choices),
        "violations": [v.to_json() for v in ex.violations],
        "tree": dict(ex.tree),
    }


def run_choosers(program: Any, backend: str, choosers: Sequence[Callable[[], Any]]) -> list[Execution]:
    """One execution per chooser factory, all inside one trio.run on one backend."""
    with Runner(program, backend) as runner:
        async def driver(r: Runner) -> list[Execution]:
            return [await r.run_one(make()) for make in choosers]

        return runner.run(driver)  # type: ignore[no-any-return]


def run_strategy(program: Any, backend: str, strategy: str, limit: int, **options: Any) -> list[Execution]:
    """Every execution a strategy asks for (up to `limit`), aborted ones included."""
    strat = make_strategy(strategy, **options)
    with Runner(program, backend) as runner:
        async def driver(r: Runner) -> list[Execution]:
            out = []
            for _ in range(limit):
                chooser = strat.next_execution()
                if chooser is None:
                    break
                ex = await r.run_one(chooser)
                strat.observe(ex)
                out.append(ex)
            return out

        return runner.run(driver)  # type: ignore[no-any-return]


def cli(*args: str, pre: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``raceproof ARGS`` in a fresh interpreter (optionally running `pre` first)."""
    code = f"{pre}\nimport sys\nfrom raceproof.cli import main\nsys.argv = ['raceproof', *sys.argv[1:]]\nmain()"
    full_env = dict(os.environ)
    full_env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=120, check=False)
