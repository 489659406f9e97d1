"""The Python API: injectors by name, on a scenario's program, with the runner and the explorer."""

from __future__ import annotations

import pytest
from conftest import scenario

from raceproof.execution import Runner
from raceproof.inject import explore_placements, make
from raceproof.runs import verify
from raceproof.scenario import load
from raceproof.strategies.random import RandomWalk


def test_python_api_same_faults_as_the_cli() -> None:
    sc = scenario()
    inj = make("errno", {"errno": "EACCES", "thread": "1", "nth": 0})
    program = sc.program([inj])
    with Runner(program) as runner:
        ex = runner.run_single(RandomWalk(seed=0).next_execution())
    assert sum(1 for e in ex.trace if e.result == "-1 EACCES") == 1
    assert ex.violations == []  # a reported failure under an injected fault


def test_python_api_placements() -> None:
    sc = scenario(mounts=[{"path": "/home/user/a", "files": 1}])
    program = sc.program([make("errno", {"op": "open,write"})])
    with Runner(program) as runner:
        res = explore_placements(runner, program.injectors)
    # the fault-free run, then one placement per open/write of the single job
    assert res.placements == 1 + 2 and res.complete and res.first is None


@pytest.mark.slow
def test_fixed_incident_with_one_eio_anywhere() -> None:
    """The figure for the report: the four-mount fixed incident, at most one EIO anywhere."""
    vr = verify(load("scenarios/guest-download-fixed.toml"), inject=["errno:errno=EIO,at_most=1"])
    assert vr.result.verdict == "safe"
    assert vr.placements.placements > 40
    assert vr.placements.clean_failure_executions > 0


@pytest.mark.parametrize("spec", ["errno:errno=EIO,thread=0,nth=3", "disk-full:bytes=10", "truncate:at=data,keep=0",
                                  "slow-download:mount=1", "stale:kind=file-for-dir"])
def test_injectors_on_the_real_backend_match_memory(spec: str) -> None:
    from raceproof.runs import replay

    sc = scenario(verify_digest=False)
    runs = {b: replay(sc, None, b, [spec]).execution for b in ("memory", "real")}
    assert [(e.thread, e.op, e.path, e.result) for e in runs["real"].trace] == \
        [(e.thread, e.op, e.path, e.result) for e in runs["memory"].trace]
    assert runs["real"].tree == runs["memory"].tree
    assert any(e.errno is not None for e in runs["real"].trace)
