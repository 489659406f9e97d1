"""Stateful depth-first search: plain enumeration that never explores a state twice.

Every interleaving, like ``dfs``, except that an execution reaching a state already reached
(*visited*) stops there (it is aborted, counted as blocked): everything after that state was or
is being explored from its first visit. No partial-order reduction is combined with it (caching
under DPOR is unsound without the sleep/wakeup information of the cut subtree, Yang et al.
2008); this is the issue's "caching under a plain DFS", an independent proof method that DPOR's
verdicts can be checked against, and a search that merges interleavings DPOR keeps apart (two
orders of dependent steps that end in the same state).

**The state** at a choice point: the whole tree (``MemoryBackend``: every entry's kind, bytes and
link target, which names share a file, and each file's schedule-independent identity, the one
``stat`` reveals), the mounts, the scheduler's events and barriers, and for each thread whether
it has finished and what it has *observed*: the hash of every step's operation, path and exact
result (``raceproof.scheduler.observed``: values and errors field by field; anything else is
opaque and never equal) and every data choice. A thread is a deterministic coroutine, so what it
observed fixes what it does next. Not cached: a point where a file handle or a directory is open
(the backend's handle table and open directories are not in the key; such points are explored
as by ``dfs``).

**Why pre-order marking is sound.** A state is marked when first reached. States never repeat on
one path (every step adds to some thread's observations), and depth-first search finishes the
subtree of a node before it leaves it, so a state reached again was reached in a subtree that
is finished: every continuation from it was explored (with the same verdicts: the checks judge
the outcome, a function of the state at the end and the threads' results, which their
observations fix).

**Assumptions** (checked where they can be): threads share nothing but the filesystem and the
scheduler's synchronisation (no shared Python objects: true of the built-in models; a user's
programs must not communicate through Python state); the memory backend (refused otherwise); no
fault injector (their own state is not in the key: refused); the checks judge the outcome
(``raceproof.checks``; the default ones do). Hash-based: two different states are taken for one
with probability about 2^-64 per pair. Tested against plain ``dfs`` on generated programs and the
known-count programs (``tests/search/test_stateful.py``): the same verdicts and outcome sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raceproof.errors import InputError
from raceproof.fs.memory import MemoryBackend
from raceproof.scheduler import ABORT, Scheduler, TrioDriver
from raceproof.steps import StepEvent
from raceproof.strategies.dfs import Dfs, _PathChooser


class _CachingChooser(_PathChooser):
    def __init__(self, owner: StatefulDfs) -> None:
        super().__init__(owner)
        self.stateful = owner
        self.sched: Scheduler | None = None

    def attach(self, sched: Scheduler) -> None:
        if not isinstance(sched.vfs.backend, MemoryBackend):  # the only one that gives its state
            raise InputError("strategy stateful: needs the memory backend (--backend memory)")
        if sched.hooks or sched.step_wrappers:
            raise InputError("strategy stateful: not with fault injectors (their own state is not cached)")
        sched.observing = True
        self.sched = sched

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        owner = self.stateful
        if self.depth >= len(owner.path) and self.sched is not None:
            key = state_key(self.sched)
            if key is not None:
                if key in owner.visited:
                    owner.cut += 1
                    return ABORT
                owner.visited.add(key)
        return super().choose(enabled, trace)


class StatefulDfs(Dfs):
    """``dfs`` that stops an execution at a state it has reached before."""

    name = "stateful"
    sound = True
    bounded = False

    def __init__(self, **_: object) -> None:
        super().__init__()
        self.visited: set[int] = set()
        #: executions stopped at a visited state
        self.cut = 0

    def next_execution(self) -> _CachingChooser | None:
        chooser = super().next_execution()
        return None if chooser is None else _CachingChooser(self)


def state_key(sched: Scheduler) -> int | None:
    """The hash of `sched`'s whole state (the module docstring), or None when a handle or a
    directory is open (not cached there)."""
    fs = sched.vfs.state_key()
    if fs is None:
        return None
    threads = tuple([(t.seen, t.done) for t in sched.threads])
    sync = (tuple(sorted(sched.events)), tuple(sorted((k, tuple(sorted(v))) for k, v in sched.barriers.items())))
    clock: Any = None
    if isinstance(sched.driver, TrioDriver):
        import trio

        clock = trio.current_time()  # virtual time (a step may wait in it)
    return hash((fs, threads, sync, clock))
