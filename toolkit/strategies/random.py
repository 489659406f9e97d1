"""Seeded random walk: each choice uniformly among the enabled threads."""

from __future__ import annotations

import random
from collections.abc import Sequence

from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent


class _RandomChooser:
    sees_forced = False

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        return enabled[self.rng.randrange(len(enabled))]

    def choose_value(self, thread: int, label: str, n: int) -> int:
        """Data choices (fault placements) are drawn uniformly too."""
        return self.rng.randrange(n)


class RandomWalk:
    probes_run = 0  # no probes: every execution is part of the search
    name = "random"
    sound = False
    bounded = False

    def __init__(self, seed: int = 0, **_: object) -> None:
        self.seed = seed
        self.count = 0

    def next_execution(self) -> Chooser | None:
        rng = random.Random(f"raceproof-random-{self.seed}-{self.count}")
        self.count += 1
        return _RandomChooser(rng)

    def pending(self) -> int:
        """Unknown: -1 (a sampling strategy has no frontier)."""
        return -1

    def observe(self, execution: Execution) -> None:
        """Memoryless."""
