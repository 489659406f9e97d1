"""The exploration loop and the public ``explore`` API for user programs.

``explore()`` runs executions chosen by a strategy until the strategy is exhausted, a budget is
hit, or (by default) a counterexample is found, and says why it stopped. Only an exhausted sound
strategy yields ``safe``; an exhausted bounded one yields ``bounded``; a budget stop yields
``inconclusive``. Every counterexample is replayed once before it is reported: a divergence is a
``NondeterminismError``, never a pass.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from raceproof.errors import InputError, NondeterminismError, StepBudgetExceeded
from raceproof.execution import MAX_STEPS, Execution, Runner, Violation, default_violations
from raceproof.fingerprint import fingerprint
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.scheduler import Crash, Scheduler
from raceproof.sfs import SchedFS
from raceproof.strategies import Strategy, make_strategy, with_defaults
from raceproof.strategies.replay import ReplayChooser

VERDICTS = ("safe", "unsafe", "bounded", "inconclusive")


#: what kind of failure a counterexample is (``Counterexample.kind``)
RACE = "race"  # another interleaving of the same program passes: the order matters
PROGRAM_ERROR = "program-error"  # every interleaving fails: a bug in the program, not a race
UNCONFIRMED = "unconfirmed"  # no passing interleaving found within the budget


@dataclass
class Counterexample:
    execution: Execution
    token: str = ""
    replay_command: str = ""
    explanation: dict[str, Any] = field(default_factory=dict)
    #: ``race``, ``program-error`` or ``unconfirmed`` (see ``classify``)
    kind: str = RACE
    #: each failed thread's exception, as a traceback into the program's own code
    tracebacks: dict[str, str] = field(default_factory=dict)

    @property
    def violations(self) -> list[Violation]:
        return self.execution.violations


@dataclass
class ExploreResult:
    verdict: str
    complete: bool
    stop_reason: str
    executions: int
    blocked: int
    strategy: str
    naive_interleavings: int
    counterexample: Counterexample | None
    outcomes: set[tuple[Any, ...]]
    failing: int = 0
    steps: int = 0
    wall_time: float = 0.0
    classes: int = 0
    #: set when an execution exceeded the step budget (``stop_reason == "step-budget"``)
    overrun: StepBudgetExceeded | None = None

    @property
    def proved(self) -> bool:
        return self.verdict == "safe"


class FunctionProgram:
    """A program made of user async functions, each taking its ``SchedFS``."""

    def __init__(self, programs: Sequence[Callable[[SchedFS], Awaitable[Any]]],
                 setup: Mapping[str, bytes] | Callable[[Vfs], None] | None = None,
                 check: Callable[[Execution], Sequence[Violation] | bool | None] | None = None,
                 names: Sequence[str] | None = None) -> None:
        self.programs = list(programs)
        self.names = list(names) if names else [getattr(p, "__name__", f"t{i}") + f"#{i}"
                                                for i, p in enumerate(self.programs)]
        self._setup = setup
        self._check = check
        self.digest = fingerprint(self.programs, setup, names)

    def setup(self, vfs: Vfs) -> None:
        if self._setup is None:
            return
        if callable(self._setup):
            self._setup(vfs)
            return
        for path, data in sorted(self._setup.items()):
            if path.endswith("/"):
                vfs.makedirs(path.rstrip("/") or "/")
            else:
                vfs.put(path, data)

    def bodies(self, sched: Scheduler) -> list[Callable[[], Awaitable[Any]]]:
        def body(p: Callable[[SchedFS], Awaitable[Any]], tid: int) -> Callable[[], Awaitable[Any]]:
            return lambda: p(SchedFS(sched, tid))

        return [body(p, tid) for tid, p in enumerate(self.programs)]

    def hooks(self, sched: Scheduler) -> None:
        """No fault injection by default."""

    @property
    def errors_are_final(self) -> bool:
        """The default check fails on any program's error; a user check may not."""
        return self._check is None

    def check(self, execution: Execution, vfs: Vfs) -> list[Violation]:
        if self._check is None:
            return default_violations(execution)
        verdict = self._check(execution)
        if verdict is None or verdict is True:
            return []
        if verdict is False:
            return [Violation(check="user-check", message="the check rejected the final state")]
        return list(verdict)


