"""Running programs: one execution at a time, many executions inside one ``trio.run``.

A ``Program`` is what gets explored: named virtual threads (async bodies over ``SchedFS``), a
set-up that builds the initial tree, and a check that judges each finished execution. The
``Runner`` owns the backend; it resets the tree between executions (a snapshot restore on the
memory backend, re-running the set-up elsewhere) and hosts as many executions as a strategy asks
for inside a single ``trio.run`` under a ``MockClock`` (virtual time, no real sleeping).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, TypeVar

from raceproof.errors import DeadlockError, InternalError
from raceproof.fs import Vfs, make_backend
from raceproof.scheduler import DRIVER_CLASSES, Chooser, Crash, Scheduler, ThreadResult, errno_name
from raceproof.steps import StepEvent


def mock_clock() -> Any:
    """Trio's virtual-time clock. ``trio.testing.MockClock`` is ``trio._core.MockClock``; importing
    ``trio.testing`` also imports pytest (about 70 ms of a cold start), so the class is taken from
    where it lives when it is there."""
    import trio

    cls = getattr(trio._core, "MockClock", None)
    if cls is None:  # a Trio that moved it: the public path
        from trio.testing import MockClock

        cls = MockClock
    return cls(autojump_threshold=0)


#: ``trio``: each virtual thread is a Trio task (virtual time available); ``direct``: the same
#: coroutines driven without an event loop (faster; no Trio primitives inside steps)
DRIVERS = ("trio", "direct")
#: a virtual thread's body: what ``Program.bodies`` returns and injectors wrap
Body = Callable[[], Awaitable[Any]]
#: steps one execution may take before it is stopped as ``StepBudgetExceeded`` (a spinning thread)
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Violation:
    """One failed check of one execution."""

    check: str
    message: str
    thread: str = ""
    op: str = ""
    path: str = ""
    errno: str = ""
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "thread": self.thread, "op": self.op, "path": self.path,
                "errno": self.errno, "message": self.message, "step": self.step}


@dataclass
class Execution:
    """One finished execution: its schedule, trace, thread outcomes and final tree."""

    choices: list[int]
    trace: list[StepEvent]
    results: list[ThreadResult]
    names: list[str]
    tree: dict[str, str] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    aborted: bool = False  # stopped by the strategy (a redundant, sleep-set-blocked prefix)
    deadlock: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the data choices alone (fault decisions): (thread, label, value), in order
    values: list[tuple[int, str, int]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.violations)

    def outcome(self) -> tuple[Any, ...]:
        """The observable outcome: final tree and each thread's result (value or error)."""
        per_thread: list[tuple[Any, ...]] = []
        for r in self.results:
            if r.error is not None:
                err = r.error
                per_thread.append(("error", type(err).__name__, getattr(err, "errno", None)))
            else:
                per_thread.append(("ok", repr(r.value)))
        return (tuple(sorted(self.tree.items())), tuple(per_thread))


class Program(Protocol):
    """What the runner executes. See ``raceproof.exploration.FunctionProgram`` and the incident model."""

    @property
    def names(self) -> Sequence[str]: ...
    @property
    def digest(self) -> str: ...

    def setup(self, vfs: Vfs) -> None: ...
    def bodies(self, sched: Scheduler) -> Sequence[Body]: ...
    def check(self, execution: Execution, vfs: Vfs) -> list[Violation]: ...
    def hooks(self, sched: Scheduler) -> None: ...

    @property
    def errors_are_final(self) -> bool:
        """Whether `check` reports every thread error as a violation, whatever else happened:
        then an execution whose prefix holds a thread's whole run, ending in an error, fails in
        every continuation (``raceproof.shrink.certain_after`` relies on it)."""


class ProgramFacts(Protocol):
    """What the loop and the counterexample pipeline ask of any runner's program."""

    @property
    def digest(self) -> str: ...
    @property
    def errors_are_final(self) -> bool: ...


T = TypeVar("T")


class RunnerProtocol(Protocol):
    """What the loop (``raceproof.loop``), ``run_exploration`` and the counterexample pipeline
    (``raceproof.pipeline``, ``raceproof.shrink``) call on a runner, and nothing else: the model's
    ``Runner`` below and ``raceproof.exec.runner.ExecRunner`` (a real program under ptrace) both
    satisfy it."""

    @property
    def program(self) -> ProgramFacts: ...
    @property
    def vfs(self) -> Vfs | None:
        """The model filesystem (the pipeline records its tree before every step), or None."""

    def run(self, driver: Callable[[Self], Coroutine[Any, Any, T]]) -> T:
        """Run `driver(self)`, which awaits ``run_one``, to its end and return its value."""

    async def run_one(self, chooser: Chooser, *, check: bool = True) -> Execution:
        """One execution under `chooser`, judged by the program's check unless `check` is False."""

    def run_single(self, chooser: Chooser) -> Execution:
        """One execution under `chooser`, outside any ``run``."""


