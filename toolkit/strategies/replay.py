"""Replay one recorded schedule (the choice list of a token), and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from raceproof.errors import TokenError
from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent


class ReplayChooser:
    sees_forced = False

    def __init__(self, choices: Sequence[int], *, lenient: bool = False) -> None:
        self.choices = list(choices)
        self.pos = 0
        self.lenient = lenient

    def _next(self, what: str) -> int | None:
        if self.pos >= len(self.choices):
            if self.lenient:
                return None
            raise TokenError(f"the token ended at choice {self.pos} while {what}; it is for another program")
        value = self.choices[self.pos]
        self.pos += 1
        return value

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        value = self._next(f"threads {list(enabled)} were still enabled")
        if value is None:
            return enabled[0]
        if value not in enabled:
            if self.lenient:
                return enabled[0]
            raise TokenError(f"the token picks thread {value} at step {len(trace)}, but only {list(enabled)} "
                             "are enabled; it is for another program")
        return value

    def choose_value(self, thread: int, label: str, n: int) -> int:
        value = self._next(f"a value for {label} was needed")
        if value is None:
            return 0
        if not 0 <= value < n:
            if self.lenient:
                return 0
            raise TokenError(f"the token gives value {value} for {label}, outside range({n})")
        return value


class Replay:
    """Strategy wrapper: exactly one execution, following `choices`."""

    name = "replay"
    sound = False
    bounded = False

    def __init__(self, choices: Sequence[int] = (), lenient: bool = False, **_: object) -> None:
        self.choices = list(choices)
        self.lenient = lenient
        self.done = False

    def next_execution(self) -> Chooser | None:
        if self.done:
            return None
        self.done = True
        return ReplayChooser(self.choices, lenient=self.lenient)

    def observe(self, execution: Execution) -> None:
        """Nothing to learn."""
