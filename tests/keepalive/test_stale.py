"""Stale states: the alphabet, compatibility and the enumeration (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof.errors import InputError
from raceproof.execution import Runner
from raceproof.keepalive import stale
from raceproof.mountsets import all_mount_sets, scenario_for
from raceproof.runs import program_for
from raceproof.scenario import load

BASE = load(Path(__file__).resolve().parents[2] / "scenarios" / "keepalive.toml")


@pytest.mark.parametrize("ms", all_mount_sets(3), ids=lambda ms: ms.name)
def test_every_state_builds_on_every_backend_kind_of_forest(ms: object) -> None:
    sc = scenario_for(BASE, ms, 1)  # type: ignore[arg-type]
    names = stale.states(sc, 2)
    assert names[0] == "none" and len(names) == len(set(names))
    assert set(stale.states(sc, 1)) < set(names)  # more entries, more states
    for state in names:
        planted = stale.apply(sc, state)
        with Runner(program_for(planted), "memory") as runner:  # the set-up must build
            tree = runner.program.initial
        for letter in state.split("+") if state != "none" else []:
            plant = stale.plants(sc)[letter]
            for path, _ in (*plant.files, *plant.links):
                assert path in tree, (state, path)


def test_nested_letters_only_where_a_mount_nests() -> None:
    single = scenario_for(BASE, all_mount_sets(1)[0], 1)
    assert not {"file-spine", "file-root", "empty-root"} & set(stale.plants(single))


def test_bad_states_are_one_line_errors() -> None:
    sc = scenario_for(BASE, all_mount_sets(2)[0], 1)
    with pytest.raises(InputError, match="not a stale letter"):
        stale.apply(sc, "file+bogus")
    chain = next(ms for ms in all_mount_sets(2) if "chain" in ms.name)
    with pytest.raises(InputError, match="conflicting"):
        stale.apply(scenario_for(BASE, chain, 1), "file-spine+file-root")


def test_mount_points_drop_the_letters_a_mount_rules_out_and_refuse_a_file_at_a_root() -> None:
    import tomllib

    from raceproof.errors import ScenarioError
    from raceproof.scenario import parse

    root = Path(__file__).resolve().parents[2]
    raw = tomllib.loads((root / "scenarios" / "keepalive-A-mounted.toml").read_text())
    sc = parse(raw, "m.toml")
    assert sc.mount_points and sc.digest != parse({**raw, "mount_points": False}, "m.toml").digest
    letters = set(stale.plants(sc))
    assert {"file-root", "file-spine", "empty-root"}.isdisjoint(letters) and "link-out" in letters
    assert set(stale.plants(parse({**raw, "mount_points": False}, "m.toml"))) >= {"file-root", "file-spine"}
    bad = {**raw, "initial": {"files": {"/home/user/.claude/skills": "x"}}}
    with pytest.raises(ScenarioError, match=r"m\.toml: initial: .*mount point"):
        parse(bad, "m.toml")
    with pytest.raises(ScenarioError, match="mount_points"):
        parse({**raw, "mount_points": "yes"}, "m.toml")
