"""Confluent heads (``raceproof.confluence``) against plain search.

The claim behind it: when every job's head only creates directories (the fixed algorithm's
``create_dir_all``) and no job's deferred tail reaches what another job's ``create_dir_all`` may
create, every interleaving has the same outcome, so one execution is the proof. Checked on
generated scenarios (mount forests incl. nested pairs, archives of files and directories, members
written into a nested job's root, pre-existing directories and files in the way of a root, both
Rust ``create_dir_all`` algorithms): wherever ``why_not`` says it applies, plain DPOR reaches
exactly one outcome, the one execution's, and the same verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from raceproof import scenario as scenarios
from raceproof.confluence import NotConfluent, Once, head_envelope, why_not
from raceproof.errors import InputError, ScenarioError
from raceproof.execution import Runner
from raceproof.exploration import run_exploration
from raceproof.fs.base import parent_of
from raceproof.generators import mount_archives, mount_sets, nested_pairs
from raceproof.models import guest_download, tar
from raceproof.models.rust_fs import create_dir_all
from raceproof.result import Result
from raceproof.runs import program_for, replay, verify
from raceproof.sfs import SchedFS
from raceproof.strategies import make_strategy

FIXED = str(Path(__file__).resolve().parents[2] / "scenarios" / "guest-download-fixed.toml")


@st.composite
def cases(draw: st.DrawFn) -> scenarios.Scenario:
    paths = draw(st.one_of(nested_pairs(), mount_sets(min_size=2, max_size=3)))
    mounts = [scenarios.Mount(path, members, tar.build(members))
              for path, members in zip(paths, draw(mount_archives(paths)), strict=True)]
    # directories on the way already there, or a file in the way of a root (every job through it fails)
    spine = sorted({p for path in paths for p in _ancestors(path) if p.count("/") > 2})
    dirs, files = ["/home/user"], {}
    if spine and draw(st.integers(0, 2)) == 2:
        dirs.append(draw(st.sampled_from(spine)))
    if spine and draw(st.integers(0, 4)) == 4:
        files[draw(st.sampled_from(spine))] = b"in the way"
    return scenarios.load(FIXED).with_changes(
        algorithm="fixed", mounts=mounts, workers=len(paths), initial_dirs=dirs, initial_files=files,
        rust_enoent_tolerant=draw(st.booleans()), name="generated")


def _ancestors(path: str) -> list[str]:
    out = []
    while path != "/":
        out.append(path)
        path = parent_of(path)
    return out


def plain(sc: scenarios.Scenario) -> Result:
    with Runner(program_for(sc), "memory", "direct") as runner:
        r = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False, collect_outcomes=True,
                            max_executions=20_000)
    assert r.complete
    return r


def confluent(sc: scenarios.Scenario, backend: str = "memory") -> Result:
    program = program_for(sc)
    with program.reduced(tails=True, confluent=True), Runner(program, backend, "direct") as runner:
        return run_exploration(runner, Once(), stop_on_failure=False, collect_outcomes=True)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_confluent_heads_have_one_outcome_in_every_interleaving(sc: scenarios.Scenario) -> None:
    why = why_not(program_for(sc))
    try:
        reference = plain(sc)
    except ScenarioError:  # the initial file and directory clash
        event("initial tree cannot be built")
        return
    if why:
        event(f"not confluent: {why.split(' ')[-3]}")
        return
    one = confluent(sc)
    event(f"confluent: {reference.verdict}, {(reference.executions > 1 and 'several') or 'one'} plain execution(s)")
    assert one.executions == 1 and one.complete
    assert reference.outcomes == one.outcomes, "an interleaving reaches another outcome"
    assert reference.verdict == one.verdict


def test_the_fixed_incidents_264_traces_have_the_one_executions_outcome() -> None:
    sc = scenarios.load(FIXED)
    reference, one = plain(sc), confluent(sc)
    assert reference.executions == 264 and one.executions == 1
    assert reference.outcomes == one.outcomes and len(one.outcomes) == 1
    assert reference.verdict == one.verdict == "safe"


def write(mounts: list[tuple[str, list[tar.Member]]], **changes: Any) -> scenarios.Scenario:
    ms = [scenarios.Mount(p, members, tar.build(members)) for p, members in mounts]
    return scenarios.load(FIXED).with_changes(**{"mounts": ms, "workers": len(ms), **changes})


def test_the_envelope_is_every_component_and_its_directory() -> None:
    env = head_envelope("/home/user/.claude/skills/pdf")
    parts = ["/home", "/home/user", "/home/user/.claude", "/home/user/.claude/skills", "/home/user/.claude/skills/pdf"]
    assert env.reads == env.writes == {f"e:{p}" for p in parts}
    assert env.touches == {"/", *parts[:-1]}
    assert not env.lists


def test_why_not_names_what_rules_it_out() -> None:
    sc = scenarios.load(FIXED)
    assert why_not(program_for(sc)) == ""
    assert "pre-cleanup" in why_not(program_for(sc.with_changes(algorithm="pre-cleanup")))
    over = write([("/home/user/.claude", [tar.Member("skills/pdf/SKILL.md", "file", b"parent's")]),
                  ("/home/user/.claude/skills/pdf", [tar.Member("SKILL.md", "file", b"skill's")])])
    assert why_not(program_for(over)) == (".claude's archive reaches /home/user/.claude/skills, which "
                                          ".claude/skills/pdf's create_dir_all may create")
    # a member beside the child's spine is not in its way
    near = [tar.Member("skillz/x", "file", b"p"), tar.Member("skills.md", "file", b"q")]
    beside = write([("/home/user/.claude", near),
                    ("/home/user/.claude/skills/pdf", [tar.Member("SKILL.md", "file", b"s")])])
    assert why_not(program_for(beside)) == ""
    linked = write([("/home/user/a", [tar.Member("l", "symlink", b"", "x")]), ("/home/user/b", [])])
    assert why_not(program_for(linked)) != ""
    assert why_not(program_for(sc, ["errno:errno=EIO,at_most=1"])) != ""
    assert why_not(program_for(sc.with_changes(checks=["no-worker-error"]))) != ""


def test_the_fixed_incident_is_proved_in_one_execution_and_dpor_agrees() -> None:
    sc = scenarios.load(FIXED)
    one = verify(sc, "dpor", shrink=False, driver="direct")
    dpor = verify(sc, "dpor", shrink=False, driver="direct", confluence=False)
    assert (one.verdict, dpor.verdict) == ("safe", "safe")
    assert one.executions == 1 and one.strategy == "confluence" and dpor.executions > 1
    assert one.symmetry.startswith("heads confluent") and "tails deferred" in one.symmetry
    assert "heads confluent" not in dpor.symmetry


def test_a_pool_is_proved_with_a_worker_per_job() -> None:
    sc = write([("/home/user/.claude", [tar.Member("a", "file", b"p")])]
               + [(f"/home/user/.claude/skills/s{i}", [tar.Member("SKILL.md", "file", b"%d" % i)]) for i in range(5)],
               workers=2)
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "safe" and r.executions == 1
    assert "heads confluent" in r.symmetry and "worker per job (6), which covers 2 workers" in r.symmetry


def test_the_buggy_incident_is_not_confluent_and_its_token_replays() -> None:
    sc = scenarios.load(FIXED).with_changes(algorithm="pre-cleanup")
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.verdict == "unsafe" and "heads confluent" not in r.symmetry
    assert r.token is not None and replay(sc, r.token).verdict == "fail"


def test_a_head_step_that_is_not_create_dir_all_stops_the_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose head lists a directory (the checks' premise fails): a machinery error, and
    verify proves with DPOR instead, with the same verdict as without confluence."""

    async def listing_first(fs: SchedFS, path: str, *, legacy: bool = False) -> None:
        await create_dir_all(fs, path, legacy=legacy)
        await fs.listdir(parent_of(path))

    monkeypatch.setattr(guest_download, "create_dir_all", listing_first)
    sc = write([("/home/user/.claude", [tar.Member("a", "file", b"p")]),
                ("/home/user/.claude/skills/pdf", [tar.Member("SKILL.md", "file", b"s")])])
    with pytest.raises(NotConfluent, match=r"listdir .* is not a step of create_dir_all"):
        confluent(sc)
    r = verify(sc, "dpor", shrink=False, driver="direct")
    assert r.executions > 1 and r.symmetry.startswith("heads not confluent (thread 0's listdir")
    assert r.verdict == verify(sc, "dpor", shrink=False, driver="direct", confluence=False).verdict


