"""File contents abstracted (``raceproof.symmetry.abstract_contents``) against plain search.

The claim behind it: the built-in algorithms are *data-independent* in a file member's bytes, so
replacing each job's contents one-to-one (equal stay equal, empty stay empty) changes no step, no
footprint, no verdict. Checked on generated scenarios (mount forests of every shape, small
archives, both algorithms, any pool size, some members written into another job's root): plain
DPOR of the scenario and of its abstracted copy reach the same outcomes once the first's file
contents are mapped, and give the same verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from raceproof import runs
from raceproof import scenario as scenarios
from raceproof.execution import Runner
from raceproof.exploration import run_exploration
from raceproof.generators import archives, mount_sets, nested_pairs
from raceproof.models import tar
from raceproof.runs import program_for, replay, verify
from raceproof.strategies import make_strategy
from raceproof.symmetry import CANONICAL, abstract_contents, canonical_contents, job_groups

FIXED = str(Path(__file__).resolve().parents[2] / "scenarios" / "guest-download-fixed.toml")


@st.composite
def cases(draw: st.DrawFn) -> tuple[scenarios.Scenario, scenarios.Scenario, dict[bytes, bytes]]:
    """A scenario, its copy with every job's contents abstracted, and the content map between them."""
    algorithm = draw(st.sampled_from(["fixed", "pre-cleanup"]))
    # a nested pair under pre-cleanup is ~800 executions: one such case is the explicit test below
    paths = draw(st.one_of(mount_sets(min_size=2, max_size=2), nested_pairs()) if algorithm == "fixed"
                 else mount_sets(min_size=2, max_size=2))
    drawn = [draw(archives(max_size=2, kinds=("file", "dir"))) for _ in paths]
    mounts = []
    for i, (path, members) in enumerate(zip(paths, drawn, strict=True)):
        inner = [k for k, p in enumerate(paths) if p.startswith(path + "/")]
        if inner and draw(st.booleans()):  # a member of this job over a file of a job inside it
            k = draw(st.sampled_from(inner))
            name = next((m.name for m in drawn[k] if m.kind == "file"), "SKILL.md")
            members = [*members, tar.Member(paths[k][len(path) + 1:] + "/" + name, "file", b"x")]
        out: list[tar.Member] = []
        for m in members:
            data = m.data
            earlier = [o.data for o in out if o.kind == "file" and o.data]
            if m.kind == "file" and earlier and draw(st.booleans()):
                data = draw(st.sampled_from(earlier))  # equal contents inside one archive
            elif m.kind == "file" and data:
                data = b"%d:" % i + data  # a job's contents are its own
            out.append(tar.Member(m.name, m.kind, data))
        mounts.append(scenarios.Mount(path, out, tar.build(out)))
    base = scenarios.load(FIXED)
    workers = draw(st.sampled_from([1, len(paths), len(paths)]))
    sc = base.with_changes(algorithm=algorithm, mounts=mounts, workers=workers, initial_dirs=["/home/user"],
                           initial_files={}, name="generated")
    every = canonical_contents(sc, [[i] for i in range(len(mounts))])
    assert every is not None
    mapping: dict[bytes, bytes] = {}
    for before, after in zip(sc.mounts, every.mounts, strict=True):
        for m, c in zip(before.members, after.members, strict=True):
            assert mapping.setdefault(m.data, c.data) == c.data, "a content mapped two ways"
    assert len(set(mapping.values())) == len(mapping), "two contents mapped onto one"
    return sc, every, mapping


def search(sc: scenarios.Scenario) -> tuple[str, frozenset[tuple[Any, ...]]]:
    with Runner(program_for(sc), "memory", "direct") as runner:
        r = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False, collect_outcomes=True,
                            max_executions=20_000)
    assert r.complete
    return r.verdict, r.outcomes


def mapped(outcome: tuple[Any, ...], mapping: dict[bytes, bytes]) -> tuple[Any, ...]:
    tree, threads = outcome
    return (tuple((p, "file:" + mapping[bytes.fromhex(d[5:])].hex() if d.startswith("file:") else d)
                  for p, d in tree), threads)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_abstracted_contents_give_the_same_outcomes_and_verdict(
        case: tuple[scenarios.Scenario, scenarios.Scenario, dict[bytes, bytes]]) -> None:
    sc, every, mapping = case
    verdict, outcomes = search(sc)
    verdict2, outcomes2 = search(every)
    event(f"{sc.algorithm}: {verdict}, {min(len(outcomes), 3)}{'+' if len(outcomes) > 2 else ''} outcome(s)")
    assert verdict2 == verdict
    assert {mapped(o, mapping) for o in outcomes} == outcomes2


