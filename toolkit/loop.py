"""The one exploration loop: a strategy's executions, run one by one on a runner.

Everything that explores (``explore``/``verify``, fault placements, the counterexample's
classification and "failure certain after", the trace-counting oracle, tests) iterates this loop
and keeps its own tally; nothing else calls ``next_execution``/``run_one`` in a loop. Aborted
executions (redundant prefixes a strategy stopped) are observed by the strategy but not yielded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from raceproof.errors import InternalError
from raceproof.execution import Execution, RunnerProtocol
from raceproof.observe import Committed, Summary
from raceproof.scheduler import Chooser
from raceproof.signals import deferred
from raceproof.strategies import Strategy


class Saver(Protocol):
    """Writes a checkpoint of the exploration (``raceproof.checkpoint.Call``)."""

    def save(self) -> None:
        """Write the state now: between executions, or as it was when the running one started."""

    def tick(self) -> None:
        """Between executions: write the state if it is time to."""


class Loop:
    """``await Loop(runner, strategy, budget=N).run(visit)`` calls ``visit(execution)`` for each
    execution until the strategy runs out, the budget is spent or `visit` returns True. Then
    ``exhausted`` says whether the strategy ran out, ``budget_hit`` whether the budget stopped it,
    ``stopped`` whether `visit` did, ``executions`` counts the executions visited and ``blocked``
    the aborted ones (redundant prefixes the strategy stopped). (A
    callback, not an async generator: an async generator left early is finalized by the garbage
    collector, which Trio warns about.)

    With a `saver` (``raceproof.checkpoint``), the loop's own bookkeeping (the strategy choosing
    and learning, the observers) runs with interrupts held back, so an interrupt or error can only
    come while an execution runs or between executions, where the state is consistent: the saver
    writes it then (the running execution is run again on resume), before showing a failing
    execution to the strategy, at the end, and when its ``tick`` says so."""

    def __init__(self, runner: RunnerProtocol, strategy: Strategy, *, budget: int | None = None,
                 check: bool = True, saver: Saver | None = None) -> None:
        self.runner = runner
        self.strategy = strategy
        self.budget = budget
        self.check = check
        self.saver = saver
        self.executions = 0
        self.blocked = 0
        self.exhausted = False
        self.budget_hit = False
        self.stopped = False

    def _next(self) -> Chooser | Committed | None:
        """The next execution's chooser, a subtree's committed executions, or None (budget spent
        or strategy exhausted)."""
        if self.budget is not None and self.executions >= self.budget:
            self.budget_hit = True
            return None
        chooser = self.strategy.next_execution()
        if chooser is None:
            self.exhausted = True
        return chooser

    def _took(self, ex: Execution, visit: Callable[[Execution], bool | None]) -> bool:
        """Show a finished execution to the strategy and (unless aborted) to `visit`; True: stop."""
        self.strategy.observe(ex)
        if ex.aborted:
            self.blocked += 1
            return False
        self.executions += 1
        if visit(ex):
            self.stopped = True
            return True
        return False

    def _took_batch(self, batch: Committed, visit: Callable[[Summary], bool | None] | None) -> bool:
        """Show a committed subtree's executions to `visit` in order, as the serial loop would
        have shown them: the budget checked before each, the aborted ones counted as they came
        (those after the last shown one only if the loop goes on); True: stop."""
        if visit is None:
            raise InternalError("a strategy handed over a subtree's executions to a loop that cannot show them")
        base, before = self.blocked, 0
        for summary, blocked in batch.items:
            if self.budget is not None and self.executions >= self.budget:
                break
            before = blocked
            self.blocked = base + blocked
            self.executions += 1
            if visit(summary):
                self.stopped = True
                return True
        if self.budget is not None and self.executions >= self.budget:
            self.budget_hit = True
            self.blocked = base + before
            return True
        self.blocked = base + batch.blocked
        return False

    async def run(self, visit: Callable[[Execution], bool | None],
                  summaries: Callable[[Summary], bool | None] | None = None) -> None:
        """`summaries` sees the executions a strategy ran elsewhere (``raceproof.subtrees``)."""
        if self.saver is not None:
            return await self._run_saved(visit, self.saver)
        while (chooser := self._next()) is not None:
            if isinstance(chooser, Committed):
                if self._took_batch(chooser, summaries):
                    return
                continue
            ex = await self.runner.run_one(chooser, check=self.check)
            if self._took(ex, visit):
                return

    async def _run_saved(self, visit: Callable[[Execution], bool | None], saver: Saver) -> None:
        busy = False  # inside the bookkeeping: an error there leaves the last checkpoint as it is
        try:
            while True:
                with deferred():
                    busy = True
                    chooser = self._next()
                    if chooser is not None:
                        saver.tick()
                    busy = False
                if chooser is None:
                    saver.save()
                    return
                if isinstance(chooser, Committed):
                    raise InternalError("a checkpointed search has no subtrees explored elsewhere")
                ex = await self.runner.run_one(chooser, check=self.check)
                with deferred():
                    busy = True
                    if ex.violations:  # a resumed search runs it again, and stops there too
                        saver.save()
                    stop = self._took(ex, visit)
                    busy = False
                if stop:
                    return
        except BaseException:
            if not busy:
                saver.save()
            raise
