"""The keep-alive candidates and properties on small, hand-picked cells (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof.keepalive import stale
from raceproof.keepalive.compare import explore_run
from raceproof.mountsets import all_mount_sets, scenario_for
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[2]
BASE = load(ROOT / "scenarios" / "keepalive.toml")
CHAIN = next(ms for ms in all_mount_sets(2) if ms.name == "2:chain:r0/spine")
ALL = {"P1", "P2", "P3", "P4"}


def cell(algorithm: str, state: str, workers: int = 2, crash: bool = False) -> dict[str, object]:
    sc = stale.apply(scenario_for(BASE, CHAIN, workers).with_changes(algorithm=algorithm), state)
    first, n, complete, _r, _p = explore_run(sc, crash, ALL | ({"P5"} if crash else set()))
    assert complete and n >= 1
    return {p: ex.violations for p, ex in first.items()}


@pytest.mark.parametrize("algorithm", ["A", "B"])
@pytest.mark.parametrize("state", ["none", "file+link-out", "file-spine", "dir+file-root", "previous"])
def test_a_and_b_hold_every_property(algorithm: str, state: str) -> None:
    assert cell(algorithm, state) == {}


def test_the_fix_without_cleanup_keeps_stale_files_p2() -> None:
    found = cell("fixed", "file")
    assert set(found) == {"P2"}
    (v,) = [v for v in found["P2"] if v.check == "P2"]
    assert v.path == "/home/user/.claude/stale.txt"


def test_a_stale_spine_symlink_sends_the_fix_outside_p3_and_loses_the_skill_p1() -> None:
    found = cell("fixed", "link-out")
    p3 = next(v for v in found["P3"] if v.check == "P3")
    assert p3.path.startswith("/var/outside/a/")
    assert "P1" in found  # the skill's files are not where its mount is


def test_the_incident_algorithm_breaks_p4_on_a_clean_tree() -> None:
    assert "P4" in cell("pre-cleanup", "none")


def test_c_stages_outside_the_mount_p3() -> None:
    found = cell("C", "none")
    assert set(found) == {"P3"}
    assert found["P3"][0].path.endswith(".claude.stage")


def test_d_only_removes_what_its_manifest_lists() -> None:
    assert cell("D", "previous") == {}  # the upstream-removed file is in the manifest: removed
    assert "P2" in cell("D", "dir")  # a stale directory it never wrote survives


@pytest.mark.parametrize("algorithm", ["A", "B"])
def test_crash_and_rerun_converges_p5(algorithm: str) -> None:
    """Blocking steps (a barrier, a wait for the parent) under the crash injector: no deadlock, and
    the rerun converges from every crash point."""
    assert cell(algorithm, "file", crash=True) == {}


def test_p5_is_not_a_property_the_crash_free_run_already_broke() -> None:
    """`fixed` keeps the stale file with or without a crash: P2 (not P5), as ``compare`` judges it
    (``properties.p5_violations``; a crash-introduced break is P5: test_compare.py)."""
    found = cell("fixed", "file", workers=1, crash=True)
    assert set(found) == {"P2"}
    assert all(v.check != "P5" for vs in found.values() for v in vs)  # type: ignore[attr-defined]
