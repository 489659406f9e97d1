"""Plain depth-first enumeration of every interleaving (no reduction): the reference.

``PreemptionBounded`` is the same enumeration restricted to schedules with at most ``bound``
preemptions (switching away from a thread that could have continued). Exhausting it proves the
property only within the bound: its verdict is ``bounded``, never ``safe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent


class _PathChooser:
    """Follows a prefix of (enabled, index) decisions, then takes the first allowed option."""

    sees_forced = False

    def __init__(self, owner: Dfs) -> None:
        self.owner = owner
        self.depth = 0

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        owner = self.owner
        options = owner.options(enabled, trace)
        if self.depth < len(owner.path):
            opts, idx = owner.path[self.depth]
            chosen = opts[idx]
        else:
            owner.path.append((options, 0))
            chosen = options[0]
        self.depth += 1
        return chosen

    def choose_value(self, thread: int, label: str, n: int) -> int:
        """Data choices (fault placements) are branches too: every value is enumerated."""
        owner = self.owner
        if self.depth < len(owner.path):
            opts, idx = owner.path[self.depth]
            chosen = opts[idx]
        else:
            opts = tuple(range(n))
            owner.path.append((opts, 0))
            chosen = 0
        self.depth += 1
        return chosen


class Dfs:
    probes_run = 0  # no probes: every execution is part of the search
    name = "dfs"
    sound = True
    bounded = False

    def __init__(self, **_: object) -> None:
        self.path: list[tuple[tuple[int, ...], int]] = []
        self.started = False

    def options(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> tuple[int, ...]:
        return enabled

    def next_execution(self) -> Chooser | None:
        if self.started:
            while self.path:
                opts, idx = self.path[-1]
                if idx + 1 < len(opts):
                    self.path[-1] = (opts, idx + 1)
                    break
                self.path.pop()
            else:
                return None
        self.started = True
        return _PathChooser(self)

    def observe(self, execution: Execution) -> None:
        """The path is the whole state."""

    def pending(self) -> int:
        """Untried alternatives on the current path (a lower bound on the executions left)."""
        return sum(len(opts) - idx - 1 for opts, idx in self.path)


class PreemptionBounded(Dfs):
    name = "preemption"
    sound = False
    bounded = True

    def __init__(self, bound: int = 2, **_: object) -> None:
        super().__init__()
        self.bound = bound

    def options(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> tuple[int, ...]:
        if not trace:
            return enabled
        last = trace[-1].thread
        if last not in enabled:
            return enabled
        preemptions = _preemptions(trace)
        if preemptions >= self.bound:
            return (last,)
        return (last, *[t for t in enabled if t != last])


def _preemptions(trace: Sequence[StepEvent]) -> int:
    count = 0
    for prev, cur in pairwise(trace):
        if cur.thread != prev.thread and prev.thread in cur.enabled:
            count += 1
    return count
