"""Stateful depth-first search (``raceproof.strategies.stateful``) against plain ``dfs``.

The claim: an execution that reaches a state reached before may stop there, when the state is
the whole tree (with identities), the synchronisation and what every thread observed. Checked on
generated programs (every ``SchedFS`` operation, errors included; each thread returns everything
it observed) and the known-count programs: the same verdict and outcome set as ``dfs``, never more
executions; and on the incident, with the reductions it combines with (deferred tails, the
leader rule), against DPOR.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings

from raceproof import explore, scenario
from raceproof.errors import InputError
from raceproof.known_programs import lastzero, readers, writers_reader
from raceproof.runs import verify
from raceproof.scheduler import observed
from raceproof.strategies import stateful
from raceproof.testing import ALL_OPS, GeneratedProgram, programs

ROOT = Path(__file__).resolve().parents[2]
FIXED = ROOT / "scenarios" / "guest-download-fixed.toml"
BUDGET = 3000


def both(functions: list, setup: dict, budget: int | None = None) -> tuple:  # type: ignore[type-arg]
    """Plain dfs (within `budget`) and, when it finished, stateful dfs."""
    plain = explore(functions, setup=setup, strategy="dfs", driver="direct", max_executions=budget)
    if budget is not None:
        assume(plain.complete)  # larger than plain enumeration's budget: not an example
    assert plain.complete
    return plain, explore(functions, setup=setup, strategy="stateful", driver="direct")


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(ops=ALL_OPS, max_total_ops=6))
def test_stateful_and_plain_dfs_agree_on_generated_programs(program: GeneratedProgram) -> None:
    plain, cached = both(program.functions(), program.setup, BUDGET)
    event("some executions cut" if cached.blocked else "nothing cut")
    assert cached.complete
    assert cached.verdict == plain.verdict, str(program)
    assert cached.outcomes == plain.outcomes, str(program)
    assert cached.executions <= plain.executions


@pytest.mark.parametrize("known", [lastzero(3), pytest.param(lastzero(4), marks=pytest.mark.slow), readers(4),
                                   writers_reader(3)], ids=lambda k: k.name)
def test_known_programs_keep_their_outcomes_with_fewer_executions(known) -> None:  # type: ignore[no-untyped-def]
    plain, cached = both(known.programs, known.setup)
    assert plain.complete and cached.complete and cached.verdict == plain.verdict == "safe"
    assert cached.outcomes == plain.outcomes
    assert cached.executions <= plain.executions
    if known.name == "lastzero(4)":  # 44,300 interleavings, far fewer states
        assert cached.executions * 50 < plain.executions


@pytest.mark.slow
def test_the_fixed_incident_is_proved_with_tails_and_symmetry_and_agrees_with_dpor() -> None:
    sc = scenario.load(str(FIXED))
    cached = verify(sc, "stateful", shrink=False, driver="direct", confluence=False)
    dpor = verify(sc, "dpor", shrink=False, driver="direct", confluence=False)
    assert cached.verdict == dpor.verdict == "safe" and cached.complete
    assert cached.strategy == "stateful" and cached.blocked > 0  # executions cut at a visited state
    assert "tails deferred" in cached.symmetry


def test_the_incident_in_miniature_is_refuted_with_every_outcome() -> None:
    """A parent's ``remove_dir_all`` + ``create_dir_all`` against a child's ``create_dir_all`` +
    ``canonicalize`` (the Rust models): unsafe both ways, the same outcomes. (The shipped buggy
    incident is too many states for enumeration: its deferral breaks, so its unpacks interleave.)"""
    from raceproof.models.rust_fs import create_dir_all, remove_dir_all

    async def parent(fs) -> None:  # type: ignore[no-untyped-def]
        await remove_dir_all(fs, "/a")
        await create_dir_all(fs, "/a")

    async def child(fs) -> str:  # type: ignore[no-untyped-def]
        await create_dir_all(fs, "/a/b")
        return str(await fs.canonicalize("/a/b"))

    plain, cached = both([parent, child], {"/a/x": b"1"})
    assert plain.verdict == cached.verdict == "unsafe"
    assert cached.outcomes == plain.outcomes and len(plain.outcomes) > 2
    assert cached.executions < plain.executions


def test_what_it_cannot_cache_is_refused_with_a_clear_error() -> None:
    async def one(fs) -> None:  # type: ignore[no-untyped-def]
        await fs.mkdir("/a")

    with pytest.raises(InputError, match="needs the memory backend"):
        explore([one, one], strategy="stateful", backend="fake", driver="direct")
    with pytest.raises(InputError, match="not with fault injectors"):
        verify(scenario.load(str(FIXED)), "stateful", inject=["errno:errno=EIO,at_most=1"], driver="direct")


def test_observations_are_exact_or_opaque() -> None:
    assert observed(b"ab") == observed(bytearray(b"ab")) != observed(b"ac")
    assert observed(FileNotFoundError(2, "No such file or directory", "/x")) != \
        observed(FileNotFoundError(2, "No such file or directory", "/y"))
    assert observed(["a", 1]) == observed(["a", 1]) != observed(("a", 1))
    thing = object()
    assert observed(thing) != observed(thing)  # opaque: never equal, so never merged


def test_a_state_key_without_the_threads_observations_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: two threads reading a file that a third rewrites reach one tree with
    different observations; a key that forgot them merges the executions and loses outcomes."""
    real = stateful.state_key

    def forgetful(sched):  # type: ignore[no-untyped-def]
        saved = [t.seen for t in sched.threads]
        for t in sched.threads:
            t.seen = 0
        try:
            return real(sched)
        finally:
            for t, s in zip(sched.threads, saved, strict=True):
                t.seen = s

    async def writer(fs) -> None:  # type: ignore[no-untyped-def]
        await fs.atomic_write_file("/x", b"1")

    async def reader(fs) -> bytes:  # type: ignore[no-untyped-def]
        first = await fs.atomic_read_file("/x")
        await fs.atomic_read_file("/x")
        return first

    programs_ = [writer, reader, reader]
    plain, cached = both(programs_, {"/x": b"0"})
    assert cached.outcomes == plain.outcomes
    monkeypatch.setattr(stateful, "state_key", forgetful)
    broken = explore(programs_, setup={"/x": b"0"}, strategy="stateful", driver="direct")
    assert broken.outcomes != plain.outcomes


