"""One DPOR search on several cores, with the serial search's result (``docs/PARALLEL-DPOR.md``).

The master runs the serial search. Worker processes explore, speculatively, pending branches of
the wakeup trees on the master's current path: a branch's subtree depends only on the path to its
node, the node's sleep set when the branch starts and the branch itself, and races it finds at
its node or above are recorded rather than scheduled. When the master's backtracking reaches a
branch a worker explored, it checks that the sleep set and the branch are what the worker was
given (an earlier subtree may have inserted into the branch, or a sibling run with another
footprint than predicted); if so it takes the subtree whole: the recorded races are scheduled in
their order, the executions' summaries go to the observers in their order, and the search goes on
as if it had run them itself. Otherwise the result is dropped and the master explores the branch.
Either way the search is the serial one: same executions in the same order, same verdict, count
and first counterexample. A worker's own error (a nondeterministic program, a step budget) drops
its result too: the master meets it again where the serial search would.

Workers are forked from the master (they inherit the program and the runner; a forked process
hashes strings as its parent, so its trace-class hashes are the parent's), after the master has
run ``WARMUP`` executions, so that small proofs never pay for them. Memory backend only (a real
sandbox or pyfakefs state is not the worker's to share), no checkpoint, no coverage.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from raceproof.execution import Runner, RunnerProtocol
from raceproof.loop import Loop
from raceproof.observe import Committed, Summary
from raceproof.result import Split
from raceproof.scheduler import Chooser
from raceproof.steps import Footprint
from raceproof.strategies import Strategy
from raceproof.strategies.dpor import Branch, Dpor, Node, Seq, _decode, _encode, _insert, branch_key

#: executions the master runs before it starts its workers
WARMUP = 500
#: subtrees handed out per worker at a time: one, so that a subtree sent is one being explored
#: (the master catching up with one still queued would wait for the task before it)
QUEUE = 1
#: slots of the shared table of cancelled subtrees (by subtree number, modulo this)
SLOTS = 4096
#: seconds between two checks that the workers are alive while the master waits for a subtree
LOST_CHECK_S = 0.5
#: seconds a subtree the master waits for may go without starting an execution before its worker
#: counts as hung (deadlocked in a lock the fork copied, stopped): the master then goes on alone.
#: Only liveness depends on it, never the result; an execution of a memory-backend program takes
#: milliseconds, so a minute without one is not a slow worker.
HUNG_S = 60.0


def dpor_of(strategy: Strategy) -> Dpor | None:
    """The DPOR search whose subtrees can go to workers: the strategy itself, or a portfolio's."""
    if type(strategy) is Dpor:
        return strategy
    inner = getattr(strategy, "dpor", None)
    return inner if type(inner) is Dpor else None


@dataclass
class _Sent:
    depth: int
    sleep: dict[int, Footprint]
    branch: list[object]
    result: Any  # multiprocessing.pool.AsyncResult
    task: int


