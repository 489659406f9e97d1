"""Soundness of the reduction on generated programs: ``dpor`` against plain enumeration.

Generated programs (``raceproof.testing.programs``) have 2-3 threads of 1-4 filesystem calls over
a tiny path set and a random initial tree; each thread returns what it observed (errors
included). ``dfs`` runs every interleaving; the counting oracle groups them by Mazurkiewicz
trace. ``dpor`` must give the same outcome set, cover every trace, and never run more.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import raceproof.strategies.dpor as dpor_module
from raceproof import explore
from raceproof.testing import GeneratedProgram, Op, compare_strategies, programs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_dpor_and_dfs_agree_on_generated_programs(program: GeneratedProgram) -> None:
    """Same outcome set, every trace covered, dpor <= dfs (all ops, structural races included)."""
    assert compare_strategies(program.functions(), setup=program.setup, optimal=False) == [], str(program)


@SETTINGS
@given(programs(ops=("read_file", "write_file", "exists", "listdir"), paths=("/d", "/d/f", "/d/g", "/d/h"),
                initial=st.just((("/d", None), ("/d/f", b"0"), ("/d/g", b"0"), ("/d/h", b"0")))))
def test_dpor_is_optimal_when_structure_does_not_change(program: GeneratedProgram) -> None:
    """Programs that only read and write existing files (and look at the tree): exactly one
    execution per Mazurkiewicz trace and no blocked execution. (With structural races, such as
    a mkdir that fails or succeeds depending on the order, dpor stays sound but may run a few
    redundant executions: see toolkit/strategies/dpor.py, ``_reverse``.)"""
    assert compare_strategies(program.functions(), setup=program.setup, optimal=True) == [], str(program)


def test_explore_outcomes_equal_for_dpor_and_dfs() -> None:
    """The public API: ``explore(...).outcomes`` of dpor and dfs on a structural race."""
    p = GeneratedProgram(
        threads=((Op("mkdir", "/d"), Op("listdir", "/d")), (Op("create_dir_all", "/d/f"),), (Op("rmdir", "/d"),)),
        initial=(("/e", b"0"),))
    d = p.explore("dpor")
    f = p.explore("dfs")
    assert d.outcomes == f.outcomes
    assert len(d.outcomes) > 1
    assert d.executions <= f.executions
    assert (d.verdict, f.verdict) == ("safe", "safe")


# a deliberately wrong footprint: the harness must be able to fail -------------------------------

WRITER_READER = GeneratedProgram(
    threads=((Op("write_file", "/d/f", b"1"),), (Op("read_file", "/d/f"),)), initial=(("/d/f", b"0"),))


def test_harness_detects_a_too_weak_dependence(monkeypatch: pytest.MonkeyPatch) -> None:
    """If ``dependent`` said every pair commutes, the outcome-set comparison fails."""
    assert compare_strategies(WRITER_READER.functions(), setup=WRITER_READER.setup) == []
    monkeypatch.setattr(dpor_module, "dependent", lambda a, b: False)
    problems = compare_strategies(WRITER_READER.functions(), setup=WRITER_READER.setup, optimal=False)
    assert any(p.startswith("outcome sets differ") for p in problems), problems


def test_generated_programs_find_a_too_weak_dependence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis itself finds a counterexample program when the dependence is too weak."""
    monkeypatch.setattr(dpor_module, "dependent", lambda a, b: False)

    def unsound(p: GeneratedProgram) -> bool:
        d = explore(p.functions(), setup=p.setup, strategy="dpor")
        f = explore(p.functions(), setup=p.setup, strategy="dfs")
        return d.outcomes != f.outcomes

    found = find(programs(max_total_ops=4), unsound,
                 settings=settings(max_examples=200, deadline=None, database=None))
    assert unsound(found)


# regressions: programs on which the first DPOR lost outcomes or traces ----------------------------
# It compared footprints recorded in one state (a racing step observed *after* the step it races
# with) as if they held in another: a failed rmdir/mkdir records only reads, a successful one
# writes. The racing step's footprint is now unknown until it runs when the other step changed
# the tree's structure.

LOST_OUTCOMES = GeneratedProgram(
    threads=((Op("exists", "/e/f"), Op("rmdir", "/d/g")),
             (Op("exists", "/e/f"), Op("rmdir", "/d/g"), Op("read_file", "/d/g")),
             (Op("read_file", "/d/g"),)),
    initial=(("/d", None), ("/d/f", None), ("/d/g", None), ("/e", b"0")))

LOST_TRACES = GeneratedProgram(
    threads=((Op("unlink", "/d/f"), Op("mkdir", "/d")), (Op("mkdir", "/d"),), (Op("unlink", "/d/f"),)))


@pytest.mark.parametrize("program", [LOST_OUTCOMES, LOST_TRACES], ids=["lost-outcomes", "lost-traces"])
def test_state_dependent_footprints_regressions(program: GeneratedProgram) -> None:
    assert compare_strategies(program.functions(), setup=program.setup) == []


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_dpor_and_dfs_agree_on_many_generated_programs(program: GeneratedProgram) -> None:
    assert compare_strategies(program.functions(), setup=program.setup, optimal=False) == [], str(program)
