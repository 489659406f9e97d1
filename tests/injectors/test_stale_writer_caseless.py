"""Stale files from a previous run, a still-running previous writer, case-insensitive filesystems."""

from __future__ import annotations

import pytest
from conftest import scenario

from raceproof.errors import InputError
from raceproof.runs import program_for, replay, verify


def test_stale_files_survive_the_fixed_algorithm(backend: str) -> None:
    allow = replay(scenario(inject=[{"name": "stale", "kind": "files"}]), None, backend)
    assert allow.verdict == "pass" and "/home/user/.claude/removed-skill/OLD.md" in allow.execution.tree
    forbid = replay(scenario(inject=[{"name": "stale", "kind": "files"}], stale="forbid"), None, backend)
    [v] = forbid.execution.violations
    assert v.check == "final-tree" and "stale entries survived: 4" in v.message


def test_stale_file_where_a_directory_belongs(backend: str) -> None:
    ex = replay(scenario(inject=[{"name": "stale", "kind": "file-for-dir"}]), None, backend).execution
    v = ex.violations[0]
    assert v.check == "no-worker-error" and v.thread.endswith("skills/pdf") and v.errno in ("ENOTDIR", "EEXIST")
    assert [w.check for w in ex.violations[1:]] == ["final-tree"]
    assert ex.tree["/home/user/.claude/skills"].startswith("file:")


def test_stale_symlink_where_a_directory_belongs_escapes_the_mounts(backend: str) -> None:
    ex = replay(scenario(inject=[{"name": "stale", "kind": "symlink-for-dir"}]), None, backend).execution
    checks = {v.check for v in ex.violations}
    assert "confinement" in checks  # the skill was extracted under /var/outside/pdf
    assert "/var/outside/pdf/SKILL.md" in ex.tree
    assert all(r.error is None for r in ex.results), "and every worker reported success"


def test_previous_writer_breaks_pre_cleanup(backend: str) -> None:
    mounts = [{"path": "/home/user/.claude", "files": 1}]
    plain = verify(scenario(mounts=mounts, algorithm="pre-cleanup", initial={"dirs": ["/home/user/.claude"]}),
                   backend=backend)
    assert plain.result.verdict == "safe"  # one mount alone: the cleanup is harmless
    sc = scenario(mounts=mounts, algorithm="pre-cleanup", initial={"dirs": ["/home/user/.claude"]},
                  inject=[{"name": "writer", "writes": 1}])
    assert program_for(sc).names == [".claude", "prev-writer"]
    vr = verify(sc, backend=backend, shrink=False)
    assert vr.result.verdict == "unsafe"
    assert vr.result.counterexample is not None
    assert vr.result.counterexample.violations[0].thread == ".claude"  # the job, not the writer


def test_previous_writer_with_the_fixed_algorithm(backend: str) -> None:
    sc = scenario(inject=[{"name": "writer", "writes": 2}])
    vr = verify(sc, backend=backend)
    assert vr.result.verdict == "safe"  # the fixed algorithm never deletes: the files coexist
    ex = replay(sc, None, backend).execution
    assert ex.results[-1].value == 2 and "/home/user/.claude/.session/history-1.jsonl" in ex.tree
    forbid = replay(scenario(inject=[{"name": "writer"}], stale="forbid"), None, backend).execution
    assert [v.check for v in forbid.violations] == ["final-tree"]


def test_case_insensitive_collision_on_fake() -> None:
    mounts = [{"path": "/home/user/skills/PDF", "files": 1}, {"path": "/home/user/skills/pdf", "files": 1}]
    ex = replay(scenario(mounts=mounts, inject=[{"name": "case-insensitive"}]), None, "fake").execution
    checks = [v.check for v in ex.violations]
    assert "case-collision" in checks
    names = [p for p in ex.tree if p.lower() == "/home/user/skills/pdf"]
    assert len(names) == 1  # one directory for both spellings
    # without the injector the same mounts are two directories and nothing collides
    ok = replay(scenario(mounts=mounts), None, "fake").execution
    assert ok.violations == [] and {"/home/user/skills/PDF", "/home/user/skills/pdf"} <= set(ok.tree)


def test_case_insensitive_refuses_case_sensitive_backends() -> None:
    with pytest.raises(InputError, match="needs backend 'fake'"):
        replay(scenario(inject=[{"name": "case-insensitive"}]), None, "memory")


def test_case_insensitive_member_collision_on_fake() -> None:
    mounts = [{"path": "/home/user/a", "members": [{"name": "Readme.md", "data": "A"},
                                                  {"name": "README.md", "data": "B"}]}]
    ex = replay(scenario(mounts=mounts, inject=[{"name": "case-insensitive"}]), None, "fake").execution
    assert "case-collision" in [v.check for v in ex.violations]


def test_dpor_explores_the_failing_writer_past_its_first_counterexample() -> None:
    """Every trace event is a scheduling point: a writer that stops on an error adds none of its own
    (an extra event used to derail DPOR's replay with a NondeterminismError)."""
    from raceproof.execution import Runner
    from raceproof.exploration import run_exploration
    from raceproof.scenario import load
    from raceproof.strategies import make_strategy

    sc = load("scenarios/chaos-writer.toml")
    with Runner(program_for(sc), "memory") as runner:
        res = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False)
    assert res.stop_reason == "exhausted" and res.executions > 1 and res.failing > 0
