"""Exploring programs: ``run_exploration`` (the loop, its observers, the counterexample pipeline)
and the public ``explore`` API for user programs.

``explore()`` runs executions chosen by a strategy until the strategy is exhausted, a budget is
hit, or (on request) a counterexample is found, and says why it stopped. Only an exhausted sound
strategy yields ``safe``; an exhausted bounded one yields ``bounded``; a budget stop yields
``inconclusive``. Every counterexample is replayed once before it is reported: a divergence is a
``NondeterminismError``, never a pass.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from raceproof.checks import Check, CheckContext, judge, resolve
from raceproof.errors import InputError, StepBudgetExceeded
from raceproof.execution import MAX_STEPS, Body, Execution, Runner, RunnerProtocol, Violation, default_violations
from raceproof.fingerprint import fingerprint
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.observe import ConflictCoverage, Outcomes, Summary, Tally, TraceClasses, naive_count
from raceproof.pipeline import CLASSIFY_BUDGET, classify, confirm, counterexample, user_tracebacks
from raceproof.result import PROGRAM_ERROR, RACE, UNCONFIRMED, Counterexample, Result, search_verdict
from raceproof.scheduler import Scheduler
from raceproof.sfs import SchedFS
from raceproof.strategies import Strategy, make_strategy, with_defaults
from raceproof.subtrees import Subtrees

if TYPE_CHECKING:
    from raceproof.checkpoint import Call

#: kept for callers that import them from here
__all__ = ["CLASSIFY_BUDGET", "PROGRAM_ERROR", "RACE", "UNCONFIRMED", "Counterexample", "ExploreResult",
           "FunctionProgram", "check_programs", "classify", "confirm", "explore", "naive_count",
           "run_exploration", "user_tracebacks"]

#: the result of ``explore()``: the one result type (``raceproof.result.Result``)
ExploreResult = Result


class FunctionProgram:
    """A program made of user async functions, each taking its ``SchedFS``.

    Each execution is judged by `check` (a function of the execution) or by `checks`
    (``raceproof.checks``: names or ``Check`` objects), not both; by default a program that raised
    fails (``no-worker-error``, ``no-deadlock``)."""

    def __init__(self, programs: Sequence[Callable[[SchedFS], Awaitable[Any]]],
                 setup: Mapping[str, bytes] | Callable[[Vfs], None] | None = None,
                 check: Callable[[Execution], Sequence[Violation] | bool | None] | None = None,
                 names: Sequence[str] | None = None, checks: Sequence[str | Check] = ()) -> None:
        if check is not None and checks:
            raise InputError("give either check= (a function) or checks= (raceproof.checks), not both")
        self.programs = list(programs)
        self.names = list(names) if names else [getattr(p, "__name__", f"t{i}") + f"#{i}"
                                                for i, p in enumerate(self.programs)]
        self._setup = setup
        self._check = check
        self.checks = resolve(checks) if checks else None
        self.context = CheckContext()
        self.digest = fingerprint(self.programs, setup, names)

    def setup(self, vfs: Vfs) -> None:
        if callable(self._setup):
            self._setup(vfs)
        elif self._setup is not None:
            for path, data in sorted(self._setup.items()):
                if path.endswith("/"):
                    vfs.makedirs(path.rstrip("/") or "/")
                else:
                    vfs.put(path, data)
        if self.checks is not None:
            self.context = CheckContext(initial=vfs.tree())

    def bodies(self, sched: Scheduler) -> list[Body]:
        def body(p: Callable[[SchedFS], Awaitable[Any]], tid: int) -> Body:
            return lambda: p(SchedFS(sched, tid))

        return [body(p, tid) for tid, p in enumerate(self.programs)]

    def hooks(self, sched: Scheduler) -> None:
        """No fault injection by default."""

    @property
    def errors_are_final(self) -> bool:
        """The default check fails on any program's error; a user check may not."""
        return self._check is None and self.checks is None

    def check(self, execution: Execution, vfs: Vfs) -> list[Violation]:
        if self.checks is not None:
            return judge(self.checks, execution, self.context)
        if self._check is None:
            return default_violations(execution)
        verdict = self._check(execution)
        if verdict is None or verdict is True:
            return []
        if verdict is False:
            return [Violation(check="user-check", message="the check rejected the final state")]
        return list(verdict)


