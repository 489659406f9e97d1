"""Symmetry over identical jobs in ``verify`` (``raceproof.symmetry``): which jobs count as
identical, the verdicts with and without it, the pool covered by a worker per job, and the ways
back to a plain search (a broken assumption, a counterexample)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof import scenario as scenarios
from raceproof.execution import Runner
from raceproof.exploration import run_exploration
from raceproof.runs import program_for, replay, verify
from raceproof.strategies import make_strategy
from raceproof.symmetry import job_groups, unpooled

PARENT = "/home/user/.claude"


def write(tmp_path: Path, name: str, mounts: list[tuple[str, int | None]], *, algorithm: str = "fixed",
          workers: int = 4, extra: str = "") -> scenarios.Scenario:
    """A scenario file: `mounts` are (path, archive seed or None for the mount's own)."""
    lines = [f'name = "{name}"', f'algorithm = "{algorithm}"', f"workers = {workers}", extra,
             "[initial]", 'dirs = ["/home/user"]']
    for path, seed in mounts:
        lines += ["[[mounts]]", f'path = "{path}"', "files = 1"] + ([f"seed = {seed}"] if seed is not None else [])
    file = tmp_path / f"{name}.toml"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return scenarios.load(str(file))


def skills(k: int, seed: int | None = 7, parent: bool = True) -> list[tuple[str, int | None]]:
    return ([(PARENT, None)] if parent else []) + [(f"{PARENT}/skills/s{i}", seed) for i in range(k)]


def test_identical_jobs_are_grouped_and_nothing_else_is(tmp_path: Path) -> None:
    same = write(tmp_path, "same", skills(3))
    assert job_groups(program_for(same)) == [(1, 2, 3)]
    assert job_groups(program_for(write(tmp_path, "own", skills(3, seed=None)))) == []  # archives differ
    nested = write(tmp_path, "nested", [*skills(2), (f"{PARENT}/skills/s1/skills/x", 7)])
    assert job_groups(program_for(nested)) == []  # s1 has a job inside it: only s0 is left
    two = write(tmp_path, "two", [*skills(2), ("/home/user/.config/a", 7), ("/home/user/.config/b", 7)], workers=5)
    assert job_groups(program_for(two)) == [(1, 2), (3, 4)]  # one group per parent directory
    pooled = write(tmp_path, "pooled", skills(3), workers=2)
    assert job_groups(program_for(pooled)) == []  # jobs wait at different latch counts
    stale = write(tmp_path, "stale", skills(2), extra="")
    stale.initial_files[f"{PARENT}/skills/s0/old"] = b"x"
    assert job_groups(program_for(stale)) == []
    checked = write(tmp_path, "checked", skills(2), extra='checks = ["no-worker-error"]')
    assert job_groups(program_for(checked)) == []
    assert job_groups(program_for(same, ["errno:errno=EIO,at_most=1"])) == []


def test_identical_jobs_give_the_same_verdict_from_fewer_executions(tmp_path: Path) -> None:
    sc = write(tmp_path, "same", skills(3))
    ruled = verify(sc, "dpor", shrink=False, driver="direct", confluence=False)
    plain = verify(sc, "dpor", shrink=False, driver="direct", symmetry=False)
    assert (ruled.verdict, plain.verdict) == ("safe", "safe")
    assert ruled.executions < plain.executions
    assert ruled.symmetry.startswith("identical jobs explored as one: .claude/skills/s0, .claude/skills/s1, "
                                     ".claude/skills/s2; tails deferred")
    assert plain.symmetry == ""


@pytest.mark.parametrize(("algorithm", "mounts", "workers"), [
    ("fixed", skills(3), 2),
    ("fixed", skills(3, parent=False), 1),
    ("pre-cleanup", skills(1), 1),
    ("pre-cleanup", skills(2, parent=False), 1),
])
def test_every_pooled_outcome_is_an_outcome_with_a_worker_per_job(
        tmp_path: Path, algorithm: str, mounts: list[tuple[str, int | None]], workers: int) -> None:
    """The lemma behind ``unpooled``: the same final trees and job results, latch steps aside."""
    sc = write(tmp_path, "pool", mounts, algorithm=algorithm, workers=workers)
    wide = unpooled(sc, program_for(sc))
    assert wide is not None and wide.workers == len(sc.mounts)

    def outcomes(s: scenarios.Scenario) -> frozenset[tuple[object, ...]]:
        with Runner(program_for(s), "memory", "direct") as runner:
            r = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False, collect_outcomes=True)
        assert r.complete
        return r.outcomes

    pooled, wider = outcomes(sc), outcomes(wide)
    assert pooled <= wider
    if algorithm == "pre-cleanup" and len(sc.mounts) == 2 and sc.mounts[0].path == PARENT:
        assert pooled < wider  # one worker runs jobs in order: the races are gone


def test_a_pool_of_identical_jobs_is_proved_with_a_worker_per_job(tmp_path: Path) -> None:
    sc = write(tmp_path, "pool", skills(4), workers=2)
    ruled = verify(sc, "dpor", shrink=False, driver="direct")
    plain = verify(sc, "dpor", shrink=False, driver="direct", symmetry=False)
    assert (ruled.verdict, plain.verdict) == ("safe", "safe")
    assert "proved with a worker per job (5), which covers 2 workers" in ruled.symmetry
    assert ruled.executions < plain.executions


def test_an_unsafe_run_with_a_worker_per_job_decides_nothing_for_the_pool(tmp_path: Path) -> None:
    """One worker runs the incident's jobs in order (parents first): safe, though a worker per job is not."""
    sc = write(tmp_path, "serial", skills(1), algorithm="pre-cleanup", workers=1)
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "safe" and "worker per job" not in r.symmetry


def test_the_incident_with_identical_skills_falls_back_and_its_counterexample_replays(tmp_path: Path) -> None:
    """The parent's remove_dir_all lists the skills' parent (the rule's assumption fails) unless
    the search under the rule meets a counterexample first: either way a plain search follows."""
    sc = write(tmp_path, "incident", skills(3), algorithm="pre-cleanup")
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "unsafe"
    assert r.symmetry.startswith(("dropped (thread 0 lists /home/user/.claude/skills", "found a counterexample"))
    assert r.token is not None and replay(sc, r.token).verdict == "fail"


def test_a_counterexample_found_under_the_rule_is_searched_again_without_it(tmp_path: Path) -> None:
    """A file where the skills' parent directory should be: every job fails; the token of the
    counterexample must replay on the program as it is (no rule at replay)."""
    sc = write(tmp_path, "blocked", skills(2, parent=False))
    sc.initial_files[f"{PARENT}/skills"] = b"not a directory"
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "unsafe"
    assert "found a counterexample" in r.symmetry
    assert r.token is not None and replay(sc, r.token).verdict == "fail"
