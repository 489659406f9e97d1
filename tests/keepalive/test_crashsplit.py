"""The two-stage crash run (``raceproof.keepalive.crashsplit``) against the full one, on small runs:
the same crash-free failures, and the same set of (final tree, violated properties) over every
crashed execution."""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof.execution import Execution, Runner
from raceproof.inject import explore_placements
from raceproof.keepalive import stale
from raceproof.keepalive.compare import explore_run
from raceproof.keepalive.crashsplit import _dpor, crash_trees, tree_scenario
from raceproof.mountsets import scenario_for_name
from raceproof.properties import p5_violations
from raceproof.runs import program_for
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[2]
BASE = load(ROOT / "scenarios" / "keepalive.toml")
ALL = {"P1", "P2", "P3", "P4", "P5"}
Outcome = tuple[tuple[tuple[str, str], ...], frozenset[str]]


def full_outcomes(sc):  # type: ignore[no-untyped-def]
    program = program_for(sc, ["crash"])
    out: set[Outcome] = set()

    def observe(ex: Execution) -> bool:
        if ex.extra.get("crash_step") is not None:
            out.add((tuple(sorted(ex.tree.items())), frozenset(v.check for v in ex.violations)))
        return False

    with Runner(program, sc.backend, "direct") as runner:
        pr = explore_placements(runner, program.injectors, stop_on_failure=False, observe=observe)
    assert pr.complete
    return out


def split_outcomes(sc):  # type: ignore[no-untyped-def]
    stage1 = crash_trees(sc, ALL - {"P5"})
    assert stage1 is not None
    _first, trees, _n, complete, program = stage1
    assert complete
    out: set[Outcome] = set()
    for tree in trees:
        rerun = tree_scenario(sc, tree)
        assert rerun is not None

        def visit(ex: Execution) -> bool:
            judged = p5_violations(list(ex.violations), True, program.crash_free_broken)
            out.add((tuple(sorted(ex.tree.items())), frozenset(v.check for v in judged)))
            return False

        with Runner(program_for(rerun), rerun.backend, "direct") as runner:
            _k, done = _dpor(runner, visit, None)
        assert done
    return out


@pytest.mark.parametrize(("algorithm", "mount_set", "state"), [
    ("A", "2:chain:r0/spine:w2", "none"), ("A", "2:siblings:rr/spine:w1", "link-in"),
    ("B", "2:chain:r0/spine:w2", "file"), ("C", "2:chain:r0/spine:w1", "none"),
    ("D", "2:chain:r0/spine:w1", "previous"), ("fixed", "1:single:r/spine:w1", "file"),
    ("pre-cleanup", "2:chain:r0/spine:w1", "none"),
])
def test_the_split_explores_the_crash_outcomes_of_the_full_run(algorithm: str, mount_set: str, state: str) -> None:
    sc = stale.apply(scenario_for_name(BASE.with_changes(algorithm=algorithm), mount_set), state)
    full = full_outcomes(sc)
    assert full  # some execution crashed
    assert split_outcomes(sc) == full
    f_full, _n, c_full, _r, _p = explore_run(sc, True, set(ALL))
    f_split, _n2, c_split, _r2, _p2 = explore_run(sc, True, set(ALL), split=True)
    assert c_full and c_split and set(f_full) == set(f_split)


def test_p5_knows_a_crash_from_the_trace_alone() -> None:
    """P5 is judged on the execution (the crash step writes ``properties.MACHINE``), not by asking the
    crash injector: on every execution of a crash run the two agree, and both kinds occur."""
    from raceproof.properties import _crashed

    sc = stale.apply(scenario_for_name(BASE.with_changes(algorithm="D"), "2:chain:r0/spine:w1"), "previous")
    program = program_for(sc, ["crash"])
    seen: set[bool] = set()

    def observe(ex: Execution) -> bool:
        crashed = ex.extra.get("crash_step") is not None
        assert _crashed(ex) == crashed, ex.choices
        seen.add(crashed)
        return False

    with Runner(program, sc.backend, "direct") as runner:
        explore_placements(runner, program.injectors, max_executions=400, stop_on_failure=False, observe=observe)
    assert seen == {True, False}