def test_a_head_step_outside_its_envelope_stops_the_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    async def and_a_sibling(fs: SchedFS, path: str, *, legacy: bool = False) -> None:
        await create_dir_all(fs, path, legacy=legacy)
        await create_dir_all(fs, path + "-sibling", legacy=legacy)

    monkeypatch.setattr(guest_download, "create_dir_all", and_a_sibling)
    with pytest.raises(NotConfluent, match="leaves the envelope"):
        confluent(scenarios.load(FIXED))


@pytest.mark.parametrize("backend", ["fake", "real"])
def test_the_one_execution_is_the_same_on_every_backend(backend: str) -> None:
    sc = scenarios.load(FIXED)
    memory, other = confluent(sc), confluent(sc, backend)
    assert memory.verdict == other.verdict == "safe"
    assert memory.outcomes == other.outcomes


def test_cli_flag_and_json(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from raceproof.cli import main

    one = json.loads(CliRunner().invoke(main, ["verify", FIXED, "--json"]).output)
    dpor = json.loads(CliRunner().invoke(main, ["verify", FIXED, "--json", "--no-confluence"]).output)
    assert (one["verdict"], dpor["verdict"]) == ("safe", "safe")
    assert one["executions"] == 1 and dpor["executions"] > 1
    assert one["symmetry"].startswith("heads confluent") and not dpor["symmetry"].startswith("heads confluent")
    res = CliRunner().invoke(main, ["verify", "--help"])
    assert "--no-confluence" in res.output


def test_every_mount_set_row_of_the_fix_is_proved_in_one_execution_and_dpor_agrees(tmp_path: Path) -> None:
    from raceproof.mountsets import mount_set_rows

    base = scenarios.load(FIXED)
    one = mount_set_rows(base, 3, workers=(1, 2, 3), driver="direct")
    dpor = mount_set_rows(base, 3, workers=(1, 2, 3), driver="direct", confluence=False)
    assert [(r["set"], r["workers"], r["verdict"]) for r in one.rows] == \
        [(r["set"], r["workers"], r["verdict"]) for r in dpor.rows]
    proved = [r for r in one.rows if r["workers"] is not None]
    assert proved and all(r["verdict"] == "safe" and r["executions"] == 1 for r in proved)
    assert sum(r["executions"] for r in dpor.rows) > 10 * len(proved)
    ckpt = str(tmp_path / "ck.json")
    mount_set_rows(base, 1, workers=(1,), driver="direct", checkpoint=ckpt)
    with pytest.raises(InputError, match=r"search\.confluence"):
        mount_set_rows(base, 1, workers=(1,), driver="direct", resume=ckpt, confluence=False)


def test_every_mount_set_up_to_3_with_every_pool_has_the_one_executions_outcome() -> None:
    """Plain DPOR of every row of ``--mount-sets 3`` (pools included: confluence proves the
    program with a worker per job, ``raceproof.symmetry.unpooled``) reaches exactly the outcome of
    the one execution."""
    from raceproof.mountsets import all_mount_sets, scenario_for
    from raceproof.symmetry import unpooled

    base = scenarios.load(FIXED)
    rows = 0
    for ms in all_mount_sets(3):
        for w in (1, 2, 3):
            sc = scenario_for(base, ms, w)
            wide = unpooled(sc, program_for(sc)) or sc
            if why_not(program_for(wide)):
                continue
            one = confluent(wide)
            assert one.executions == 1 and len(one.outcomes) == 1
            assert plain(sc).outcomes == one.outcomes, f"{ms.name} w{w}"
            rows += 1
    assert rows == 3 * len(all_mount_sets(3))  # every row of the fix is confluent
