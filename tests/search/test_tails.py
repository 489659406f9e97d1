"""Deferred tails (``raceproof.tails``) against plain search.

The claim behind it: a job's tail (download and ``unpack``) touches only what it claims, so once
no other thread's step after the claim is dependent with it, running every tail after the
interleaved part (or replaying its recorded effect) reaches exactly the outcomes of the program
as it is. Checked on generated scenarios (mount forests of every shape incl. nested pairs, small
archives, members written into another job's root, both algorithms): plain DPOR and DPOR with
deferred tails, with and without recorded effects, reach the same outcome sets, or the deferred
search stops with ``TailBroken`` (a machinery error, never an outcome).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from raceproof import scenario as scenarios
from raceproof.execution import Runner, run_without_trio
from raceproof.exploration import run_exploration
from raceproof.fs import Vfs, make_backend
from raceproof.generators import mount_archives, mount_sets, nested_pairs
from raceproof.models import tar
from raceproof.models.guest_download import Job
from raceproof.result import Result
from raceproof.runs import program_for, verify
from raceproof.steps import Footprint
from raceproof.strategies import make_strategy
from raceproof.symmetry import job_groups
from raceproof.tails import TailBroken, Tails, deferrable, tail_footprint

FIXED = str(Path(__file__).resolve().parents[2] / "scenarios" / "guest-download-fixed.toml")


@st.composite
def cases(draw: st.DrawFn) -> scenarios.Scenario:
    algorithm = draw(st.sampled_from(["fixed", "fixed", "pre-cleanup"]))
    if algorithm == "fixed":
        paths = draw(st.one_of(mount_sets(min_size=2, max_size=3), nested_pairs()))
    else:  # a nested pair under pre-cleanup is ~800 executions plainly
        paths = draw(mount_sets(min_size=2, max_size=2))
    mounts = [scenarios.Mount(path, members, tar.build(members))
              for path, members in zip(paths, draw(mount_archives(paths)), strict=True)]
    return scenarios.load(FIXED).with_changes(algorithm=algorithm, mounts=mounts, workers=len(paths),
                                              initial_dirs=["/home/user"], initial_files={}, name="generated")


def search(sc: scenarios.Scenario, *, tails: bool = False, memo: bool = True, backend: str = "memory") -> Result:
    program = program_for(sc)
    program.deferred_tails = tails
    program.tail_memo = {} if memo else None
    with Runner(program, backend, "direct") as runner:
        r = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False, collect_outcomes=True,
                            max_executions=20_000)
    assert r.complete
    return r


@pytest.mark.quick(15)
@settings(max_examples=70, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_deferred_tails_reach_exactly_the_outcomes_of_plain_search(sc: scenarios.Scenario) -> None:
    assert deferrable(program_for(sc))
    plain = search(sc)
    try:
        deferred = search(sc, tails=True)
    except TailBroken:
        event(f"{sc.algorithm}: deferral broken ({plain.verdict})")
        return
    event(f"{sc.algorithm}: deferred, {plain.verdict}")
    assert deferred.verdict == plain.verdict
    assert deferred.outcomes == plain.outcomes
    assert deferred.executions <= plain.executions
    unrecorded = search(sc, tails=True, memo=False)  # the recorded effects change nothing
    assert (unrecorded.outcomes, unrecorded.executions) == (deferred.outcomes, deferred.executions)


def write_mounts(mounts: list[tuple[str, list[tar.Member]]], **changes: Any) -> scenarios.Scenario:
    ms = [scenarios.Mount(p, members, tar.build(members)) for p, members in mounts]
    return scenarios.load(FIXED).with_changes(mounts=ms, workers=len(ms), **changes)


def test_a_parent_member_inside_a_childs_root_breaks_the_deferral_and_verify_searches_plainly() -> None:
    """The parent's archive writes into the skill's root: their claims are dependent."""
    sc = write_mounts([("/home/user/.claude", [tar.Member("skills/pdf/SKILL.md", "file", b"parent's")]),
                       ("/home/user/.claude/skills/pdf", [tar.Member("SKILL.md", "file", b"skill's")])])
    with pytest.raises(TailBroken, match="claimed it for its deferred tail"):
        search(sc, tails=True)
    r = verify(sc, "dpor", shrink=False, driver="direct")
    plain = verify(sc, "dpor", shrink=False, driver="direct", symmetry=False)
    assert "tails deferred" not in r.symmetry
    assert r.verdict == plain.verdict


def test_a_tail_that_leaves_its_claim_stops_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim too small (here: without the members) is caught when the tail runs, as a machinery
    error, never as the thread's outcome."""
    sc = write_mounts([("/home/user/.claude", [tar.Member("a/b", "file", b"1")]),
                       ("/home/user/other", [tar.Member("c", "file", b"2")])])

    def too_small(job: Job) -> Footprint | None:
        return tail_footprint(job.root, [])

    monkeypatch.setattr(Job, "claim", too_small)
    with pytest.raises(TailBroken, match="outside its claim"):
        search(sc, tails=True)


def test_the_claim_covers_members_their_directories_and_the_roots_ancestors() -> None:
    members = [tar.Member("SKILL.md", "file", b"x"), tar.Member("d/e.txt", "file", b"y"),
               tar.Member("../evil", "file", b"z"), tar.Member("sub", "dir", b"")]
    fp = tail_footprint("/home/user/.claude", members)
    assert fp is not None
    root = "/home/user/.claude"
    assert fp.writes == {f"e:{root}/SKILL.md", f"e:{root}/d", f"e:{root}/d/e.txt", f"e:{root}/sub"}
    assert fp.reads == fp.writes | {"e:/home", "e:/home/user", f"e:{root}"}
    assert fp.touches == {root, f"{root}/d"}
    assert tail_footprint(root, [tar.Member("l", "symlink", b"", "/etc")]) is None


