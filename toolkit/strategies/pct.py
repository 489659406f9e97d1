"""PCT (Burckhardt et al., ASPLOS 2010): random priorities, d-1 random priority-change points.

Each execution gives every thread a distinct random priority and picks d-1 change points among
the first k steps (k = the longest execution seen so far); at the i-th change point the running
highest-priority thread drops to priority i. The highest-priority enabled thread always runs. A bug
of depth d is found with probability at least 1/(n k^(d-1)) per execution.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent


class _PctChooser:
    sees_forced = True

    def __init__(self, rng: random.Random, depth: int, length: int) -> None:
        self.rng = rng
        self.priority: dict[int, float] = {}
        points = rng.sample(range(1, max(length, depth) + 1), k=max(depth - 1, 0))
        self.changes = {p: i for i, p in enumerate(sorted(points))}

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        for t in enabled:
            if t not in self.priority:
                self.priority[t] = 10.0 + self.rng.random()
        best = max(enabled, key=lambda t: self.priority[t])
        step = len(trace)
        if step in self.changes:
            self.priority[best] = -1.0 - self.changes[step]
            best = max(enabled, key=lambda t: self.priority[t])
        return best

    def choose_value(self, thread: int, label: str, n: int) -> int:
        """Data choices (fault placements) are drawn uniformly (PCT orders threads, not data)."""
        return self.rng.randrange(n)


class Pct:
    probes_run = 0  # no probes: every execution is part of the search
    name = "pct"
    sound = False
    bounded = False

    def __init__(self, seed: int = 0, depth: int = 3, **_: object) -> None:
        self.seed = seed
        self.depth = depth
        self.count = 0
        self.length = 50
        self._running = False  # an execution started and not yet observed

    def next_execution(self) -> Chooser | None:
        rng = random.Random(f"raceproof-pct-{self.seed}-{self.count}")
        self.count += 1
        self._running = True
        return _PctChooser(rng, self.depth, self.length)

    def snapshot(self) -> dict[str, Any]:
        """The state before the running execution, if one runs (``raceproof.checkpoint``)."""
        return {"count": self.count - self._running, "length": self.length}

    def restore(self, state: dict[str, Any]) -> None:
        self.count, self.length, self._running = int(state["count"]), int(state["length"]), False

    def pending(self) -> int:
        """Unknown: -1 (a sampling strategy has no frontier)."""
        return -1

    def observe(self, execution: Execution) -> None:
        self._running = False
        self.length = max(self.length, len(execution.trace))
