"""The counterexample pipeline: from the first failing execution of a search to the
``Counterexample`` every renderer shows (classified, shrunk, confirmed by replay, explained,
tokenised, with its replay command).

One pipeline for ``explore()``, ``verify`` (CLI and reports) and the pytest plugin:

1. classify: ``race`` if another interleaving passes, else ``program-error`` or ``unconfirmed``;
2. shrink (optional): fewer threads, steps and preemptions before the failure
   (``raceproof.shrink``);
3. confirm: replay the final schedule once; a divergence is a ``NondeterminismError``, never a
   pass. The replay records the tree before every step (the report's snapshots, the mechanism);
4. explain (optional): the conflicting pair, the mechanism text (``raceproof.mechanism``), the
   step after which failure was certain, the cost;
5. token and replay command.
"""

from __future__ import annotations

import importlib.util
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from raceproof import token as tokens
from raceproof.errors import NondeterminismError
from raceproof.execution import Execution, RunnerProtocol
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.result import PROGRAM_ERROR, RACE, UNCONFIRMED, Counterexample
from raceproof.scheduler import Crash
from raceproof.steps import StepEvent
from raceproof.strategies.dpor import Dpor
from raceproof.strategies.replay import ReplayChooser

CLASSIFY_BUDGET = 1000


def classify(runner: RunnerProtocol, failing: Execution, budget: int = CLASSIFY_BUDGET) -> str:
    """Whether a failure depends on the interleaving: look for one that passes (dpor, with the
    failing run's data choices kept). ``race`` if one does, ``program-error`` if every one fails
    (the search was exhausted), ``unconfirmed`` if the budget ran out first."""
    strat = Dpor(values=failing.values)
    found = {"kind": PROGRAM_ERROR}

    async def driver(r: RunnerProtocol) -> None:
        loop = Loop(r, strat, budget=budget)
        await loop.run(lambda ex: not ex.violations)  # stop at the first passing one
        if loop.stopped:
            found["kind"] = RACE
        elif loop.budget_hit:
            found["kind"] = UNCONFIRMED

    runner.run(driver)
    return found["kind"]


def _trio_dir() -> str:
    """Where Trio is installed, without importing it (a direct-driver run never loads Trio)."""
    spec = importlib.util.find_spec("trio")
    return os.path.dirname(os.path.abspath(spec.origin)) if spec is not None and spec.origin else "\0"


_INTERNAL = (os.path.dirname(os.path.abspath(__file__)), _trio_dir())


def user_tracebacks(execution: Execution) -> dict[str, str]:
    """Each failed thread's exception as a traceback, without raceproof's and Trio's own frames
    (what is left points into the program's file and line)."""
    out = {}
    for name, r in zip(execution.names, execution.results, strict=True):
        err = r.error
        if err is None or isinstance(err, Crash):
            continue
        frames = [
            f for f in traceback.extract_tb(err.__traceback__) if not os.path.abspath(f.filename).startswith(_INTERNAL)
        ]
        lines = [
            "Traceback (most recent call last):\n",
            *traceback.format_list(frames),
            *traceback.format_exception_only(err),
        ]
        out[name] = "".join(lines).rstrip("\n")
    return out


class _Recording:
    """Replays a choice list and records the tree before every step."""

    sees_forced = True

    def __init__(self, choices: Sequence[int], vfs: Vfs | None) -> None:
        self._inner = ReplayChooser(choices)
        self._vfs = vfs
        self.before: dict[int, dict[str, str]] = {}

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        if self._vfs is not None:  # a real program (``raceproof.exec``) has no model tree to record
            self.before[len(trace)] = self._vfs.tree()
        if len(enabled) == 1:
            return enabled[0]
        return self._inner.choose(enabled, trace)

    def choose_value(self, thread: int, label: str, n: int) -> int:
        return self._inner.choose_value(thread, label, n)


def _same(a: Execution, b: Execution) -> bool:
    return [(e.thread, e.op, e.path, e.result) for e in a.trace] == [
        (e.thread, e.op, e.path, e.result) for e in b.trace
    ] and [v.check for v in a.violations] == [v.check for v in b.violations]


def confirm(runner: RunnerProtocol, execution: Execution) -> Execution:
    """Replay a failing execution once; it must fail the same way."""
    return confirm_recording(runner, execution)[0]


def confirm_recording(runner: RunnerProtocol,
                      execution: Execution) -> tuple[Execution, tuple[dict[str, str] | None, ...]]:
    """Replay `execution` once (it must repeat itself) and record the tree before each step."""
    chooser = _Recording(execution.choices, runner.vfs)
    again = runner.run_single(chooser)
    if not _same(again, execution):
        raise NondeterminismError("replaying the counterexample's schedule gave a different execution")
    return again, tuple(chooser.before.get(i) for i in range(len(again.trace)))


def counterexample(
    runner: RunnerProtocol,
    first: Execution,
    *,
    digest: str,
    passed: bool = False,
    shrink: bool = True,
    explain: bool = True,
    classify_it: bool = True,
    command: Callable[[str], str] | None = None,
    explanation: Mapping[str, Any] | None = None,
    search: bool = True,
) -> Counterexample:
    """Run the pipeline on `first`, the first failing execution of a search.

    Args:
        passed: another execution of the search passed (then the failure is a ``race`` without
            classifying).
        shrink, explain: run those stages.
        classify_it: classify the failure (else it is a ``race``).
        command: makes the replay command from the token.
        explanation: extra facts for the explanation (fault placements).
        search: find the step after which failure was certain by search (else the bound that
            needs none, ``raceproof.shrink.certain_after``).
    """
    from raceproof import shrink as shrinking

    kind = RACE if passed or not classify_it else classify(runner, first)
    ex = shrinking.shrink_execution(runner, first) if shrink else first
    ex, before = confirm_recording(runner, ex)
    expl: dict[str, Any] = dict(explanation or {})
    if explain:
        expl.update(shrinking.explain(runner, ex, before, search=search))
        if shrink:
            expl["shrunk"] = True
    token = tokens.encode(digest, ex.choices)
    return Counterexample(
        execution=ex,
        token=token,
        replay_command=command(token) if command is not None else "",
        explanation=expl,
        kind=kind,
        tracebacks=user_tracebacks(ex),
        before=before,
        found_cost=shrinking.cost(first),
    )
