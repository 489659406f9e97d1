"""Exhaustive fault placement: every placement of the exploring injectors' faults, each with a
full optimal DPOR (a thin driver over ``raceproof.loop``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from raceproof.execution import Execution, Runner
from raceproof.injector import Injector
from raceproof.loop import Loop
from raceproof.observe import Committed, Tally, TraceClasses
from raceproof.result import Pin, Placements
from raceproof.scheduler import Chooser
from raceproof.steps import StepEvent
from raceproof.strategies.dpor import Dpor

if TYPE_CHECKING:
    from raceproof.checkpoint import SearchCheckpoint


class PinnedChooser:
    """Delegates thread picks to `inner`; answers fault decisions from a fixed placement.

    Decisions are numbered per (label, thread): a thread's n-th decision depends only on the
    thread's own steps, so the same placement means the same fault in every interleaving."""

    def __init__(self, inner: Chooser, pins: dict[tuple[str, int, int], int],
                 points: set[tuple[str, int, int, int]]) -> None:
        self.inner = inner
        self.sees_forced = inner.sees_forced
        self.pins = pins
        self.points = points
        self.counts: dict[tuple[str, int], int] = {}

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        return self.inner.choose(enabled, trace)

    def choose_value(self, thread: int, label: str, n: int) -> int:
        k = self.counts.get((label, thread), 0)
        self.counts[(label, thread)] = k + 1
        self.points.add((label, thread, k, n))
        value = self.pins.get((label, thread, k), 0)
        return value if value < n else 0


class PinnedStrategy:
    name = "dpor+placements"
    sound = True
    bounded = False
    probes_run = 0

    def __init__(self, pins: dict[tuple[str, int, int], int]) -> None:
        self.inner = Dpor()
        self.pins = pins
        self.points: set[tuple[str, int, int, int]] = set()

    def next_execution(self) -> Chooser | Committed | None:
        chooser = self.inner.next_execution()
        if chooser is None or isinstance(chooser, Committed):  # no workers here: never a batch
            return chooser
        return PinnedChooser(chooser, self.pins, self.points)

    def observe(self, execution: Execution) -> None:
        self.inner.observe(execution)

    def pending(self) -> int:
        return self.inner.pending()

    def snapshot(self) -> dict[str, Any]:
        """DPOR's state and the decision points reached (those of a running execution too: it
        reaches them again when it runs again) (``raceproof.checkpoint``)."""
        return {"dpor": self.inner.snapshot(), "points": sorted(self.points)}

    def restore(self, state: dict[str, Any]) -> None:
        self.inner.restore(state["dpor"])
        self.points = {(str(lb), int(t), int(k), int(n)) for lb, t, k, n in state["points"]}


#: what ``explore_placements`` returns (``raceproof.result.Placements``)
PlacementResult = Placements


def explore_placements(runner: Runner, injectors: Sequence[Injector], *, max_executions: int | None = None,
                       stop_on_failure: bool = True,
                       progress: Callable[[int, int, int], None] | None = None,
                       observe: Callable[[Execution], bool | None] | None = None,
                       checkpoint: SearchCheckpoint | None = None) -> PlacementResult:
    """Every placement of every exploring injector's faults, each with a full optimal DPOR.

    Level 0 runs DPOR with no fault and records every decision point (label, thread, n-th
    decision, arity) any execution reached. Each point and non-zero value extends a placement by
    one fault (up to the injector's ``max_faults``); the placements of level k+1 are built from
    the points reached under the placements of level k, so a second fault placed after the first
    one changed the run is found too. One DPOR per placement explores every interleaving with the
    faults pinned there. Placements are sets, so each is explored once. `observe` sees every
    execution (after the failure bookkeeping) and may stop the whole enumeration by returning True.
    With `checkpoint`, each placement's search is one checkpointed exploration (stopping at the
    first failure only)."""
    if checkpoint is not None and (not stop_on_failure or observe is not None):
        raise ValueError("a checkpointed placement search stops at its first failure and has no observer")
    t0 = time.perf_counter()
    limits = {inj.label: inj.max_faults for inj in injectors if inj.explores}
    tally = {"placements": 0, "executions": 0, "blocked": 0, "steps": 0, "naive": 0, "failing_placements": 0,
             "clean_failure_executions": 0, "classes": 0}
    stop = "exhausted"
    first: Execution | None = None
    first_pins: tuple[Pin, ...] = ()
    per_placement: list[tuple[tuple[Pin, ...], int, int]] = []

    def done() -> Placements:
        return Placements(**tally, complete=stop == "exhausted", stop_reason=stop, first=first,
                          first_pins=first_pins, per_placement=tuple(per_placement),
                          wall_time=time.perf_counter() - t0)

    level: list[frozenset[Pin]] = [frozenset()]
    seen: set[frozenset[Pin]] = {frozenset()}
    while level:
        nxt: list[frozenset[Pin]] = []
        for placement in level:
            pins = {(lb, t, k): v for lb, t, k, v in placement}
            strat = PinnedStrategy(pins)
            tally["placements"] += 1
            classes = TraceClasses(stable=checkpoint is not None)
            mine = Tally()  # this placement's executions, steps, failures
            clean = {"clean_failures": 0}

            def visit(ex: Execution, placement: frozenset[Pin] = placement, mine: Tally = mine,
                      classes: TraceClasses = classes, clean: dict[str, int] = clean) -> bool:
                nonlocal first, first_pins, stop
                mine.visit(ex)
                classes.visit(ex)
                if ex.extra.get("clean_failures"):
                    clean["clean_failures"] += 1
                if ex.violations:
                    if first is None:
                        first, first_pins = ex, tuple(sorted(placement))
                    if stop_on_failure:
                        stop = "counterexample"
                        return True
                if progress is not None:
                    progress(tally["executions"] + mine.executions, mine.failing, -1)
                if observe is not None and observe(ex):  # the caller has seen enough
                    stop = "observer"
                    return True
                return False

            left = None if max_executions is None else max_executions - tally["executions"]
            call = None if checkpoint is None else checkpoint.call(f"placement {sorted(placement)}")
            loop = Loop(runner, strat, budget=left, saver=call)
            if call is not None:
                call.bind(strat, loop, mine, classes, clean)

            async def driver(r: Runner, loop: Loop = loop, visit: Callable[[Execution], bool] = visit) -> None:
                await loop.run(visit)

            runner.run(driver)
            if loop.budget_hit:
                stop = "budget"
            tally["executions"] += mine.executions
            tally["steps"] += mine.steps
            tally["naive"] = max(tally["naive"], mine.naive)
            tally["clean_failure_executions"] += clean["clean_failures"]
            tally["blocked"] += loop.blocked
            tally["classes"] += classes.count
            tally["failing_placements"] += 1 if mine.failing else 0
            per_placement.append((tuple(sorted(placement)), mine.executions, mine.failing))
            if stop != "exhausted":
                return done()
            pinned = {(lb, t, k) for lb, t, k, _ in placement}
            used: dict[str, int] = {}
            for lb, *_ in placement:
                used[lb] = used.get(lb, 0) + 1
            for lb, t, k, n in sorted(strat.points):
                if (lb, t, k) in pinned or used.get(lb, 0) >= limits.get(lb, 0):
                    continue
                for v in range(1, n):
                    new = placement | {(lb, t, k, v)}
                    if new not in seen:
                        seen.add(new)
                        nxt.append(new)
        level = nxt
    return done()
