"""The exception hierarchy. Every error raceproof raises on purpose derives from RaceproofError.

Bad input (exit code 2) raises a subclass of InputError whose message is one line that names the
file and the field; the CLI prints it verbatim and never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RaceproofError(Exception):
    """Root of raceproof's own errors."""


class InputError(RaceproofError):
    """Bad input from the user: a scenario, a token, an option. Exit code 2."""


class ScenarioError(InputError):
    """A scenario file is missing, malformed or invalid; names the file and the field."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = file
        self.field = field
        super().__init__(f"{file}: {field}: {message}" if field else f"{file}: {message}")


class TokenError(InputError):
    """A replay token cannot be decoded or does not belong to this scenario."""


class UnknownNameError(InputError):
    """An unknown strategy, backend, injector or format; lists the known names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}.{hint}")


class SandboxViolation(RaceproofError):
    """The real-filesystem backend refused a path that would leave its temp root."""


class NondeterminismError(RaceproofError):
    """Replaying a recorded schedule did not reproduce the recorded execution."""


class StepBudgetExceeded(RaceproofError):
    """One execution ran more steps than the budget allows (a thread that spins, or a loop).

    Never a thread's outcome and never a counterexample: the exploration that meets it stops as
    ``inconclusive``. ``choices`` is the schedule so far, so the run can be replayed."""

    def __init__(self, steps: int, choices: list[int] | None = None) -> None:
        self.steps = steps
        self.choices = list(choices or [])
        super().__init__(f"an execution exceeded the step budget of {steps} steps (a thread that spins "
                         "or loops without end?); it is neither a pass nor a counterexample")


class DeadlockError(RaceproofError):
    """Every live virtual thread is blocked."""


class InternalError(RaceproofError):
    """An invariant of raceproof itself failed: a bug to report."""

    def __init__(self, message: str) -> None:
        super().__init__(f"[raceproof internal bug] {message}; please report it")


def closest(name: str, known: Iterable[str]) -> str | None:
    """The closest known name to `name`, or None."""
    matches = difflib.get_close_matches(name, sorted(known), n=1)
    return matches[0] if matches else None