def reached(functions: list, setup: dict, strategy: str, monkeypatch: pytest.MonkeyPatch) -> set:  # type: ignore[type-arg]
    """Every state (tree with identities, each thread's observations) at which `strategy`'s
    executions made a choice, computed apart from the strategy's own key."""
    from raceproof.scheduler import Scheduler

    states: set = set()  # type: ignore[type-arg]
    choose = Scheduler._choose

    def recording(self: Scheduler) -> int | None:
        self.observing = True  # before the first choice no step has run
        fs = self.vfs.state_key()
        if fs is not None:
            states.add((fs, tuple((t.seen, t.done) for t in self.threads)))
        return choose(self)

    with monkeypatch.context() as m:
        m.setattr(Scheduler, "_choose", recording)
        r = explore(functions, setup=setup, strategy=strategy, driver="direct", max_executions=BUDGET)
    assume(r.complete)
    return states


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(program=programs(ops=ALL_OPS, max_total_ops=5))
def test_stateful_dfs_reaches_every_state_plain_dfs_reaches(program: GeneratedProgram,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Stronger than equal outcomes (which merge many states): the same set of states."""
    plain = reached(program.functions(), program.setup, "dfs", monkeypatch)
    cached = reached(program.functions(), program.setup, "stateful", monkeypatch)
    assert cached == plain, str(program)


def test_a_state_key_without_the_tree_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: after ``a; b`` and ``b; a`` the writers have observed the same (nothing)
    but the file differs; both readers reading ``1`` happens only after ``b; a``."""
    from raceproof.fs.vfs import Vfs

    def writer(data: bytes):  # type: ignore[no-untyped-def]
        async def write(fs) -> None:  # type: ignore[no-untyped-def]
            await fs.atomic_write_file("/x", data)
        return write

    async def reader(fs) -> bytes:  # type: ignore[no-untyped-def]
        return bytes(await fs.atomic_read_file("/x"))

    programs_ = [writer(b"1"), writer(b"2"), reader, reader]
    plain, cached = both(programs_, {"/x": b"0"})
    assert cached.outcomes == plain.outcomes and cached.blocked > 0
    real = Vfs.state_key
    monkeypatch.setattr(Vfs, "state_key", lambda self: None if real(self) is None else ())
    broken = explore(programs_, setup={"/x": b"0"}, strategy="stateful", driver="direct")
    assert broken.outcomes < plain.outcomes
