"""Blocking steps partial-order reduction understands: events and barriers (issue 11's gap).

A thread waiting for an event or a barrier is not enabled; the step that enabled it stays before
it, and dpor reverses such a race only when other enabling steps would still come first. Checked
against plain enumeration on generated programs full of them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from raceproof import explore
from raceproof.testing import TOO_LARGE, GeneratedProgram, compare_strategies, programs

SYNC_OPS = ("set_event", "wait_event", "barrier", "write_file", "read_file", "mkdir", "listdir", "unlink")


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(ops=SYNC_OPS, paths=("/d", "/d/f", "/e"), max_total_ops=6))
def test_dpor_and_dfs_agree_with_events_and_barriers(program: GeneratedProgram) -> None:
    problems = compare_strategies(program.functions(), setup=program.setup, optimal=False, max_executions=3000)
    assume(problems != [TOO_LARGE])
    assert problems == [], str(program)


async def cleaner(fs: Any) -> None:
    """The parent: remove what the last session left, then let the children in."""
    if await fs.exists("/m"):
        await fs.remove_dir_all("/m")
    await fs.create_dir_all("/m")
    await fs.set_event("parent-clean")


async def child(fs: Any) -> None:
    await fs.wait_event("parent-clean")
    await fs.create_dir_all(f"/m/skills/s{fs.tid}")
    await fs.write_file(f"/m/skills/s{fs.tid}/SKILL.md", b"x")


@pytest.mark.parametrize("strategy", ["dpor", "dfs", "pct", "random"])
def test_children_never_run_before_the_parent_has_cleaned(strategy: str) -> None:
    def all_children_landed(ex: Any) -> bool:
        return all(f"/m/skills/s{t}/SKILL.md" in ex.tree for t in (1, 2))

    r = explore([cleaner, child, child], setup={"/m/stale": b"old"}, check=all_children_landed,
                strategy=strategy, max_executions=300)
    assert r.counterexample is None
    assert r.outcomes and all("/m/stale" not in dict(o[0]) for o in r.outcomes)
    if strategy == "dpor":
        assert (r.verdict, r.blocked) == ("safe", 0)
        assert compare_strategies([cleaner, child, child], setup={"/m/stale": b"old"}) == []


async def party(fs: Any) -> list[str]:
    await fs.mkdir(f"/w{fs.tid}")
    await fs.barrier("go", 3)
    return sorted(await fs.listdir("/"))


def test_a_barrier_lets_nobody_through_early_and_arrivals_commute() -> None:
    r = explore([party, party, party], strategy="dpor")
    assert (r.verdict, r.executions) == ("safe", 1)  # arrivals commute; after it, listings agree
    assert {o[1] for o in r.outcomes} == {(("ok", repr(["w0", "w1", "w2"])),) * 3}


def test_a_wait_that_nothing_satisfies_is_a_deadlock() -> None:
    async def waits_forever(fs: Any) -> None:
        await fs.wait_event("never")

    r = explore([waits_forever, party], strategy="dpor")
    assert r.verdict == "unsafe" and r.counterexample is not None
    assert [v.check for v in r.counterexample.violations] == ["no-deadlock"]



def test_a_blocking_step_is_not_moved_before_its_enablers_earlier_step() -> None:
    """``_forced``: thread T's step 0 races with U's blocking step 2 (it reads what step 0
    wrote), but only T's *later* step 1 enables step 2. Step 2 cannot run before step 0 (its
    enabler comes after it), so the order is forced; DPOR used to try the reversal and stop with
    NondeterminismError (the keep-alive branch's crash hook hit it)."""
    from raceproof.steps import Footprint, StepEvent
    from raceproof.strategies.dpor import _enablers, _forced

    t0 = StepEvent(0, 0, "prepare", "", "ok", footprint=Footprint(writes=frozenset({"r:x"})))
    t1 = StepEvent(1, 0, "set_event", "go", "ok", footprint=Footprint(writes=frozenset({"ev:go"})))
    u = StepEvent(2, 1, "wait", "go", "ok", footprint=Footprint(reads=frozenset({"r:x", "ev:go"}),
                                                                 waits=frozenset({"ev:go"}), need=1))
    hb = [0, 0b1, 0b11]  # program order: 0 -> 1; step 2 after both
    trace = [t0, t1, u]
    assert _forced(0, 2, hb, trace, _enablers(trace))  # its only enabler happens after step 0
    other = StepEvent(1, 2, "set_event", "go", "ok", footprint=Footprint(writes=frozenset({"ev:go"})))
    u2 = StepEvent(2, 1, "wait", "go", "ok", footprint=u.footprint)
    trace = [t0, other, u2]
    assert not _forced(0, 2, [0, 0, 0b11], trace, _enablers(trace))  # another thread's enabler: reversible


def test_dpor_agrees_with_dfs_when_an_enablers_earlier_step_races_with_the_wait() -> None:
    from raceproof import explore

    async def t(fs):  # type: ignore[no-untyped-def]
        def touch() -> None:
            fs.vfs.fp.writes.add("r:x")

        await fs.step("prepare", "", touch)  # races with U's wait (which reads r:x)
        await fs.set_event("go")

    async def u(fs):  # type: ignore[no-untyped-def]
        def passed() -> None:
            fs.vfs.fp.reads.update({"r:x", "ev:go"})
            fs.vfs.fp.waits.add("ev:go")
            fs.vfs.fp.need = 1

        await fs.step("wait_prepared", "go", passed, until=lambda: "go" in fs.sched.events)

    d = explore([t, u], strategy="dpor")
    f = explore([t, u], strategy="dfs")
    assert d.verdict == f.verdict == "safe"
    assert d.outcomes == f.outcomes and d.executions == 1
