"""Replay one recorded schedule (the choice list of a token), and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from raceproof.errors import TokenError
from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent


class ReplayChooser:
    """Answers the scheduler from a token's choice list.

    Strict (the default) raises ``TokenError`` at the first choice that does not fit. With
    ``lenient`` a misfit is answered with the first enabled thread (or value 0) so the run always
    completes; with ``collect`` the first misfit is also remembered in ``misfit`` (the caller raises
    it after the run: the error never has to cross the scheduler)."""

    sees_forced = False

    def __init__(self, choices: Sequence[int], *, lenient: bool = False, collect: bool = False) -> None:
        self.choices = list(choices)
        self.pos = 0
        self.collect = collect
        self.lenient = lenient or collect
        self.misfit: str | None = None

    def _misfit(self, message: str) -> None:
        if not self.lenient:
            raise TokenError(message)
        if self.collect and self.misfit is None:
            self.misfit = message

    def _next(self, what: str) -> int | None:
        if self.pos >= len(self.choices):
            self._misfit(f"token: it has {len(self.choices)} choices, but the run needed more "
                         f"(at choice {self.pos}, {what}); it is for another program")
            return None
        value = self.choices[self.pos]
        self.pos += 1
        return value

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        value = self._next(f"threads {list(enabled)} were enabled")
        if value is None:
            return enabled[0]
        if value not in enabled:
            self._misfit(f"token: choice {self.pos - 1} picks thread {_short(value)} at step {len(trace)}, but only "
                         f"{list(enabled)} are enabled; it is for another program")
            return enabled[0]
        return value

    def choose_value(self, thread: int, label: str, n: int) -> int:
        value = self._next(f"a value for {label} was needed")
        if value is None:
            return 0
        if not 0 <= value < n:
            self._misfit(f"token: choice {self.pos - 1} gives value {_short(value)} for {label}, outside 0..{n - 1}; "
                         "it is for another program")
            return 0
        return value

    def leftover(self) -> str | None:
        """After the run: the first misfit, or a message if choices were left unused."""
        if self.misfit is not None:
            return self.misfit
        if self.pos < len(self.choices):
            return (f"token: the run ended after {self.pos} of its {len(self.choices)} choices "
                    f"({len(self.choices) - self.pos} left over); it is for another program")
        return None


def _short(value: int) -> str:
    text = str(value) if value < 10**12 else f"of {value.bit_length()} bits"
    return text


class Replay:
    """Strategy wrapper: exactly one execution, following `choices`."""
    probes_run = 0  # no probes: every execution is part of the search

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

    def pending(self) -> int:
        """Unknown: -1 (a sampling strategy has no frontier)."""
        return -1

    def observe(self, execution: Execution) -> None:
        """Nothing to learn."""
