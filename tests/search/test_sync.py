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
