"""Crash at any step, then rerun on the same filesystem (keep-alive reuse)."""

from __future__ import annotations

import pytest
from conftest import scenario

from raceproof.execution import Runner
from raceproof.inject import PinnedStrategy
from raceproof.runs import program_for, replay, verify
from raceproof.scenario import load

NESTED = [{"path": "/home/user/.claude", "files": 2}, {"path": "/home/user/.claude/skills/pdf", "files": 1}]
CRASH = [{"name": "crash"}]


@pytest.mark.parametrize("backend", ["memory", pytest.param("fake", marks=pytest.mark.slow)])
def test_every_crash_point_of_the_fixed_algorithm_converges(backend: str) -> None:
    """Must show: for every crash point (every phase-1 step of every thread, every crash state),
    the rerun converges to the archives' tree."""
    mounts = NESTED if backend == "memory" else [{"path": "/home/user/.claude", "files": 1},
                                                 {"path": "/home/user/.claude/skills/pdf", "files": 1}]
    vr = verify(scenario(inject=CRASH, mounts=mounts), backend=backend)
    assert vr.result.verdict == "safe" and vr.result.complete
    steps = verify(scenario(mounts=mounts), backend=backend)
    assert vr.placements.placements > 20  # one per reachable (thread, n-th step) + the crash-free run
    assert steps.result.verdict == "safe"


def test_the_scenario_reports_its_placements() -> None:
    vr = verify(load("scenarios/chaos-crash.toml"))
    assert vr.result.verdict == "safe" and vr.placements.placements == 23


def test_a_crash_really_stops_the_machine_and_the_rerun_repairs(backend: str) -> None:
    program = program_for(scenario(inject=CRASH, mounts=NESTED))
    with Runner(program, backend) as runner:
        strat = PinnedStrategy({("crash#0", 0, 4): 1})

        async def one(r):
            return await r.run_one(strat.next_execution())

        ex = runner.run(one)
    crash = ex.extra["crash_step"]
    assert crash is not None and ex.trace[crash].result == "-1 ECANCELED"
    restarts = [e.index for e in ex.trace if e.op == "restart"]
    assert len(restarts) == 2 and min(restarts) > crash
    # after the crash and before the barrier, no step of any thread succeeds (the machine is down)
    dead = [e for e in ex.trace[crash + 1:min(restarts)] if e.op not in ("barrier_arrive", "barrier_wait")]
    assert all(e.result == "-1 ECANCELED" for e in dead)
    assert ex.violations == []
    assert all(ex.tree.get(p) == d for p, d in program.expected.items())


def test_marker_before_extraction_does_not_converge_and_the_token_replays() -> None:
    sc = scenario(inject=CRASH, mounts=NESTED, algorithm="chaos_algos:marker_first")
    vr = verify(sc)
    assert vr.result.verdict == "unsafe"
    cex = vr.result.counterexample
    assert cex is not None and cex.violations[0].check == "final-tree"
    assert cex.execution.extra["crash_step"] is not None
    rr = replay(sc, vr.token)
    assert rr.verdict == "fail"
    assert [(e.thread, e.op, e.result) for e in rr.execution.trace] == \
        [(e.thread, e.op, e.result) for e in cex.execution.trace]


def test_marker_after_extraction_converges() -> None:
    sc = scenario(inject=CRASH, mounts=[{"path": "/home/user/a", "files": 1}, {"path": "/home/user/a/b", "files": 1}],
                  algorithm="chaos_algos:marker_last")
    assert verify(sc).result.verdict == "safe"