def default_violations(execution: Execution) -> list[Violation]:
    """A thread that raised is a failure, reported at the step that raised."""
    out = []
    for tid, r in enumerate(execution.results):
        if r.error is None or isinstance(r.error, Crash):
            continue
        err = r.error
        step = execution.trace[r.failed_step] if r.failed_step is not None else None
        out.append(Violation(
            check="no-worker-error",
            thread=execution.names[tid],
            op=step.op if step else "",
            path=step.path if step else getattr(err, "filename", "") or "",
            errno=errno_name(err.errno) if isinstance(err, OSError) and err.errno else "",
            message=f"{type(err).__name__}: {err}",
            step=step.index if step else None,
        ))
    if execution.deadlock:
        out.append(Violation(check="no-deadlock", message=execution.deadlock))
    return out


class Runner:
    """Owns a backend and runs executions of one program on it."""

    def __init__(self, program: Program, backend: str = "memory", driver: str = "trio",
                 max_steps: int = MAX_STEPS) -> None:
        if driver not in DRIVERS:
            from raceproof.errors import UnknownNameError

            raise UnknownNameError("driver", driver, DRIVERS)
        self.driver = driver
        self.max_steps = max_steps
        self.program = program
        self.backend = make_backend(backend)
        self.vfs = Vfs(self.backend)
        self.program.setup(self.vfs)
        self.vfs.reset_ids()
        self._snapshot = self.backend.snapshot()
        self._setup_ids: dict[int, str] | None = None
        self.initial_tree = self.vfs.tree()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        self.vfs.reset_ids()
        if self._snapshot is not None:
            self.backend.restore(self._snapshot)
            if self._setup_ids is None:
                self._setup_ids = self.vfs.name_setup_files()
            else:
                self.vfs.set_setup_ids(self._setup_ids)  # a restore gives the same inodes
        else:
            self.backend.reset()
            self.program.setup(self.vfs)
            self.vfs.reset_ids()
            self.vfs.name_setup_files()

    async def run_one(self, chooser: Chooser, *, check: bool = True) -> Execution:
        self.reset()
        sched = Scheduler(self.vfs, chooser, list(self.program.names), self.max_steps, DRIVER_CLASSES[self.driver]())
        self.program.hooks(sched)
        attach = getattr(chooser, "attach", None)
        if attach is not None:  # a chooser that looks at the execution's state (``strategies.stateful``)
            attach(sched)
        bodies = self.program.bodies(sched)
        deadlock = None
        try:
            await sched.run(bodies)
        except DeadlockError as exc:
            deadlock = str(exc)
        if sched.fatal is not None:  # the machinery's own error: it ends the run, never a result
            self.vfs.reset_ids()
            raise sched.fatal
        execution = Execution(
            choices=list(sched.choices), trace=sched.trace, results=[t.result for t in sched.threads],
            names=list(self.program.names), aborted=sched.aborted, deadlock=deadlock,
            values=list(sched.values),
        )
        tails = sched.tails
        if tails is not None:  # the deferred tails' own steps (``raceproof.tails``)
            execution.extra["tail_steps"] = tails.steps
        self.vfs.reset_ids()
        if not execution.aborted:
            execution.tree = tails.tree(self.vfs) if tails is not None and tails.cut else self.vfs.tree()
            if check:
                execution.violations = self.program.check(execution, self.vfs)
        return execution

    def run(self, driver: Callable[[Self], Coroutine[Any, Any, T]]) -> T:
        """Run `driver(self)` inside one trio.run with a MockClock (or directly, without Trio)."""
        if self.driver == "direct":
            return run_without_trio(driver(self), "the direct driver cannot host code that awaits Trio")
        import trio  # only here: a direct-driver process never loads Trio

        return trio.run(driver, self, clock=mock_clock())

    def run_single(self, chooser: Chooser) -> Execution:
        async def driver(runner: Runner) -> Execution:
            return await runner.run_one(chooser)

        return self.run(driver)


def run_without_trio(coro: Coroutine[Any, Any, T], what: str) -> T:
    """Drive a coroutine that never suspends (it awaits only steps the direct driver runs in
    place) to its end; one that suspends is an ``InternalError`` saying `what`."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise InternalError(what)
