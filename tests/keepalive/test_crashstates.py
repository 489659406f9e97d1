"""Crash states read off the crash-free exploration (``raceproof.keepalive.crashstates``) against
the states the slow ways reach: every crash placement explored (the keep-alive runs), and every
interleaving's every prefix (plain enumeration of generated programs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings

from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram
from raceproof.fs.memory import MemoryBackend
from raceproof.keepalive import crashstates, stale
from raceproof.keepalive.crashsplit import crash_trees
from raceproof.loop import Loop
from raceproof.mountsets import scenario_for_name
from raceproof.scenario import load
from raceproof.scheduler import Scheduler
from raceproof.strategies.dfs import Dfs
from raceproof.testing import ALL_OPS, GeneratedProgram, Op, programs

ROOT = Path(__file__).resolve().parents[2]
BASE = load(ROOT / "scenarios" / "keepalive.toml")
WANTED = {"P1", "P2", "P3", "P4"}
ORACLE_BUDGET = 3000


def trees(stage1: Any) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(tree.items())) for tree in stage1[1]}


@pytest.mark.parametrize(("algorithm", "mount_set", "state"), [
    ("A", "2:chain:r0/spine:w2", "none"), ("A", "2:siblings:rr/spine:w1", "link-in"),
    ("A", "3:siblings:rrr/spine:w2", "none"), pytest.param("A", "3:mixed:rr1/spine:w2", "none", marks=pytest.mark.slow),
    ("B", "2:chain:r0/spine:w2", "file"), ("B", "3:siblings:rrr/spine:w2", "none"),
    ("C", "2:chain:r0/spine:w2", "none"), ("D", "2:chain:r0/spine:w1", "previous"),
    pytest.param("D", "2:siblings:rr/spine:w2", "none", marks=pytest.mark.slow),
    ("fixed", "2:chain:r0/spine:w2", "file"),
    pytest.param("pre-cleanup", "2:chain:r0/spine:w2", "none", marks=pytest.mark.slow),
])
def test_the_crash_trees_are_those_every_crash_placement_reaches(algorithm: str, mount_set: str, state: str) -> None:
    sc = stale.apply(scenario_for_name(BASE.with_changes(algorithm=algorithm), mount_set), state)
    fast = crash_trees(sc, WANTED)
    slow = crash_trees(sc, WANTED, placements=True)
    assert fast is not None and slow is not None
    assert fast[3] and slow[3]  # both complete
    assert trees(fast) == trees(slow)
    assert fast[2] < slow[2]  # the crash-free executions alone
    # the same crash-free judgement: the first failing execution per property, and what P5 is
    # judged against
    assert {p: ex.choices for p, ex in fast[0].items()} == {p: ex.choices for p, ex in slow[0].items()}
    assert fast[4].crash_free_broken == slow[4].crash_free_broken


def every_prefix_state(program: GeneratedProgram) -> tuple[set[Any], bool]:
    """Plain enumeration: the entries before every step that cannot block, in every interleaving."""
    seen: set[Any] = set()

    class Hooked(FunctionProgram):
        def hooks(self, sched: Scheduler) -> None:
            super().hooks(sched)

            def look(s: Scheduler, tid: int, op: str, path: str) -> None:
                backend = s.vfs.backend
                assert isinstance(backend, MemoryBackend)
                seen.add(crashstates.key(backend.entries()))

            sched.hooks.append(look)

    hooked = Hooked(program.functions(), setup=program.setup)
    with Runner(hooked, "memory", "direct") as runner:
        async def driver(r: Runner) -> bool:
            loop = Loop(r, Dfs(), budget=ORACLE_BUDGET)
            await loop.run(lambda ex: False)
            return loop.exhausted

        done = runner.run(driver)
    return seen, bool(done)


def blocking_free(program: GeneratedProgram) -> bool:
    """The oracle above looks before every executed step; the reading-off counts a step as a crash
    point only if it cannot block. Programs with blocking steps are compared without them."""
    return not any(op.name in ("wait_event", "barrier", "wait_arrivals") for ops in program.threads for op in ops)


#: a write through a handle to a file another thread unlinks: the two commute (a file's bytes, an
#: entry), so one explored order stands for both; the states between them differ (the bytes are
#: on a name, or lost with the unlinked file). Changes must be kept per name and per file.
ORPHAN_WRITE = GeneratedProgram(threads=((Op("unlink", "/d/f"),), (Op("append", "/d/f", b"more"),)),
                                initial=(("/d", None), ("/d/f", b"old")))


@pytest.mark.quick(40)
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(ops=ALL_OPS, max_total_ops=5))
@example(ORPHAN_WRITE)
def test_every_reachable_state_is_an_ideal_of_an_explored_execution(program: GeneratedProgram) -> None:
    """The claim the reading-off rests on: the states before every non-blocking step of every
    interleaving (plain enumeration) are exactly the states of the ideals of the executions optimal
    DPOR explores, over every ``SchedFS`` operation (renames, links, handles, composites)."""
    assume(blocking_free(program))
    oracle, complete = every_prefix_state(program)
    assume(complete)

    def judge(ex: Execution) -> bool:
        return False

    states, _n, done = crashstates.explore(FunctionProgram(program.functions(), setup=program.setup), "memory",
                                           None, judge, every_step=True)
    assert done
    assert {crashstates.key(s) for s in states} == oracle, str(program)