def test_the_incident_pair_with_a_member_over_the_childs_file() -> None:
    """Pre-cleanup, a parent and its skill, the parent's archive over the skill's file: the removal
    races, the final content races; ~800 executions each way."""
    mounts = []
    for path, own in (("/home/user/.claude", [tar.Member("skills/pdf/SKILL.md", "file", b"parent's")]),
                      ("/home/user/.claude/skills/pdf", [])):
        members = [tar.Member("SKILL.md", "file", path.encode()), *own]
        mounts.append(scenarios.Mount(path, members, tar.build(members)))
    sc = scenarios.load(FIXED).with_changes(algorithm="pre-cleanup", mounts=mounts, workers=2)
    every = canonical_contents(sc, [[0], [1]])
    assert every is not None
    mapping = {m.data: c.data for a, b in zip(sc.mounts, every.mounts, strict=True)
               for m, c in zip(a.members, b.members, strict=True)}
    (verdict, outcomes), (verdict2, outcomes2) = search(sc), search(every)
    assert verdict == verdict2 == "unsafe"
    assert len(outcomes) > 3
    assert {mapped(o, mapping) for o in outcomes} == outcomes2


def test_the_fixed_incident_skills_become_identical_and_prove_in_fewer_executions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without deferred tails (which make the skills identical up to their tails anyway), the
    abstraction is what groups them."""
    monkeypatch.setattr(runs, "deferrable", lambda program: False)
    sc = scenarios.load(FIXED)
    assert job_groups(program_for(sc)) == []  # each skill's archive has its own bytes
    abstract = abstract_contents(sc, program_for(sc))
    assert abstract is not None
    assert job_groups(program_for(abstract)) == [(1, 2, 3)]
    assert abstract.mounts[0] == sc.mounts[0]  # the parent has no same-shaped sibling
    ruled = verify(sc, "dpor", shrink=False, driver="direct")
    plain = verify(sc, "dpor", shrink=False, driver="direct", symmetry=False)
    assert (ruled.verdict, plain.verdict) == ("safe", "safe")
    assert ruled.executions * 4 < plain.executions
    assert "file contents abstracted" in ruled.symmetry


def test_the_buggy_incident_is_refuted_on_its_own_bytes(tmp_path: Path) -> None:
    """Abstracted, the incident is unsafe too; the counterexample comes from the program as it is."""
    sc = scenarios.load(FIXED).with_changes(algorithm="pre-cleanup")
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "unsafe" and r.token is not None
    assert "file contents abstracted" not in r.symmetry


def test_no_abstraction_when_shapes_differ_or_a_canonical_content_is_taken() -> None:
    sc = scenarios.load(FIXED)
    pdf = sc.mounts[1]
    renamed = [tar.Member("OTHER.md", "file", pdf.members[0].data)]
    other = sc.with_changes(mounts=[*sc.mounts[:1], scenarios.Mount(pdf.path, renamed, tar.build(renamed)),
                                    *sc.mounts[2:]])
    abstract = abstract_contents(other, program_for(other))
    assert abstract is not None and job_groups(program_for(abstract)) == [(2, 3)]  # pdf's names differ
    taken = [tar.Member("SKILL.md", "file", CANONICAL % (0, 0))]
    clash = sc.with_changes(mounts=[*sc.mounts[:1], scenarios.Mount(pdf.path, taken, tar.build(taken)),
                                    *sc.mounts[2:]])
    assert abstract_contents(clash, program_for(clash)) is None
    checked = sc.with_changes(checks=["no-worker-error"])
    assert abstract_contents(checked, program_for(checked)) is None


def test_a_job_writing_into_an_abstracted_root_falls_back_to_the_bytes(tmp_path: Path) -> None:
    """The parent's archive carries its own ``skills/pdf/SKILL.md``: which job writes it last is a
    race the final tree shows, and the skills' shared canonical contents would hide it. The
    parent's step inside a grouped root stops the symmetric search; the plain one finds the race."""
    sc = scenarios.load(FIXED)
    parent = [*sc.mounts[0].members, tar.Member("skills/pdf/SKILL.md", "file", b"the parent's copy\n")]
    over = sc.with_changes(mounts=[scenarios.Mount(sc.mounts[0].path, parent, tar.build(parent)), *sc.mounts[1:]])
    abstract = abstract_contents(over, program_for(over))
    assert abstract is not None and job_groups(program_for(abstract)) == [(1, 2, 3)]
    r = verify(over, "dpor", shrink=False, driver="direct")
    assert r.verdict == "unsafe"
    assert r.symmetry.startswith("dropped (thread 0 touches /home/user/.claude/skills/pdf")
    assert r.token is not None and replay(over, r.token).verdict == "fail"
