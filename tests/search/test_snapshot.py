"""A strategy's checkpoint (``snapshot``/``restore``): a search resumed from any point runs the
executions the uninterrupted search would have run, in the same order.

The cut is taken at every point of every search here: between two executions, and while one
runs (after the whole execution has mutated the strategy's state, the most it can before it is
observed: ``snapshot`` must give the state from before it). The snapshot goes through JSON and
into a fresh strategy object, as it does through a checkpoint file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from raceproof.execution import Runner
from raceproof.exploration import FunctionProgram
from raceproof.observe import stable_trace_class, trace_class
from raceproof.strategies.dpor import Dpor
from raceproof.strategies.pct import Pct
from raceproof.strategies.portfolio import Portfolio
from raceproof.testing import ALL_OPS, GeneratedProgram, KnownProgram, lastzero, programs, readers

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
BUDGET = 2000  # executions of one search here (a sampling strategy never ends on its own)

Run = tuple[tuple[int, ...], bool]  # an execution's choices, and whether it was aborted


def search(runner: Runner, make: Callable[[], Any], cut: int | None = None, in_flight: bool = False,
           budget: int = BUDGET) -> list[Run]:
    """The executions of the strategy `make()` gives; with `cut`, the strategy is replaced by a
    fresh one restored from its snapshot before the cut-th execution is observed (`in_flight`)
    or after."""
    strat = make()
    runs: list[Run] = []
    while len(runs) < budget:
        chooser = strat.next_execution()
        if chooser is None:
            break
        ex = runner.run_single(chooser)
        if len(runs) == cut and in_flight:  # the snapshot of a running execution: from before it
            strat, cut = restored(make, strat), None
            continue
        strat.observe(ex)
        runs.append((tuple(ex.choices), ex.aborted))
        if len(runs) - 1 == cut and not in_flight:
            strat = restored(make, strat)
    return runs


def restored(make: Callable[[], Any], strat: Any) -> Any:
    fresh = make()
    fresh.restore(json.loads(json.dumps(strat.snapshot())))
    return fresh


def every_cut_resumes(program: GeneratedProgram | KnownProgram, make: Callable[[], Any], cuts: int = 1000,
                      budget: int = BUDGET) -> int:
    """Cut at every execution (at most `cuts` of them, spread over the search)."""
    setup = program.setup
    functions = program.functions() if isinstance(program, GeneratedProgram) else program.programs
    with Runner(FunctionProgram(functions, setup), driver="direct") as runner:
        whole = search(runner, make, budget=budget)
        n = len(whole)
        for cut in sorted({k * n // min(n, cuts) for k in range(min(n, cuts))} | {n - 1}):
            for in_flight in (False, True):
                assert search(runner, make, cut, in_flight, budget) == whole, (cut, in_flight)
    return n


@SETTINGS
@given(programs(ops=ALL_OPS, max_total_ops=5))
def test_dpor_resumes_from_every_point_of_generated_programs(program: GeneratedProgram) -> None:
    """Every operation (structural races, handles, links, composites), every cut: the resumed
    search runs exactly the uninterrupted one's executions (sleep-blocked ones included)."""
    every_cut_resumes(program, Dpor, cuts=30)


@pytest.mark.parametrize("known", [readers(3), lastzero(3)], ids=lambda k: k.name)
def test_dpor_resumes_from_every_point_of_known_programs(known: KnownProgram) -> None:
    assert every_cut_resumes(known, Dpor) >= known.traces


@pytest.mark.parametrize("make", [lambda: Portfolio(seed=3, probes=6, upfront=2), lambda: Pct(seed=5)],
                         ids=["portfolio", "pct"])
def test_probing_strategies_resume_from_every_point(make: Callable[[], Any]) -> None:
    """The portfolio's turn-taking (probe, DPOR, probe...) and PCT's seeded draws resume too."""
    every_cut_resumes(lastzero(3), make, cuts=40, budget=80)


def test_a_snapshot_is_json_and_the_first_execution_restarts() -> None:
    with Runner(FunctionProgram(lastzero(2).programs)) as runner:
        strat = Dpor()
        chooser = strat.next_execution()
        assert chooser is not None
        runner.run_single(chooser)
        state = strat.snapshot()  # the first execution, still running: nothing to keep
        assert state["started"] is False and state["stack"] == []
        assert json.loads(json.dumps(state)) == state


@settings(SETTINGS, max_examples=25)
@given(programs(max_total_ops=5))
def test_stable_trace_class_groups_like_trace_class(program: GeneratedProgram) -> None:
    """The process-independent class hash (kept in checkpoints) partitions executions exactly as
    the fast one does, on every execution of a plain enumeration."""
    from raceproof.strategies.dfs import Dfs

    names: dict[object, int] = {}
    fast: dict[int, int] = {}
    stable: dict[int, int] = {}
    with Runner(FunctionProgram(program.functions(), program.setup)) as runner:
        for choices, _ in search(runner, Dfs, budget=200):
            from raceproof.strategies.replay import ReplayChooser

            ex = runner.run_single(ReplayChooser(choices))
            a, b = trace_class(ex), stable_trace_class(ex, names)
            assert fast.setdefault(a, b) == b and stable.setdefault(b, a) == a


def test_stable_trace_class_is_the_same_in_every_process() -> None:
    """Unlike ``hash`` of a string, the value does not depend on the process's hash salt."""
    import subprocess
    import sys

    code = ("from raceproof.execution import Runner\n"
            "from raceproof.exploration import FunctionProgram\n"
            "from raceproof.observe import stable_trace_class\n"
            "from raceproof.strategies.random import RandomWalk\n"
            "from raceproof.testing import lastzero\n"
            "with Runner(FunctionProgram(lastzero(3).programs)) as r:\n"
            "    print([stable_trace_class(r.run_single(RandomWalk(seed=s).next_execution()), {}) "
            "for s in range(5)])\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
            for seed in ("1", "2", "random")}
    assert len(outs) == 1 and len(json.loads(outs.pop())) == 5
