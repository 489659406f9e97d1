"""Exhaustive fault placement: every placement of the exploring injectors' faults, each with a
full optimal DPOR (a thin driver over ``raceproof.loop``).

The placements of one level are independent searches: past ``WARMUP`` executions in this
process, with `jobs` > 1 and the scenario the program was built from (`rebuild`), the rest of a
level goes to worker processes
(``raceproof.mountsets.parallel_map``), collected in order, so the result is the serial one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    from raceproof.scenario import Scenario


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


#: executions run in this process before the rest of a level's placements go to worker processes
#: (a small enumeration never pays for starting them)
WARMUP = 500


@dataclass
class _Searched:
    """One placement's DPOR search: what the enumeration adds up, the decision points it reached
    (the next level's placements) and its first failing execution."""

    executions: int = 0
    steps: int = 0
    naive: int = 0
    blocked: int = 0
    classes: int = 0
    clean_failures: int = 0
    failing: int = 0
    points: list[tuple[str, int, int, int]] = field(default_factory=list)
    first: Execution | None = None
    #: a worker's first failing execution, as its choices (replayed in the parent)
    first_choices: list[int] | None = None
    budget_hit: bool = False
    observed: bool = False


def _search(runner: Runner, placement: frozenset[Pin], *, budget: int | None, stop_on_failure: bool,
            observe: Callable[[Execution], bool | None] | None = None,
            progress: Callable[[int, int], None] | None = None,
            checkpoint: SearchCheckpoint | None = None) -> _Searched:
    """One DPOR search with the faults pinned at `placement`; it stops at its first failure
    (`stop_on_failure`), when `observe` returns True, or at `budget`."""
    pins = {(lb, t, k): v for lb, t, k, v in placement}
    strat = PinnedStrategy(pins)
    classes = TraceClasses(stable=checkpoint is not None)
    mine = Tally()  # this placement's executions, steps, failures
    out = _Searched()
    clean = {"clean_failures": 0}

    def visit(ex: Execution) -> bool:
        mine.visit(ex)
        classes.visit(ex)
        if ex.extra.get("clean_failures"):
            clean["clean_failures"] += 1
        if ex.violations:
            if out.first is None:
                out.first = ex
            if stop_on_failure:
                return True
        if progress is not None:
            progress(mine.executions, mine.failing)
        if observe is not None and observe(ex):  # the caller has seen enough
            out.observed = True
            return True
        return False

    call = None if checkpoint is None else checkpoint.call(f"placement {sorted(placement)}")
    loop = Loop(runner, strat, budget=budget, saver=call)
    if call is not None:
        call.bind(strat, loop, mine, classes, clean)

    async def driver(r: Runner) -> None:
        await loop.run(visit)

    runner.run(driver)
    out.executions, out.steps, out.naive, out.failing = mine.executions, mine.steps, mine.naive, mine.failing
    out.blocked, out.classes, out.clean_failures = loop.blocked, classes.count, clean["clean_failures"]
    out.points = sorted(strat.points)
    out.budget_hit = loop.budget_hit
    return out


#: what a worker process builds the enumeration's program from: the scenario and the ``--inject``
#: specs (``raceproof.runs.program_for``); its backend, driver and digest are the parent runner's
Rebuild = tuple["Scenario", tuple[str, ...]]

#: a worker's program for each recipe it has served (built once per process)
_PROGRAMS: dict[str, Any] = {}


def _placement_unit(unit: tuple[Rebuild, str, str, str, list[Pin], bool, list[str]]) -> _Searched:
    """In a worker process: one placement's search, its first failing execution as choices.
    `memory`: what the parent's program remembers across executions, its ``crash_free_broken``
    (P5 judges a crashed execution against what the crash-free ones broke: those of level 0,
    complete before any level of faults is searched)."""
    (scenario, inject), backend, driver, digest, placement, stop_on_failure, memory = unit
    from raceproof.runs import program_for

    program = _PROGRAMS.get(digest)
    if program is None:
        program = program_for(scenario, list(inject))
        if program.digest != digest:
            from raceproof.errors import InternalError

            raise InternalError(f"a placement worker built another program ({program.digest[:16]}, "
                                f"not {digest[:16]}): it cannot search this enumeration")
        _PROGRAMS[digest] = program
    broken = getattr(program, "crash_free_broken", None)
    if broken is not None:
        broken.clear()
        broken.update(memory)
    with Runner(program, backend, driver) as runner:
        out = _search(runner, frozenset(placement), budget=None, stop_on_failure=stop_on_failure)
    if out.first is not None:
        out.first_choices, out.first = list(out.first.choices), None
    return out


def explore_placements(runner: Runner, injectors: Sequence[Injector], *, max_executions: int | None = None,
                       stop_on_failure: bool = True,
                       progress: Callable[[int, int, int], None] | None = None,
                       observe: Callable[[Execution], bool | None] | None = None,
                       checkpoint: SearchCheckpoint | None = None, jobs: int = 1,
                       rebuild: Rebuild | None = None,
                       modules: tuple[tuple[str, str | None], ...] = ()) -> PlacementResult:
    """Every placement of every exploring injector's faults, each with a full optimal DPOR.

    Level 0 runs DPOR with no fault and records every decision point (label, thread, n-th
    decision, arity) any execution reached. Each point and non-zero value extends a placement by
    one fault (up to the injector's ``max_faults``); the placements of level k+1 are built from
    the points reached under the placements of level k, so a second fault placed after the first
    one changed the run is found too. One DPOR per placement explores every interleaving with the
    faults pinned there. Placements are sets, so each is explored once. `observe` sees every
    execution (after the failure bookkeeping) and may stop the whole enumeration by returning True.
    With `checkpoint`, each placement's search is one checkpointed exploration (stopping at the
    first failure only).

    With `jobs` > 1 and `rebuild` (what a worker builds this runner's program from), once
    ``WARMUP`` executions ran here, the rest of each level's placements are searched by `jobs`
    processes and taken in order: the counts, verdict and first counterexample are the serial
    ones. Not with a budget, an observer or a checkpoint (they depend on what ran before).
    `modules`: user modules a fork-server child imports again (``raceproof.mountsets``)."""
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
    parallel = (jobs > 1 and rebuild is not None and max_executions is None and observe is None
                and checkpoint is None)

    def done() -> Placements:
        return Placements(**tally, complete=stop == "exhausted", stop_reason=stop, first=first,
                          first_pins=first_pins, per_placement=tuple(per_placement),
                          wall_time=time.perf_counter() - t0)

    def searched(placement: frozenset[Pin], got: _Searched, nxt: list[frozenset[Pin]], shown: bool) -> bool:
        """Add one placement's search (its progress `shown` already, or not); True when the
        enumeration stops there."""
        nonlocal first, first_pins, stop
        if got.first_choices is not None:  # a worker's: replayed here, the faults are in the choices
            from raceproof.errors import InternalError
            from raceproof.strategies.replay import ReplayChooser

            got.first = runner.run_single(ReplayChooser(got.first_choices))
            if not got.first.violations:
                raise InternalError(f"placement {sorted(placement)}: a worker's failing execution did not "
                                    "fail when replayed")
        tally["placements"] += 1
        if got.first is not None and first is None:
            first, first_pins = got.first, tuple(sorted(placement))
        tally["executions"] += got.executions
        tally["steps"] += got.steps
        tally["naive"] = max(tally["naive"], got.naive)
        tally["clean_failure_executions"] += got.clean_failures
        tally["blocked"] += got.blocked
        tally["classes"] += got.classes
        tally["failing_placements"] += 1 if got.failing else 0
        per_placement.append((tuple(sorted(placement)), got.executions, got.failing))
        if got.first is not None and stop_on_failure:
            stop = "counterexample"
        elif got.observed:
            stop = "observer"
        if got.budget_hit:
            stop = "budget"
        if stop != "exhausted":
            return True
        if progress is not None and not shown:
            progress(tally["executions"], got.failing, -1)
        pinned = {(lb, t, k) for lb, t, k, _ in placement}
        used: dict[str, int] = {}
        for lb, *_ in placement:
            used[lb] = used.get(lb, 0) + 1
        for lb, t, k, n in got.points:
            if (lb, t, k) in pinned or used.get(lb, 0) >= limits.get(lb, 0):
                continue
            for v in range(1, n):
                new = placement | {(lb, t, k, v)}
                if new not in seen:
                    seen.add(new)
                    nxt.append(new)
        return False

    level: list[frozenset[Pin]] = [frozenset()]
    seen: set[frozenset[Pin]] = {frozenset()}
    while level:
        nxt: list[frozenset[Pin]] = []
        i = 0
        while i < len(level):
            if parallel and tally["executions"] >= WARMUP and len(level) - i > 1:
                from raceproof.mountsets import parallel_map

                assert rebuild is not None
                rest = level[i:]
                memory = sorted(getattr(runner.program, "crash_free_broken", ()))
                same = (rebuild, runner.backend.name, runner.driver, runner.program.digest)
                results = parallel_map(_placement_unit,
                                       [(*same, sorted(p), stop_on_failure, memory) for p in rest],
                                       jobs, modules=modules)
                try:
                    for placement, got in zip(rest, results, strict=True):
                        if searched(placement, got, nxt, shown=False):
                            return done()
                finally:
                    results.close()  # stops the processes at once after a stop (else a no-op)
                break
            placement = level[i]
            left = None if max_executions is None else max_executions - tally["executions"]
            so_far = tally["executions"]

            def show(n: int, failing: int, so_far: int = so_far) -> None:
                if progress is not None:
                    progress(so_far + n, failing, -1)

            got = _search(runner, placement, budget=left, stop_on_failure=stop_on_failure, observe=observe,
                          progress=show if progress is not None else None, checkpoint=checkpoint)
            if searched(placement, got, nxt, shown=True):
                return done()
            i += 1
        level = nxt
    return done()