@dataclass
class Subtrees:
    """The workers of one search (``attach`` makes them), the subtrees sent and what became of
    them."""

    runner: Runner
    #: the search it serves (``attach`` sets its ``subtrees``, ``close`` takes it back)
    dpor: Dpor
    workers: int
    classes: bool
    outcomes: bool
    #: the search stops at its first failing execution: so does a worker's subtree
    stop: bool
    warmup: int = WARMUP
    pool: Any = None
    sent: dict[Branch, _Sent] = field(default_factory=dict)
    running: list[_Sent] = field(default_factory=list)
    seen: int = 0
    #: shared with the workers: the number of the subtree the master wants handed over now
    handover: Any = None
    #: shared with the workers: subtrees no longer wanted (their worker stops at its next execution)
    cancelled: Any = None
    #: shared with the workers: executions started per subtree (a heartbeat, by slot like ``cancelled``)
    progress: Any = None
    tasks: int = 0
    #: the pool's worker processes when it started; a worker died or hung (and the search went on
    #: alone)
    pids: set[int | None] = field(default_factory=set)
    lost: bool = False
    #: subtrees sent, taken whole, dropped (the branch or sleep set changed, or the worker failed)
    spawned: int = 0
    committed: int = 0
    dropped: int = 0
    #: subtrees forgotten because their branch grew after they were sent (sent again)
    resent: int = 0
    #: executions taken from the workers
    executions: int = 0
    #: subtrees handed over unfinished (the master caught up with the worker and went on from
    #: its frontier)
    handed: int = 0

    @classmethod
    def attach(cls, runner: RunnerProtocol, strategy: Strategy, jobs: int, *, classes: bool,
               outcomes: bool, stop: bool, warmup: int | None = None) -> Subtrees | None:
        """Workers for `strategy`'s DPOR search on `runner`, if there is one to split and more
        than one job; None otherwise (the search runs alone, as it would anyway). `warmup`:
        executions before the workers start (default ``WARMUP``, read now)."""
        dpor = dpor_of(strategy)
        if (jobs < 2 or dpor is None or dpor.values.recorded or not isinstance(runner, Runner)
                or runner.backend.name != "memory"):
            return None
        subtrees = cls(runner, dpor, jobs - 1, classes, outcomes, stop, WARMUP if warmup is None else warmup)
        dpor.subtrees = subtrees
        return subtrees

    def close(self) -> None:
        """Stop the workers (a subtree still running is not needed any more); the search goes on,
        if at all, alone."""
        self.dpor.subtrees = None
        if self.pool is not None:
            from raceproof.mountsets import _stop

            _stop(self.pool)
            self.pool = None
        self.sent.clear()
        self.running.clear()

    def _start(self) -> None:
        global _CONTEXT
        from raceproof.mountsets import _worker_start, pool_pids

        ctx = multiprocessing.get_context("fork")
        self.handover = ctx.Value("q", -1, lock=False)
        self.cancelled = ctx.Array("b", SLOTS, lock=False)
        self.progress = ctx.Array("q", SLOTS, lock=False)
        _CONTEXT = (self.runner, self.classes, self.outcomes, self.stop, self.handover, self.cancelled,
                    self.progress)
        self.pool = ctx.Pool(self.workers, initializer=_worker_start, initargs=((), os.getpid()))
        self.pids = pool_pids(self.pool)

    def _result(self, sent: _Sent) -> _Result | None:
        """The subtree's result, or None if it is lost: a worker died (the pool replaces it, and
        the task it ran never ends), hung (no execution started for ``HUNG_S`` seconds), or the
        result could not cross. Then the master explores the rest of the search alone: dropping
        a subtree is always sound, waiting for a lost one would hang."""
        from raceproof.mountsets import pool_pids

        slot = sent.task % SLOTS
        beat, since = self.progress[slot], time.monotonic()
        while True:
            try:
                got: _Result | None = sent.result.get(timeout=LOST_CHECK_S)
                return got
            except multiprocessing.TimeoutError:
                if pool_pids(self.pool) == self.pids:
                    now = time.monotonic()
                    if self.progress[slot] != beat:
                        beat, since = self.progress[slot], now
                        continue
                    if now - since < HUNG_S:
                        continue
            except Exception:  # a result that could not cross (an unpicklable failing execution)
                return None
            self.lost = True
            self.close()
            return None

    def spawn(self, dpor: Dpor) -> None:
        """Hand out pending branches, shallowest first, while a worker has room: those whose
        node's sleep set at their start is known (every earlier branch there has a footprint)."""
        if self.pool is None:
            self.seen += 1
            if self.seen < self.warmup:
                return
            self._start()
        room = self.workers * QUEUE - self._busy()
        if room <= 0:
            return
        stack = dpor.stack
        for depth in range(len(stack) - 1):
            node = stack[depth]
            if len(node.wut) < 2 or node.fp is None:
                continue
            sleep = dict(node.sleep)
            sleep[node.tid] = node.fp
            for br in node.wut[1:]:
                if br not in self.sent:
                    self._send(dpor, depth, br, dict(sleep))
                    room -= 1
                    if not room:
                        return
                if br.fp is None:
                    break
                sleep[br.tid] = br.fp

    def _send(self, dpor: Dpor, depth: int, br: Branch, sleep: dict[int, Footprint]) -> None:
        above = [Node(dict(n.sleep), [], n.tid, n.fp) for n in dpor.stack[:depth]]
        state = _encode([*above, Node(sleep, [br], br.tid, None)])
        self.tasks += 1
        self.cancelled[self.tasks % SLOTS] = 0
        self.progress[self.tasks % SLOTS] = 0
        sent = _Sent(depth, sleep, branch_key(br), self.pool.apply_async(_explore, ((state, depth, dpor.prefix,
                                                                                     self.tasks),)), self.tasks)
        self.sent[br] = sent
        self.running.append(sent)
        self.spawned += 1

    def _busy(self) -> int:
        """Subtrees being explored now."""
        self.running = [s for s in self.running if not s.result.ready()]
        return len(self.running)

    def _catch_up(self, sent: _Sent) -> None:
        """The serial search has reached a subtree still being explored: its worker hands over
        what it has done after its current execution, and the rest of the subtree (its stack
        below this node) becomes the master's."""
        self.handover.value = sent.task

    def grown(self, br: Branch) -> None:
        """A pending branch grew (a race's reversal went into it): a subtree sent for it is out of
        date, so it is forgotten (the next ``spawn`` sends the branch as it is now)."""
        sent = self.sent.pop(br, None)
        if sent is not None:
            self.cancelled[sent.task % SLOTS] = 1
            self.resent += 1

    @staticmethod
    def _sleep_matches(node: Node, sent: _Sent) -> bool:
        return node.sleep == sent.sleep

    def commit(self, dpor: Dpor) -> Committed | None:
        """At the start of the top node's current branch: that branch's subtree, if a worker
        explored it from the very state the serial search is in now, else None."""
        node = dpor.stack[-1]
        br = node.wut[0]
        sent = self.sent.pop(br, None)
        if sent is None:
            return None
        if (not dpor.may_commit or sent.depth != len(dpor.stack) - 1 or not self._sleep_matches(node, sent)
                or branch_key(br) != sent.branch):
            self.cancelled[sent.task % SLOTS] = 1
            self.dropped += 1
            return None
        if not sent.result.ready():
            self._catch_up(sent)
        try:
            got = self._result(sent)
        finally:
            self.handover.value = -1
        if got is None:
            self.dropped += 1
            return None
        items, blocked, recorded, fp, frontier = got
        stack = dpor.stack
        for i, v in recorded:
            grown = _insert(stack[i].wut, v)
            if grown is not None:
                self.grown(grown)
        node.fp = fp
        if br.fp is None:
            br.fp = fp
        if frontier is not None:  # the master goes on from where the worker stopped
            stack += _decode(frontier)
            self.handed += 1
        dpor.blocked += blocked
        self.committed += 1
        self.executions += len(items)
        return Committed(items, blocked)

    def split(self) -> Split | None:
        """What the workers did, for the result (None if they never started)."""
        if self.pool is None and not self.spawned:
            return None
        return Split(self.workers, self.spawned, self.committed, self.dropped, self.resent, self.handed,
                     self.executions, self.lost)


