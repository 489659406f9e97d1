"""The one exploration loop: a strategy's executions, run one by one on a runner.

Everything that explores (``explore``/``verify``, fault placements, the counterexample's
classification and "failure certain after", the trace-counting oracle, tests) iterates this loop
and keeps its own tally; nothing else calls ``next_execution``/``run_one`` in a loop. Aborted
executions (redundant prefixes a strategy stopped) are observed by the strategy but not yielded.
"""

from __future__ import annotations

from collections.abc import Callable

from raceproof.execution import Execution, RunnerProtocol
from raceproof.strategies import Strategy


class Loop:
    """``await Loop(runner, strategy, budget=N).run(visit)`` calls ``visit(execution)`` for each
    execution until the strategy runs out, the budget is spent or `visit` returns True. Then
    ``exhausted`` says whether the strategy ran out, ``budget_hit`` whether the budget stopped it,
    ``stopped`` whether `visit` did, ``executions`` counts the executions visited and ``blocked``
    the aborted ones (redundant prefixes the strategy stopped). (A
    callback, not an async generator: an async generator left early is finalized by the garbage
    collector, which Trio warns about.)"""

    def __init__(self, runner: RunnerProtocol, strategy: Strategy, *, budget: int | None = None,
                 check: bool = True) -> None:
        self.runner = runner
        self.strategy = strategy
        self.budget = budget
        self.check = check
        self.executions = 0
        self.blocked = 0
        self.exhausted = False
        self.budget_hit = False
        self.stopped = False

    async def run(self, visit: Callable[[Execution], bool | None]) -> None:
        while True:
            if self.budget is not None and self.executions >= self.budget:
                self.budget_hit = True
                return
            chooser = self.strategy.next_execution()
            if chooser is None:
                self.exhausted = True
                return
            ex = await self.runner.run_one(chooser, check=self.check)
            self.strategy.observe(ex)
            if ex.aborted:
                self.blocked += 1
                continue
            self.executions += 1
            if visit(ex):
                self.stopped = True
                return