def check_programs(programs: Sequence[object]) -> None:
    """Each program must be an ``async def`` function taking the scheduled filesystem."""
    for i, p in enumerate(programs):
        fn = p.func if isinstance(p, functools.partial) else p
        if not (inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(vars(type(fn)).get("__call__"))):
            name = getattr(fn, "__qualname__", type(fn).__name__)
            raise InputError(f"program {i} ({name}) is not an async function: write 'async def {name}(fs): ...'")


def run_exploration(runner: RunnerProtocol, strategy: Strategy, *, max_executions: int | None = None,
                    stop_on_failure: bool = True, collect_outcomes: bool = False,
                    progress: Callable[[int, int, int], None] | None = None, coverage: bool = False,
                    shrink: bool = False, explain: bool = False, certain: bool = True,
                    command: Callable[[str], str] | None = None, checkpoint: Call | None = None,
                    jobs: int = 1) -> Result:
    """Run the strategy's executions on `runner` (``raceproof.loop.Loop``), show each to the
    observers (``raceproof.observe``) and turn the first failure into a ``Counterexample``
    (``raceproof.pipeline``: classified and confirmed; shrunk and explained on request).

    Equivalence classes are counted (distinct Mazurkiewicz traces) for sound strategies only;
    `coverage` also collects the conflict-pair coverage a report shows. Without `certain`, the
    explanation's "failure certain after" step is only the bound that needs no search
    (``raceproof.shrink.certain_after``).

    With `checkpoint` (``raceproof.checkpoint.Call``), the exploration starts from its stored state
    if it has one, and its state is saved as it goes (stopping at the first counterexample only);
    trace classes are then counted with hashes that outlive the process.

    With `jobs` > 1, a DPOR search (alone or a portfolio's) on the memory backend hands subtrees
    to `jobs` - 1 worker processes (``raceproof.subtrees``), with the serial search's result; not
    with a checkpoint or coverage."""
    if checkpoint is not None and (not stop_on_failure or collect_outcomes or coverage):
        raise ValueError("a checkpointed exploration stops at its first failure and collects no outcomes "
                         "or coverage")
    t0 = time.perf_counter()
    tally = Tally()
    observers: list[Callable[[Execution], None]] = [tally.visit]
    outcomes = Outcomes()
    if collect_outcomes:
        observers.append(outcomes.visit)
    classes = TraceClasses(stable=checkpoint is not None) if strategy.sound else None
    if classes is not None:
        observers.append(classes.visit)
    cov = ConflictCoverage() if coverage else None
    if cov is not None:
        observers.append(cov.visit)
    stop: dict[str, str] = {"reason": "exhausted"}
    overrun: list[StepBudgetExceeded] = []

    def shown(failed: bool) -> bool:
        """After the observers saw an execution: True stops the exploration."""
        if failed and stop_on_failure:
            stop["reason"] = "counterexample"
            return True
        if progress is not None:
            progress(tally.executions, tally.failing, strategy.pending())
        return False

    def visit(ex: Execution) -> bool:
        """Show one execution to the observers; True stops the exploration."""
        for observe in observers:
            observe(ex)
        return shown(bool(ex.violations))

    def visit_summary(s: Summary) -> bool:
        """Show an execution a worker ran (``raceproof.subtrees``) to the observers."""
        tally.add(s)
        if s.outcome is not None:  # collected
            outcomes.add(s.outcome)
        if classes is not None:
            classes.add(s.klass)
        return shown(s.failing is not None)

    loop = Loop(runner, strategy, budget=max_executions, saver=checkpoint)
    if checkpoint is not None:
        checkpoint.bind(strategy, loop, tally, classes)
    subtrees = (Subtrees.attach(runner, strategy, jobs, classes=classes is not None, outcomes=collect_outcomes,
                                stop=stop_on_failure)
                if checkpoint is None and cov is None else None)

    async def driver(r: RunnerProtocol) -> None:
        try:
            await loop.run(visit, visit_summary)
        except StepBudgetExceeded as exc:  # neither a pass nor a counterexample: stop, say so
            stop["reason"] = "step-budget"
            overrun.append(exc)
            return
        if loop.budget_hit and stop["reason"] == "exhausted":
            stop["reason"] = "budget"

    try:
        runner.run(driver)
    finally:
        if subtrees is not None:
            subtrees.close()
    split = None if subtrees is None else subtrees.split()
    complete = stop["reason"] == "exhausted"
    cex = None
    if tally.first is not None:
        cex = counterexample(runner, tally.first, digest=runner.program.digest, passed=tally.passed,
                             shrink=shrink, explain=explain, command=command, search=certain)
    return Result(
        verdict=search_verdict(tally.first is not None, complete, strategy.sound, strategy.bounded),
        complete=complete and strategy.sound, stop_reason=str(stop["reason"]),
        executions=tally.executions, blocked=loop.blocked, strategy=strategy.name,
        probes=strategy.probes_run,
        naive_interleavings=tally.naive, counterexample=cex, outcomes=frozenset(outcomes.seen),
        failing=tally.failing, steps=tally.steps,
        wall_time=time.perf_counter() - t0 + (checkpoint.elapsed_before if checkpoint is not None else 0.0),
        classes=None if classes is None else classes.count,
        overrun=overrun[0] if overrun else None,
        coverage=None if cov is None else cov.freeze(),
        split=split,
    )


