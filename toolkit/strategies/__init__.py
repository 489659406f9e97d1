"""Strategies: each decides the schedule of every execution. One small module per strategy.

A strategy is a small object (Protocol ``Strategy``): ``next_execution()`` returns a chooser for
the next execution (or None when it has nothing left), ``observe()`` sees the finished execution.
Implementations are found by name through ``REGISTRY`` (lazy imports), so the core never imports
them directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from raceproof.errors import UnknownNameError
from raceproof.execution import Execution
from raceproof.observe import Committed
from raceproof.scheduler import Chooser


class Strategy(Protocol):
    name: str
    #: exhausting this strategy proves the property for every interleaving
    sound: bool
    #: exhausting it proves the property only within a bound (verdict ``bounded``)
    bounded: bool
    #: how many executions so far were probes ahead of the complete search (``portfolio``), 0 for others
    probes_run: int

    def next_execution(self) -> Chooser | Committed | None:
        """The chooser for the next execution, or None when the strategy is exhausted (DPOR with
        workers may also hand over a subtree's executions run elsewhere: ``raceproof.subtrees``)."""

    def observe(self, execution: Execution) -> None:
        """See a finished execution (DPOR computes its races here)."""

    def pending(self) -> int:
        """A lower bound on the executions left (for progress), or -1 when unknown."""


class PinnedValues:
    """A run's data choices (fault decisions) replayed per thread and label: each thread asks its
    own in the same order in every interleaving, though the global order of asking changes. A
    choice not recorded (or out of range now) is 0, no fault."""

    def __init__(self, values: Sequence[tuple[int, str, int]] = ()) -> None:
        self.recorded: dict[tuple[int, str], list[int]] = {}
        for thread, label, value in values:
            self.recorded.setdefault((thread, label), []).append(value)

    def asker(self) -> Callable[[int, str, int], int]:
        """A fresh ``choose_value`` for one execution (it counts each thread's questions)."""
        asked: dict[tuple[int, str], int] = {}

        def choose_value(thread: int, label: str, n: int) -> int:
            key = (thread, label)
            k = asked.get(key, 0)
            asked[key] = k + 1
            recorded = self.recorded.get(key, ())
            return recorded[k] if k < len(recorded) and recorded[k] < n else 0

        return choose_value


REGISTRY: dict[str, str] = {
    "dpor": "raceproof.strategies.dpor:Dpor",
    "portfolio": "raceproof.strategies.portfolio:Portfolio",
    "dfs": "raceproof.strategies.dfs:Dfs",
    "stateful": "raceproof.strategies.stateful:StatefulDfs",
    "random": "raceproof.strategies.random:RandomWalk",
    "pct": "raceproof.strategies.pct:Pct",
    "preemption": "raceproof.strategies.dfs:PreemptionBounded",
    "replay": "raceproof.strategies.replay:Replay",
}


def make_strategy(name: str, **options: Any) -> Strategy:
    """Instantiate a strategy by name; unknown names list the known ones."""
    target = REGISTRY.get(name)
    if target is None:
        raise UnknownNameError("strategy", name, REGISTRY)
    module, attr = target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(**options)  # type: ignore[no-any-return]


#: executions a sampling strategy runs when no budget is given (it never exhausts on its own)
SAMPLING_BUDGET = 1000


def with_defaults(strategy: str, max_executions: int | None, seed: int, options: dict[str, Any],
                  fallback: int | None = None) -> int | None:
    """Fill in a strategy's defaults: sampling strategies (random, pct) get `seed` and, without a
    budget, ``SAMPLING_BUDGET``; otherwise the budget is `max_executions`, else `fallback`.
    Returns the budget (None: until the strategy is exhausted). ``portfolio`` gets `seed` (for its
    PCT probes) and no budget: it ends when its DPOR search does."""
    if strategy == "portfolio":
        options.setdefault("seed", seed)
    if strategy in ("random", "pct"):
        options.setdefault("seed", seed)
        if max_executions is None:
            max_executions = SAMPLING_BUDGET
    return fallback if max_executions is None else max_executions