#: a worker's runner and what its summaries hold, and the shared handover value, cancelled and
#: progress tables, inherited from the master at the fork
_CONTEXT: tuple[Runner, bool, bool, bool, Any, Any, Any] | None = None

_Result = tuple[list[tuple[Summary, int]], int, list[tuple[int, Seq]], Footprint, dict[str, Any] | None]


class _Subtree:
    """A worker's search: DPOR restored at a branch, noting the branch's footprint."""

    name = "dpor"
    sound = True
    bounded = False
    probes_run = 0

    def __init__(self, dpor: Dpor, depth: int, task: int, handover: Any, cancelled: Any, progress: Any) -> None:
        self.dpor = dpor
        self.depth = depth
        self.task = task
        self.handover = handover
        self.cancelled = cancelled
        self.progress = progress
        self.fp: Footprint | None = None
        self.handed = False

    def next_execution(self) -> Chooser | Committed | None:
        if self.handover.value == self.task:  # the master has caught up: it takes the rest
            self.handed = True
            return None
        slot = self.task % SLOTS
        if self.cancelled[slot]:  # not wanted any more
            return None
        self.progress[slot] += 1  # the master's liveness check: this worker is not hung
        return self.dpor.next_execution()

    def observe(self, execution: Any) -> None:
        if self.fp is None:
            self.fp = execution.trace[self.depth].footprint
        self.dpor.observe(execution)

    def pending(self) -> int:
        return self.dpor.pending()


def _explore(task: tuple[dict[str, Any], int, list[int], int]) -> _Result | None:
    """In a worker: every execution of one branch's subtree, as the serial search runs them, or
    those up to the master's request to hand the subtree over, with the search's stack below
    the branch's node (the rest of the subtree)."""
    assert _CONTEXT is not None
    runner, classes, outcomes, stop, handover, cancelled, progress = _CONTEXT
    state, depth, prefix, number = task
    dpor = Dpor(prefix)
    dpor.restore({"started": True, "ready": True, "blocked": 0, **state})
    dpor.record_depth = depth
    search = _Subtree(dpor, depth, number, handover, cancelled, progress)
    loop = Loop(runner, search)
    items: list[tuple[Summary, int]] = []

    def visit(ex: Any) -> bool:
        items.append((Summary.of(ex, classes=classes, outcomes=outcomes), loop.blocked))
        return stop and bool(ex.violations)  # the master stops there: the rest is not needed

    async def driver(r: Any) -> None:
        await loop.run(visit)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(driver)
        except BaseException as exc:  # the master meets it again in the serial search
            errors.append(exc)

    # a fresh thread: the worker may have been forked inside the master's trio.run, whose
    # per-thread state it inherited
    t = threading.Thread(target=run, name="raceproof-subtree")
    t.start()
    t.join()
    if errors or search.fp is None:
        return None
    frontier = _encode(dpor.stack[depth + 1:]) if search.handed and dpor.stack else None
    return items, loop.blocked, dpor.recorded, search.fp, frontier