def explore(programs: Sequence[Callable[[SchedFS], Awaitable[Any]]], *,
            setup: Mapping[str, bytes] | Callable[[Vfs], None] | None = None,
            check: Callable[[Execution], Sequence[Violation] | bool | None] | None = None,
            checks: Sequence[str | Check] = (), strategy: str = "dpor", backend: str = "memory",
            max_executions: int | None = None, seed: int = 0, stop_on_failure: bool = False,
            names: Sequence[str] | None = None, driver: str = "trio", max_steps: int = MAX_STEPS,
            jobs: int = 1, **strategy_options: Any) -> ExploreResult:
    """Explore every interleaving of `programs` (up to equivalence with ``dpor``).

    Args:
        programs: async functions, one per virtual thread, each taking its scheduled filesystem
            (``raceproof.SchedFS``); each filesystem call is one step (composites are walks).
        setup: the initial tree: ``{path: bytes}`` (parents created; a path ending in ``/`` is a
            directory) or a callable receiving the unscheduled ``Vfs``.
        check: judges each finished execution: returns violations, ``False`` or ``None``/``True``.
            The default fails an execution in which a program raised.
        checks: instead of `check`, the checks that judge each execution (``raceproof.checks``:
            registered names or ``Check`` objects; each violation names its check and entry).
        strategy: ``dpor`` (default), ``dfs``, ``stateful``, ``random``, ``pct``, ``preemption``.
        backend: ``memory`` (default), ``fake`` (pyfakefs) or ``real`` (a sandboxed temp dir).
        max_executions: a budget; stopping on it makes the verdict ``inconclusive``.
        seed: for ``random`` and ``pct``.
        stop_on_failure: stop at the first counterexample (default: explore everything, so that
            ``outcomes`` is complete).
        driver: ``trio`` (default: every virtual thread is a Trio task) or ``direct`` (the same
            coroutines driven without an event loop; faster, no Trio primitives inside steps).
        max_steps: steps one execution may take; an execution that exceeds it (a program that
            spins) stops the exploration as ``inconclusive`` with ``stop_reason == "step-budget"``.
        jobs: processes for a long ``dpor`` search (memory backend): past its first few hundred
            executions, ``jobs - 1`` forked workers explore its subtrees (``raceproof.subtrees``).
            The result is the serial one; the programs and the check then also run in the workers
            (a check that counts its calls in a variable sees only this process's calls).

    Raises:
        InputError: a program is not an ``async def`` function (or there is none).
        NondeterminismError: a program did not repeat itself under the same schedule.
        TokenError, InternalError: the machinery's own errors; never a program's outcome.

    Returns:
        A ``Result`` (``ExploreResult``): ``verdict``, ``executions``, ``complete``, ``counterexample``,
        ``outcomes`` (the set of distinct observable outcomes: final tree and each program's
        result), and the counts.
    """
    if not programs:
        raise InputError("explore: at least one program is needed")
    check_programs(programs)
    max_executions = with_defaults(strategy, max_executions, seed, strategy_options)
    strat = make_strategy(strategy, **strategy_options)
    program = FunctionProgram(programs, setup, check, names, checks)
    with Runner(program, backend, driver, max_steps) as runner:
        return run_exploration(runner, strat, max_executions=max_executions,
                               stop_on_failure=stop_on_failure, collect_outcomes=True, jobs=jobs)
