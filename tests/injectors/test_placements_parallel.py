"""Fault placements searched in worker processes (``explore_placements(jobs=...)``, ``verify
--jobs``) give the serial result: the same counts per placement, the same verdict, the same first
counterexample (placement, token), the same replay command. The warm-up is 0 here, so even small
enumerations go to the workers."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import astuple
from typing import Any

import pytest
from conftest import scenario

from raceproof import placements
from raceproof.errors import InternalError
from raceproof.runs import verify
from raceproof.scenario import load

EIO_ANYWHERE = [{"name": "errno", "errno": "EIO", "at_most": 1}]


def _counts(vr: Any) -> tuple[Any, ...]:
    r, p = vr.result, vr.placements
    return (r.verdict, r.executions, r.blocked, r.classes, r.steps, r.naive_interleavings, r.stop_reason,
            p.placements, p.failing_placements, p.clean_failure_executions, p.per_placement, p.first_pins,
            vr.token, vr.command)


@pytest.fixture
def no_warmup(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """No warm-up; the number of placements each ``parallel_map`` call was given."""
    from raceproof import mountsets

    monkeypatch.setattr(placements, "WARMUP", 0)
    calls: list[int] = []
    real = mountsets.parallel_map

    def spy(fn: Any, items: list[Any], jobs: int, **kw: Any) -> Any:
        calls.append(len(items))
        return real(fn, items, jobs, **kw)

    monkeypatch.setattr(mountsets, "parallel_map", spy)
    return calls


@pytest.mark.parametrize("name", ["chaos-crash", "chaos-eio"])
def test_a_safe_enumeration_in_processes_is_the_serial_one(name: str, no_warmup: list[int]) -> None:
    sc = load(f"scenarios/{name}.toml")
    calls = no_warmup
    serial = verify(sc, "dpor", jobs=1)
    assert not calls
    split = verify(sc, "dpor", jobs=2)
    assert calls and sum(calls) == serial.placements.placements - 1  # every placement but the fault-free one
    assert _counts(split) == _counts(serial)
    assert serial.result.verdict == "safe"


def test_second_faults_are_placed_from_the_points_the_workers_reached(no_warmup: list[int]) -> None:
    """With two faults, level 2 is built from the decision points each level-1 placement reached,
    which the workers send back: the same placements as the serial enumeration."""
    sc = scenario(inject=[{"name": "errno", "errno": "EIO", "at_most": 2, "op": "mkdir,write"}], workers=2,
                  mounts=[{"path": "/home/user/.claude", "files": 1},
                          {"path": "/home/user/.claude/skills/pdf", "files": 1}])
    serial = verify(sc, "dpor", jobs=1)
    split = verify(sc, "dpor", jobs=2)
    assert len(no_warmup) == 2  # level 1 and level 2
    assert any(len(pins) == 2 for pins, _, _ in serial.placements.per_placement)
    assert _counts(split) == _counts(serial)


def test_the_first_failing_placement_is_the_serial_one(no_warmup: list[int]) -> None:
    """A user algorithm (imported in the parent, inherited by the workers) that swallows an
    injected EIO loses files silently at some placement: the processes find the placement the
    serial enumeration stops at, and its token replays."""
    sc = scenario(inject=EIO_ANYWHERE, algorithm="chaos_algos:swallow_errors")
    serial = verify(sc, "dpor", jobs=1)
    split = verify(sc, "dpor", jobs=2)
    assert no_warmup  # level 1 went to the workers
    assert serial.result.verdict == "unsafe" and serial.placements.first_pins
    assert _counts(split) == _counts(serial)
    cex_a, cex_b = serial.result.counterexample, split.result.counterexample
    assert cex_a is not None and cex_b is not None
    assert [astuple(v) for v in cex_b.violations] == [astuple(v) for v in cex_a.violations]


def test_p5_in_the_workers_judges_against_the_crash_free_breaks(no_warmup: list[int]) -> None:
    """P5 is judged against what crash-free executions broke, which the parent's program learns at
    level 0: `fixed` with a stale file breaks P2 with or without a crash, so with P5 selected alone
    it is safe. A worker that did not get that memory would call each crashed P2 a P5."""
    from raceproof.keepalive import stale
    from raceproof.mountsets import scenario_for_name

    base = load("scenarios/keepalive.toml").with_changes(algorithm="fixed", properties=("P5",))
    sc = stale.apply(scenario_for_name(base, "1:single:r/spine:w1"), "file")
    serial = verify(sc, "dpor", inject=["crash"], shrink=False, jobs=1)
    split = verify(sc, "dpor", inject=["crash"], shrink=False, jobs=2)
    assert no_warmup
    assert serial.result.verdict == "safe" and serial.placements.placements > 2
    assert _counts(split) == _counts(serial)


def test_a_budget_keeps_the_enumeration_in_this_process(no_warmup: list[int],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget splits between placements by what ran before: no processes, the serial result."""
    from raceproof import mountsets

    monkeypatch.setattr(mountsets, "parallel_map", lambda *a, **k: pytest.fail("no processes with a budget"))
    sc = load("scenarios/chaos-eio.toml")
    vr = verify(sc, "dpor", 40, jobs=2)
    assert vr.result.stop_reason == "budget" and vr.result.executions == 40


def test_a_worker_that_builds_another_program_is_a_machinery_error() -> None:
    sc = load("scenarios/chaos-eio.toml")
    with pytest.raises(InternalError, match="a placement worker built another program"):
        placements._placement_unit(((sc, ()), "memory", "direct", "0" * 64, [], True, []))


def test_the_command_with_jobs_prints_the_serial_document() -> None:
    """``verify --jobs 2`` past the warm-up (chaos-crash: 892 executions over 23 placements)."""
    def run(jobs: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-m", "raceproof", "verify", "scenarios/chaos-crash.toml", "--json",
                              "--jobs", jobs], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        doc: dict[str, Any] = json.loads(out.stdout)
        doc.pop("wall_time_s", None)
        return doc

    assert run("2") == run("1")