def check_programs(programs: Sequence[Any]) -> None:
    """Each program must be an ``async def`` function taking the scheduled filesystem."""
    for i, p in enumerate(programs):
        fn = p.func if isinstance(p, functools.partial) else p
        if not (inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(vars(type(fn)).get("__call__"))):
            name = getattr(fn, "__qualname__", type(fn).__name__)
            raise InputError(f"program {i} ({name}) is not an async function: write 'async def {name}(fs): ...'")


def naive_count(execution: Execution) -> int:
    """Interleavings of the per-thread step counts of one execution (multinomial)."""
    counts: dict[int, int] = {}
    for ev in execution.trace:
        counts[ev.thread] = counts.get(ev.thread, 0) + 1
    total = math.factorial(sum(counts.values()))
    for c in counts.values():
        total //= math.factorial(c)
    return total


def run_exploration(runner: Runner, strategy: Strategy, *, max_executions: int | None = None,
                    stop_on_failure: bool = True, collect_outcomes: bool = False,
                    progress: Callable[[int, int, int], None] | None = None) -> ExploreResult:
    """Run the strategy's executions on `runner` and summarise them."""
    t0 = time.perf_counter()
    state: dict[str, Any] = {"executions": 0, "failing": 0, "steps": 0, "naive": 0, "first": None,
                             "stop": "exhausted", "passed": False}
    outcomes: set[tuple[Any, ...]] = set()

    async def driver(r: Runner) -> None:
        loop = Loop(r, strategy, budget=max_executions)
        try:
            await loop.run(on_execution)
        except StepBudgetExceeded as exc:  # neither a pass nor a counterexample: stop, say so
            state["stop"] = "step-budget"
            state["overrun"] = exc
            return
        if loop.budget_hit and state["stop"] == "exhausted":
            state["stop"] = "budget"

    def on_execution(ex: Execution) -> bool:
        """Tally one execution; True stops the exploration."""
        state["executions"] += 1
        state["steps"] += len(ex.trace)
        state["naive"] = max(state["naive"], naive_count(ex))
        if collect_outcomes:
            outcomes.add(ex.outcome())
        if not ex.violations:
            state["passed"] = True
        else:
            state["failing"] += 1
            if state["first"] is None:
                state["first"] = ex
            if stop_on_failure:
                state["stop"] = "counterexample"
                return True
        if progress is not None:
            progress(state["executions"], state["failing"], getattr(strategy, "pending", lambda: -1)())
        return False

    runner.run(driver)
    first: Execution | None = state["first"]
    complete = state["stop"] == "exhausted"
    if first is not None:
        verdict = "unsafe"
    elif complete and strategy.sound:
        verdict = "safe"
    elif complete and strategy.bounded:
        verdict = "bounded"
    else:
        verdict = "inconclusive"
    cex = None
    if first is not None:
        confirm(runner, first)
        cex = Counterexample(first, kind=RACE if state["passed"] else classify(runner, first),
                             tracebacks=user_tracebacks(first))
    return ExploreResult(
        verdict=verdict, complete=complete and strategy.sound, stop_reason=state["stop"],
        executions=state["executions"], blocked=int(getattr(strategy, "blocked", 0)),
        strategy=strategy.name, naive_interleavings=state["naive"], counterexample=cex,
        outcomes=outcomes, failing=state["failing"], steps=state["steps"],
        wall_time=time.perf_counter() - t0,
        classes=state["executions"] if strategy.sound else 0,
        overrun=state.get("overrun"),
    )


CLASSIFY_BUDGET = 1000


def classify(runner: Runner, failing: Execution, budget: int = CLASSIFY_BUDGET) -> str:
    """Whether a failure depends on the interleaving: look for one that passes (dpor, with the
    failing run's data choices kept). ``race`` if one does, ``program-error`` if every one fails
    (the search was exhausted), ``unconfirmed`` if the budget ran out first."""
    from raceproof.strategies.dpor import Dpor

    strat = Dpor(values=failing.values)
    found = {"kind": PROGRAM_ERROR}

    async def driver(r: Runner) -> None:
        loop = Loop(r, strat, budget=budget)
        await loop.run(lambda ex: not ex.violations)  # stop at the first passing one
        if loop.stopped:
            found["kind"] = RACE
        elif loop.budget_hit:
            found["kind"] = UNCONFIRMED

    runner.run(driver)
    return found["kind"]


