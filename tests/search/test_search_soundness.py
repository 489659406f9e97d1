"""Soundness of the reduction on generated programs: ``dpor`` against plain enumeration.

Generated programs (``raceproof.testing.programs``) have 2-3 threads of 1-4 filesystem calls over
a tiny path set and a random initial tree; each thread returns what it observed (errors
included). ``dfs`` runs every interleaving; the counting oracle groups them by Mazurkiewicz
trace. ``dpor`` must give the same outcome set, cover every trace, and never run more.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

import raceproof.strategies.dpor as dpor_module
from raceproof import explore
from raceproof.fs.vfs import Vfs
from raceproof.sfs import SchedFS
from raceproof.testing import ALL_OPS, NOT_FS_OPS, TOO_LARGE, GeneratedProgram, Op, compare_strategies, programs

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
#: plain enumeration of a generated program stops here; a larger program is skipped (assume)
ORACLE_BUDGET = 3000


def agree(program: GeneratedProgram, *, optimal: bool = False) -> list[str]:
    """dpor against the counting oracle; programs too large to enumerate are not examples."""
    problems = compare_strategies(program.functions(), setup=program.setup, optimal=optimal,
                                  max_executions=ORACLE_BUDGET)
    assume(problems != [TOO_LARGE])
    return problems


@SETTINGS
@given(programs(ops=ALL_OPS, max_total_ops=5))
def test_dpor_and_dfs_agree_on_generated_programs(program: GeneratedProgram) -> None:
    """Same outcome set, every trace covered, dpor <= dfs, over every ``SchedFS`` operation
    (composites, handles, links and stats included; structural races included). Each thread
    returns everything it observed (stat fields, listings, contents, errors)."""
    assert agree(program) == [], str(program)


@pytest.mark.slow
@settings(SETTINGS, max_examples=400)
@given(programs(ops=ALL_OPS, max_threads=3, max_total_ops=6))
def test_dpor_and_dfs_agree_on_many_generated_programs(program: GeneratedProgram) -> None:
    """The same property with enough examples to matter (CI runs it with --run-slow; a failure
    prints the program). Derandomized so that CI is reproducible; draw fresh programs with
    ``--hypothesis-seed=random`` (that is how SLEEPING_UNLINK below was found)."""
    assert agree(program) == [], str(program)


def test_the_generator_draws_every_schedfs_operation() -> None:
    """A new ``SchedFS`` operation cannot escape the property test: it must be in ``ALL_OPS``
    (or be one of the handle calls the ``append``/``read_handle``/``create_excl`` ops make, or not
    touch the filesystem)."""
    public = {name for name in dir(SchedFS) if not name.startswith("_") and callable(getattr(SchedFS, name))}
    assert public - set(ALL_OPS) - set(NOT_FS_OPS) == set()


STAT_SIZE = GeneratedProgram(threads=((Op("write_file", "/d/x", b"new content"),), (Op("stat", "/d/x"),)),
                             initial=(("/d/x", b"old"),))


def test_a_stat_sees_the_size_a_writer_changes() -> None:
    """Issue 8's reproduction: a reader that branches on ``stat().size`` and a rewriter of the
    file are dependent, so dpor finds the failing order that dfs finds."""
    async def writer(fs):  # type: ignore[no-untyped-def]
        await fs.write_file("/d/x", b"new content")

    async def reader(fs):  # type: ignore[no-untyped-def]
        if (await fs.stat("/d/x")).size == 3:
            raise RuntimeError("stale size")

    for backend in ("memory", "fake"):
        d = explore([writer, reader], setup={"/d/x": b"old"}, strategy="dpor", backend=backend)
        f = explore([writer, reader], setup={"/d/x": b"old"}, strategy="dfs", backend=backend)
        assert d.verdict == f.verdict == "unsafe"
        assert d.outcomes == f.outcomes
    assert compare_strategies(STAT_SIZE.functions(), setup=STAT_SIZE.setup, optimal=False) == []


def test_harness_detects_a_stat_that_hides_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken footprint (a stat that does not read the file's content): the
    property test's comparison fails, and Hypothesis finds such a program from ``ALL_OPS``."""
    real = Vfs._observed

    def forgetful(self: Vfs, st):  # type: ignore[no-untyped-def]
        before = set(self.fp.reads)
        out = real(self, st)
        self.fp.reads.intersection_update(before)
        return out

    monkeypatch.setattr(Vfs, "_observed", forgetful)
    assert compare_strategies(STAT_SIZE.functions(), setup=STAT_SIZE.setup, optimal=False) != []
    found = find(programs(ops=("stat", "write_file", "append"), paths=("/d", "/d/f")),
                 lambda p: compare_strategies(p.functions(), setup=p.setup, optimal=False) != [],
                 settings=settings(max_examples=300, deadline=None, database=None))
    assert any(op.name == "stat" for ops in found.threads for op in ops)


@SETTINGS
@given(programs(ops=("read_file", "write_file", "atomic_read_file", "atomic_write_file", "append", "stat", "exists",
                     "listdir"), max_total_ops=4, paths=("/d", "/d/f", "/d/g", "/d/h"),
                initial=st.just((("/d", None), ("/d/f", b"0"), ("/d/g", b"0"), ("/d/h", b"0")))))
def test_dpor_is_optimal_when_structure_does_not_change(program: GeneratedProgram) -> None:
    """Programs that only read and write existing files (and look at the tree): exactly one
    execution per Mazurkiewicz trace and no blocked execution. (With structural races, such as
    a mkdir that fails or succeeds depending on the order, dpor stays sound but may run a few
    redundant executions: see toolkit/strategies/dpor.py, ``_reverse``.)"""
    assert agree(program, optimal=True) == [], str(program)


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


# A sleeping structural step counted as a weak initial of a reversal it is independent of: the
# sleeping ``unlink``'s subtree runs the second writer's ``open`` as a create (independent of the
# first writer's ``write``), never as the truncation that must follow that ``write``; dpor explored
# 13 of the 14 traces (the trace open(t2) write(t2) open(t1) unlink write(t1)).
SLEEPING_UNLINK = GeneratedProgram(
    threads=((Op("unlink", "/d"),), (Op("write_file", "/d", b"1"),), (Op("write_file", "/d", b"2"),)))


@pytest.mark.parametrize("program", [LOST_OUTCOMES, LOST_TRACES, SLEEPING_UNLINK],
                         ids=["lost-outcomes", "lost-traces", "sleeping-unlink"])
def test_state_dependent_footprints_regressions(program: GeneratedProgram) -> None:
    assert compare_strategies(program.functions(), setup=program.setup) == []



@settings(SETTINGS, max_examples=25)
@given(programs(ops=ALL_OPS, max_total_ops=4))
def test_backends_agree_on_generated_programs(program: GeneratedProgram) -> None:
    """Every interleaving (dpor) of a generated program gives the same outcomes, executions and
    traces on the memory model, on pyfakefs and on a real directory (found: pyfakefs answered EBADF
    to a read past a concurrent truncation, where Linux answers end of file)."""
    seen = {}
    for backend in ("memory", "fake", "real"):
        r = program.explore("dpor", backend=backend)
        seen[backend] = (r.executions, r.verdict, r.outcomes)
    assert seen["fake"] == seen["memory"], str(program)
    assert seen["real"] == seen["memory"], str(program)