def test_skills_with_different_archives_are_identical_up_to_their_tails() -> None:
    sc = scenarios.load(FIXED)
    program = program_for(sc)
    assert job_groups(program) == []  # each skill's archive has its own bytes
    assert job_groups(program, tails=True) == [(1, 2, 3)]
    names = write_mounts([("/home/user/.claude", [tar.Member("CLAUDE.md", "file", b"p")])]
                         + [(f"/home/user/.claude/skills/s{i}",
                             [tar.Member(f"f{j}-{i}.md", "file", b"%d" % j) for j in range(i + 1)])
                            for i in range(3)])
    ruled = verify(names, "dpor", shrink=False, driver="direct", confluence=False)
    plain = verify(names, "dpor", shrink=False, driver="direct", symmetry=False)
    assert (ruled.verdict, plain.verdict) == ("safe", "safe")
    assert ruled.executions * 4 < plain.executions
    assert "identical jobs explored as one" in ruled.symmetry and "tails deferred" in ruled.symmetry


def test_no_deferral_with_a_pool_an_injector_or_user_checks(tmp_path: Path) -> None:
    sc = scenarios.load(FIXED)
    assert deferrable(program_for(sc))
    assert not deferrable(program_for(sc.with_changes(workers=2)))
    assert not deferrable(program_for(sc, ["errno:errno=EIO,at_most=1"]))
    assert not deferrable(program_for(sc.with_changes(checks=["no-worker-error"])))


def claimed(member: str) -> tuple[str, Footprint, Vfs]:
    """A claim of one file member into ``/home/user/.claude`` and an empty memory filesystem."""
    root = "/home/user/.claude"
    claim = tail_footprint(root, [tar.Member(member, "file", b"new")])
    assert claim is not None
    return root, claim, Vfs(make_backend("memory"))


def test_a_recorded_tail_effect_is_replayed_only_from_the_same_claimed_state() -> None:
    """``Tails.run``: the same state of the claimed entries replays the recorded effect (the tail
    is not run); another state (here a stale file at a member's path) runs the tail again."""
    root, claim, vfs = claimed("d/f")
    memo: dict[Any, Any] = {}
    ran: list[str] = []

    async def rest() -> list[str]:  # what the tail does: create d/ and d/f (replacing a stale f)
        ran.append("ran")
        if vfs.backend.kind(root + "/d") is None:
            vfs.backend.mkdir(root + "/d")
        if vfs.backend.kind(root + "/d/f") is not None:
            vfs.backend.unlink(root + "/d/f")
        vfs.put(root + "/d/f", b"new")
        return [root + "/d/f"]

    def tail_once() -> tuple[list[str], dict[str, str]]:
        tails = Tails(memo)
        tails.claim(0, claim)
        return run_without_trio(tails.run(0, vfs, rest), "no suspension"), vfs.tree()

    def fresh(stale: bool) -> None:
        vfs.backend.reset()
        vfs.makedirs(root)
        if stale:
            vfs.put(root + "/d/f", b"old")

    fresh(False)
    first = tail_once()
    fresh(False)
    assert tail_once() == first and ran == ["ran"]  # replayed, not run
    fresh(True)
    assert tail_once() == first and ran == ["ran", "ran"]  # another claimed state: run again
    fresh(True)
    assert tail_once() == first and len(ran) == 2


@pytest.mark.parametrize("backend", ["fake", "real"])
def test_deferred_tails_run_the_same_on_pyfakefs_and_a_real_directory(backend: str) -> None:
    """No recorded effects there (they are the memory backend's): every tail runs, through the
    backend's own sandbox, and reaches the memory backend's outcomes."""
    sc = write_mounts([("/home/user/.claude", [tar.Member("CLAUDE.md", "file", b"p"), tar.Member("d/x", "file", b"")]),
                       ("/home/user/.claude/skills/pdf", [tar.Member("SKILL.md", "file", b"s")])])
    memory = search(sc, tails=True)
    other = search(sc, tails=True, backend=backend)
    assert (other.verdict, other.executions, other.outcomes) == (memory.verdict, memory.executions, memory.outcomes)
    assert memory.verdict == "safe" and memory.outcomes == search(sc).outcomes


def test_a_whole_cut_state_seen_before_replays_every_tail_and_the_final_tree() -> None:
    """``Tails.at_cut``/``tree``: the same state at the cut (every entry, the same waiting threads)
    gives the recorded results and final tree without running a tail; any other state runs them."""
    root, claim, vfs = claimed("f")
    memo: dict[Any, Any] = {}
    ran: list[str] = []

    async def rest() -> list[str]:
        ran.append("ran")
        vfs.put(root + "/f", b"new")
        return [root + "/f"]

    def execution(extra: str | None) -> tuple[list[str], dict[str, str], int]:
        vfs.backend.reset()
        vfs.makedirs(root)
        if extra:
            vfs.makedirs(extra)  # outside the claim: the tail's own record would replay, the cut's not
        tails = Tails(memo)
        tails.claim(0, claim)
        tails.cut = True
        tails.at_cut(vfs)
        value = run_without_trio(tails.run(0, vfs, rest), "no suspension")
        return value, tails.tree(vfs), tails.steps[0]

    first = execution(None)
    assert execution(None) == first and ran == ["ran"]
    other = execution("/home/user/other")
    assert other[0] == first[0] and "/home/user/other" in other[1] and "/home/user/other" not in first[1]
    assert execution("/home/user/other") == other