_INTERNAL = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(trio.__file__)))


def user_tracebacks(execution: Execution) -> dict[str, str]:
    """Each failed thread's exception as a traceback, without raceproof's and Trio's own frames
    (what is left points into the program's file and line)."""
    out = {}
    for name, r in zip(execution.names, execution.results, strict=True):
        err = r.error
        if err is None or isinstance(err, Crash):
            continue
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if not os.path.abspath(f.filename).startswith(_INTERNAL)]
        lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
                 *traceback.format_exception_only(err)]
        out[name] = "".join(lines).rstrip("\n")
    return out


def confirm(runner: Runner, execution: Execution) -> Execution:
    """Replay a failing execution once; it must fail the same way."""
    again = runner.run_single(ReplayChooser(execution.choices))
    if [(e.thread, e.op, e.path, e.result) for e in again.trace] != \
            [(e.thread, e.op, e.path, e.result) for e in execution.trace] or \
            [v.check for v in again.violations] != [v.check for v in execution.violations]:
        raise NondeterminismError("replaying the counterexample's schedule gave a different execution")
    return again


def explore(programs: Sequence[Callable[[SchedFS], Awaitable[Any]]], *,
            setup: Mapping[str, bytes] | Callable[[Vfs], None] | None = None,
            check: Callable[[Execution], Sequence[Violation] | bool | None] | None = None,
            strategy: str = "dpor", backend: str = "memory", max_executions: int | None = None,
            seed: int = 0, stop_on_failure: bool = False, names: Sequence[str] | None = None,
            driver: str = "trio", max_steps: int = MAX_STEPS, **strategy_options: Any) -> ExploreResult:
    """Explore every interleaving of `programs` (up to equivalence with ``dpor``).

    Args:
        programs: async functions, one per virtual thread, each taking its scheduled filesystem
            (``raceproof.SchedFS``); each filesystem call is one step (composites are walks).
        setup: the initial tree: ``{path: bytes}`` (parents created; a path ending in ``/`` is a
            directory) or a callable receiving the unscheduled ``Vfs``.
        check: judges each finished execution: returns violations, ``False`` or ``None``/``True``.
            The default fails an execution in which a program raised.
        strategy: ``dpor`` (default), ``dfs``, ``random``, ``pct``, ``preemption``.
        backend: ``memory`` (default), ``fake`` (pyfakefs) or ``real`` (a sandboxed temp dir).
        max_executions: a budget; stopping on it makes the verdict ``inconclusive``.
        seed: for ``random`` and ``pct``.
        stop_on_failure: stop at the first counterexample (default: explore everything, so that
            ``outcomes`` is complete).
        driver: ``trio`` (default: every virtual thread is a Trio task) or ``direct`` (the same
            coroutines driven without an event loop; faster, no Trio primitives inside steps).
        max_steps: steps one execution may take; an execution that exceeds it (a program that
            spins) stops the exploration as ``inconclusive`` with ``stop_reason == "step-budget"``.

    Raises:
        InputError: a program is not an ``async def`` function (or there is none).
        NondeterminismError: a program did not repeat itself under the same schedule.
        TokenError, InternalError: the machinery's own errors; never a program's outcome.

    Returns:
        An ``ExploreResult``: ``verdict``, ``executions``, ``complete``, ``counterexample``,
        ``outcomes`` (the set of distinct observable outcomes: final tree and each program's
        result), and the counts.
    """
    if not programs:
        raise InputError("explore: at least one program is needed")
    check_programs(programs)
    max_executions = with_defaults(strategy, max_executions, seed, strategy_options)
    strat = make_strategy(strategy, **strategy_options)
    program = FunctionProgram(programs, setup, check, names)
    with Runner(program, backend, driver, max_steps) as runner:
        return run_exploration(runner, strat, max_executions=max_executions,
                               stop_on_failure=stop_on_failure, collect_outcomes=True)
