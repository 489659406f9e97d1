"""The trace-counting oracle: every interleaving by plain ``dfs``, each classified by its
Mazurkiewicz trace, independently of DPOR (``count_traces``, ``explore_traces``, ``compare_strategies``).

``trace_key`` is the class of an execution: each thread's sequence of executed events plus the set
of ordered pairs of dependent events of different threads. The number of classes is the number of
Mazurkiewicz traces: ``dpor`` must explore exactly that many.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.sfs import SchedFS
from raceproof.steps import dependent

ProgramFn = Callable[[SchedFS], Awaitable[Any]]
Setup = Mapping[str, bytes] | Callable[[Vfs], None] | None


# the counting oracle ----------------------------------------------------------------------------

def trace_key(execution: Execution) -> Hashable:
    """The Mazurkiewicz trace of an execution, as a hashable value.

    Two executions of a deterministic program are in the same trace exactly when each thread ran
    the same sequence of events (operation, path, result, footprint) and every pair of dependent
    events of different threads (``raceproof.steps.dependent``) ran in the same order. Events are
    named ``(thread, k)``: the k-th event of that thread.
    """
    per_thread: dict[int, list[tuple[Any, ...]]] = {}
    names: list[tuple[int, int]] = []
    for ev in execution.trace:
        seq = per_thread.setdefault(ev.thread, [])
        names.append((ev.thread, len(seq)))
        seq.append((ev.op, ev.path, ev.result, ev.errno, ev.detail, ev.footprint))
    pairs = set()
    trace = execution.trace
    for j in range(len(trace)):
        fj = trace[j].footprint
        if fj.is_empty():
            continue
        tj = trace[j].thread
        for i in range(j):
            ei = trace[i]
            if ei.thread != tj and dependent(ei.footprint, fj):
                pairs.add((names[i], names[j]))
    return (tuple(sorted((t, tuple(s)) for t, s in per_thread.items())), frozenset(pairs))


@dataclass
class TraceCount:
    """What one exploration saw: its executions, grouped by Mazurkiewicz trace (``trace_key``)."""

    strategy: str
    executions: int
    blocked: int
    traces: set[Hashable] = field(default_factory=set)
    outcomes: set[tuple[Any, ...]] = field(default_factory=set)
    complete: bool = True

    @property
    def classes(self) -> int:
        """The number of distinct Mazurkiewicz traces among the executions."""
        return len(self.traces)


def explore_traces(programs: Sequence[ProgramFn], *, setup: Setup = None, strategy: str = "dfs",
                   backend: str = "memory", max_executions: int | None = 200_000,
                   **options: Any) -> TraceCount:
    """Explore `programs` with `strategy` and classify every complete execution by its trace."""
    from raceproof.strategies import make_strategy

    strat = make_strategy(strategy, **options)
    traces: set[Hashable] = set()
    outcomes: set[tuple[Any, ...]] = set()
    state = {"executions": 0, "complete": True, "blocked": 0}

    async def driver(runner: Runner) -> None:
        def visit(ex: Execution) -> None:
            state["executions"] += 1
            traces.add(trace_key(ex))
            outcomes.add(ex.outcome())

        loop = Loop(runner, strat, budget=max_executions, check=False)
        await loop.run(visit)
        state["complete"] = not loop.budget_hit
        state["blocked"] = loop.blocked

    with Runner(FunctionProgram(programs, setup), backend) as runner:
        runner.run(driver)
    return TraceCount(strategy, int(state["executions"]), int(state["blocked"]), traces, outcomes,
                      bool(state["complete"]))


def count_traces(programs: Sequence[ProgramFn], *, setup: Setup = None, backend: str = "memory",
                 max_executions: int | None = 200_000) -> TraceCount:
    """The counting oracle: every interleaving (``dfs``), classified by Mazurkiewicz trace.

    ``result.classes`` is the number of traces, found independently of any reduction. Runs every
    interleaving, so keep programs tiny (a few thousand interleavings); ``complete`` is False when
    `max_executions` stopped the enumeration first.
    """
    return explore_traces(programs, setup=setup, strategy="dfs", backend=backend, max_executions=max_executions)


#: what ``compare_strategies`` reports when the plain enumeration hit its budget (no comparison made)
TOO_LARGE = "the oracle did not finish: the program is too large"


def compare_strategies(programs: Sequence[ProgramFn], *, setup: Setup = None, backend: str = "memory",
                       optimal: bool = True, max_executions: int | None = 200_000) -> list[str]:
    """Run ``dpor`` and the counting oracle on `programs`; return every disagreement (empty: agree).

    Soundness checks: the same outcome set as ``dfs``; dpor covers every Mazurkiewicz trace the
    oracle found; it never explores more executions than dfs; it completes. With `optimal`, also:
    exactly one execution per trace and no blocked (redundant) execution. When the plain
    enumeration exceeds `max_executions` the answer is ``[TOO_LARGE]`` alone.
    """
    ref = count_traces(programs, setup=setup, backend=backend, max_executions=max_executions)
    if not ref.complete:
        return [TOO_LARGE]
    dpor = explore_traces(programs, setup=setup, strategy="dpor", backend=backend)
    problems = []
    if dpor.outcomes != ref.outcomes:
        problems.append(f"outcome sets differ: dpor misses {len(ref.outcomes - dpor.outcomes)} of dfs's "
                        f"{len(ref.outcomes)} and has {len(dpor.outcomes - ref.outcomes)} dfs never saw")
    if dpor.traces != ref.traces:
        problems.append(f"dpor covered {len(dpor.traces & ref.traces)} of {ref.classes} Mazurkiewicz traces "
                        f"(and {len(dpor.traces - ref.traces)} unknown ones)")
    if dpor.executions > ref.executions:
        problems.append(f"dpor ran {dpor.executions} executions, more than dfs's {ref.executions}")
    if not dpor.complete:
        problems.append("dpor did not complete")
    if optimal and dpor.executions != ref.classes:
        problems.append(f"dpor ran {dpor.executions} executions for {ref.classes} Mazurkiewicz traces")
    if optimal and dpor.blocked:
        problems.append(f"dpor had {dpor.blocked} blocked executions")
    return problems
