"""The deterministic runtime: virtual threads released one at a time by one scheduler core.

Design (a *handoff baton*, see MEASUREMENTS.md §1): before every step a virtual thread parks on
its own gate. When every live thread is parked (or finished), the scheduler asks the strategy to
choose one among the enabled threads, passed sorted by thread id, and releases exactly that one.
Only one virtual thread is ever runnable, so Trio's run-queue order (which Trio shuffles on
purpose) can never be observed. Threads start one by one in id order, up to their first gate,
without a choice. A step body runs without awaiting, or holding the baton while it awaits virtual
time (``trio.testing.MockClock``), so every step is atomic.

Drivers (``Driver``): the core decides which thread runs next; a driver makes it run.
``TrioDriver`` runs each virtual thread as a Trio task parked with
``trio.lowlevel.wait_task_rescheduled`` (virtual time available inside steps); ``DirectDriver``
resumes the same coroutines by hand, without an event loop (faster; a step that awaits anything
but its gate is an error asking for the Trio driver). Both see the same releases in the same
order, so both give the same executions (tests/engine/test_drivers.py).

A thread's exception is its outcome: it ends that thread only, like a worker thread's panic.
The machinery's own errors never are. Anything raised while choosing (a strategy, a token that
does not fit, the nondeterminism check), by a step's own machinery (``RaceproofError``: the
sandbox, the step budget) or while choosing a data value is the execution's ``fatal`` error: every
thread is unwound with ``Crash`` (a ``BaseException`` that ``except Exception`` in user code does
not catch) and the runner re-raises it once the threads are gone, so it can neither hang the
run nor pass as a thread's result.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from raceproof.errors import DeadlockError, InternalError, RaceproofError, StepBudgetExceeded
from raceproof.fs.base import Stat
from raceproof.fs.vfs import Vfs
from raceproof.steps import Footprint, FootprintBuilder, StepEvent
from raceproof.symmetry import Symmetry, SymmetryBroken
from raceproof.tails import TailBroken, Tails

T = TypeVar("T")

if TYPE_CHECKING:
    import trio  # imported by the Trio driver when one is made: the direct driver's runs never load it

    from raceproof.confluence import Confluence


class Chooser(Protocol):
    """What the scheduler needs from a strategy during one execution."""

    #: True: ``choose`` is also asked when a single thread is enabled (a forced step)
    sees_forced: bool

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        """Pick one thread id from `enabled` (sorted) for the next step (``len(trace)``).

        Called only when more than one thread is enabled, unless ``sees_forced`` is true.
        May return ``ABORT`` to stop a redundant execution."""

    def choose_value(self, thread: int, label: str, n: int) -> int:
        """Pick a data value in ``range(n)`` (fault placement and other data choices)."""


ABORT = -1
#: a step wrapper (``Scheduler.step_wrappers``)
StepWrapper = Callable[[int, str, str, Callable[[], Any]], Callable[[], Awaitable[Any]] | None]


def _abort_failed(_: object) -> trio.lowlevel.Abort:
    import trio

    return trio.lowlevel.Abort.FAILED


class Crash(BaseException):
    """Raised in every virtual thread when an injected crash stops the machine."""


@dataclass
class ThreadResult:
    value: Any = None
    error: BaseException | None = None
    failed_step: int | None = None  # index of the step whose error ended the thread


@dataclass(eq=False)
class _VThread:
    tid: int
    name: str
    parked: bool = False
    started: bool = False
    done: bool = False
    wait: Callable[[], bool] | None = None  # blocking condition; None = always enabled
    #: what the thread has observed so far, hashed (kept when ``Scheduler.observing``)
    seen: Any = 0
    step_errors: list[tuple[BaseException, int]] = field(default_factory=list)
    result: ThreadResult = field(default_factory=ThreadResult)


class Scheduler:
    """Runs one execution of N virtual threads under a Chooser."""

    def __init__(self, vfs: Vfs, chooser: Chooser, names: Sequence[str], max_steps: int = 100_000,
                 driver: Driver | None = None) -> None:
        self.vfs = vfs
        self.driver: Driver = driver if driver is not None else TrioDriver()
        self.chooser = chooser
        self.threads = [_VThread(i, n) for i, n in enumerate(names)]
        self.trace: list[StepEvent] = []
        self.choices: list[int] = []  # the schedule: non-forced thread picks and data values
        self.values: list[tuple[int, str, int]] = []  # the data choices alone: (thread, label, value)
        self.max_steps = max_steps
        self.deadlock: str | None = None
        #: fault injectors' hooks, ``hook(sched, tid, op, path)``: run inside each step before its
        #: operation; an ``OSError`` one raises is the step's result
        self.hooks: list[Callable[[Scheduler, int, str, str], None]] = []
        #: ``wrap(tid, op, path, call)`` may return an async replacement for a step's operation
        #: ``call`` (e.g. a slow download that waits in Trio's virtual time while holding the
        #: baton: Trio driver only), else None
        self.step_wrappers: list[StepWrapper] = []
        #: the thread holding the baton, None between steps (injectors use it to tell a step from set-up)
        self.running: int | None = None
        self._crash_pending = False
        self.enabled_now: tuple[int, ...] = ()
        self.aborted = False
        #: synchronisation state of this execution (``SchedFS.set_event``/``barrier``)
        self.events: set[str] = set()
        self.barriers: dict[str, set[int]] = {}
        #: the machinery's error that stopped this execution (re-raised by the runner), else None
        self.fatal: BaseException | None = None
        self._active = len(self.threads)
        self._unstarted = list(range(len(self.threads)))
        self._sees_forced = chooser.sees_forced
        #: the leader rule over identical jobs (``raceproof.symmetry``), None: off
        self.symmetry: Symmetry | None = None
        #: deferred tails (``raceproof.tails``), None: off
        self.tails: Tails | None = None
        #: the confluent-heads check (``raceproof.confluence``), None: off
        self.confluence: Confluence | None = None
        #: keep each thread's observations hashed in ``seen`` (``raceproof.strategies.stateful``)
        self.observing = False

    # the baton -----------------------------------------------------------------------------
    def _enabled(self) -> tuple[int, ...]:
        return tuple([t.tid for t in self.threads if t.parked and (t.wait is None or t.wait())])

    def _dispatch(self) -> _VThread | None:
        """Called by the baton holder when it parks or ends: the one thread to release next (its
        release recorded; the caller has the driver wake it), or None."""
        if self._active:
            return None  # someone is still running or starting (virtual time): it will dispatch
        if self._unstarted:
            return self._release(self._unstarted[0])
        if not self._crash_pending:
            try:
                chosen = self._choose()
            except BaseException as exc:  # the machinery failed: never a thread's outcome
                self.fail(exc)
            else:
                if chosen is not None:
                    return self._release(chosen)
        if self._crash_pending:  # unwind: release the parked threads one by one
            for t in self.threads:
                if t.parked:
                    return self._release(t.tid)
        return None

    def _choose(self) -> int | None:
        """The thread to release next, or None (a deadlock or an abort: the run unwinds)."""
        enabled = tuple([t.tid for t in self.threads if t.parked and (t.wait is None or t.wait())])
        tails = self.tails
        if tails is not None and (tails.cut or (not enabled and tails.claims and all(
                t.done or t.tid in tails.claims for t in self.threads))):
            # the cut: every unfinished thread waits at its claim; the tails run in thread order,
            # no choice made (``raceproof.tails``)
            if not tails.cut:
                tails.cut = True
                tails.at_cut(self.vfs)
            return next((t.tid for t in self.threads if t.parked), None)
        if not enabled:
            live = [t.name for t in self.threads if not t.done]
            if live:
                self.deadlock = f"deadlock: every live thread is blocked ({', '.join(live)})"
                self._crash_pending = True
            return None
        self.enabled_now = enabled
        if len(enabled) == 1 and not self._sees_forced:
            return enabled[0]
        chosen = self.chooser.choose(enabled, self.trace)
        if chosen == ABORT:
            self.aborted = True
            self._crash_pending = True
            return None
        if chosen not in enabled:
            raise InternalError(f"strategy chose thread {chosen}, not enabled in {enabled}")
        if len(enabled) > 1:
            self.choices.append(chosen)
        return chosen

    def fail(self, exc: BaseException) -> None:
        """Stop this execution because the machinery failed with `exc` (the first error wins).

        A ``RaceproofError`` (and an interrupt) is kept as it is; any other exception is a bug of
        raceproof's own code and becomes an ``InternalError`` caused by it."""
        if self.fatal is None:
            if not isinstance(exc, RaceproofError | KeyboardInterrupt | SystemExit):
                wrapped = InternalError(f"{type(exc).__name__}: {exc}")
                wrapped.__cause__ = exc
                exc = wrapped
            self.fatal = exc
        self._crash_pending = True

    def stop(self, exc: BaseException) -> Crash:
        """``fail(exc)``, and the ``Crash`` that unwinds the thread whose step met it (raise it
        ``from exc``): a machinery error inside a step is never that thread's outcome."""
        self.fail(exc)
        return Crash()

    def _release(self, tid: int) -> _VThread:
        t = self.threads[tid]
        t.parked = False
        self.running = tid
        self._active += 1
        if not t.started:
            t.started = True
            self._unstarted.remove(tid)
        return t

    async def _park(self, t: _VThread) -> None:
        """The gate: `t` gives up the baton, the next thread is chosen, and `t` waits until it is
        chosen itself (at once, if it is the one chosen)."""
        t.parked = True
        self.running = None
        self._active -= 1
        chosen = self._dispatch()
        if chosen is not t:
            if chosen is not None:
                self.driver.wake(chosen.tid)
            await self.driver.wait(t.tid)
        if self._crash_pending:
            raise Crash()

    # thread bodies -------------------------------------------------------------------------
    async def run_thread(self, tid: int, body: Callable[[], Awaitable[Any]]) -> None:
        t = self.threads[tid]
        self.driver.attach(tid)
        try:
            await self._park(t)
            t.result.value = await body()
        except Crash as exc:
            t.result.error = exc
        except Exception as exc:
            t.result.error = exc
            t.result.failed_step = _failed_step(exc, t.step_errors)
        finally:
            t.done = True
            t.parked = False
            self._active -= 1
            self.running = None
            chosen = self._dispatch()
            if chosen is not None:
                self.driver.wake(chosen.tid)

    async def run(self, bodies: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        """Run every thread body to its end on this scheduler's driver; a deadlock is raised as
        ``DeadlockError`` once every thread is gone."""
        await self.driver.run(self, bodies)
        if self.deadlock is not None:
            raise DeadlockError(self.deadlock)

    async def step(self, tid: int, op: str, path: str, fn: Callable[..., Any], *args: Any,
                   detail: str = "", render: Callable[[Any], str] | None = None, awaits: bool = False,
                   until: Callable[[], bool] | None = None) -> Any:
        """One scheduling point, then one atomic step on the filesystem.

        With `until`, the thread is not enabled (cannot be chosen) while ``until()`` is false: a
        blocking step. The condition must be monotone (see ``raceproof.steps``)."""
        t = self.threads[tid]
        tails = self.tails
        if tails is not None and tails.cut:
            return await self._tail_step(tid, op, path, fn, args, awaits)
        sym = self.symmetry
        if sym is not None:
            try:
                until = sym.guard(tid, until)
            except SymmetryBroken as exc:
                raise self.stop(exc) from exc
        t.wait = until
        try:
            await self._park(t)
        finally:
            t.wait = None
        index = len(self.trace)
        if index >= self.max_steps:
            self.fail(StepBudgetExceeded(self.max_steps, self.choices))
            raise Crash()
        enabled = self.enabled_now
        vfs = self.vfs
        fp = vfs.begin()
        vfs.thread = tid
        if sym is not None:
            sym.annotate(tid, fp)
        observing = self.observing
        if observing:  # until the step's result is known: anything but an OSError is opaque
            seen, t.seen = t.seen, ("opaque", next(_OPAQUE))
        try:
            if self.hooks:
                for hook in self.hooks:  # fault injectors: may raise an OSError in place of the step
                    hook(self, tid, op, path)
            slow = None
            if self.step_wrappers:
                for wrap in self.step_wrappers:
                    slow = wrap(tid, op, path, lambda: fn(*args))
                    if slow is not None:
                        break
            if slow is not None:
                value = await slow()
            else:
                value = fn(*args)
                if awaits:
                    value = await value
        except OSError as exc:
            built = fp.build()
            self.trace.append(StepEvent(index, tid, op, path, f"-1 {errno_name(exc.errno)}",
                                        exc.errno, built, enabled, detail))
            t.step_errors.append((exc, index))
            if observing:
                t.seen = hash((seen, op, path, observed(exc)))
            if sym is not None:
                self._symmetry_after(sym, tid, exc, built)
            if tails is not None:
                self._tails_after(tails, tid, op, path, built)
            raise
        except RaceproofError as exc:  # the sandbox, a model invariant: the machinery's, not the thread's
            raise self.stop(exc) from exc
        built = fp.build()
        self.trace.append(StepEvent(index, tid, op, path, render(value) if render else _render(value),
                                    None, built, enabled, detail))
        if observing:
            t.seen = hash((seen, op, path, observed(value)))
        if sym is not None:
            self._symmetry_after(sym, tid, value, built)
        if tails is not None:
            self._tails_after(tails, tid, op, path, built)
        return value

    def _tails_after(self, tails: Tails, tid: int, op: str, path: str, fp: Footprint) -> None:
        try:
            tails.after(tid, fp)
            if self.confluence is not None:
                self.confluence.after(tid, op, path, fp)
        except RaceproofError as exc:  # TailBroken, NotConfluent
            raise self.stop(exc) from exc

    async def defer(self, tid: int, path: str, claim: Footprint, rest: Callable[[], Awaitable[T]]) -> T:
        """Thread `tid` claims the rest of its run (``raceproof.tails``): one step with footprint
        `claim` that changes nothing, a wait until every unfinished thread waits at its claim,
        then `rest` (or its recorded effect, ``Tails.run``)."""
        tails = self.tails
        assert tails is not None

        def claim_it() -> None:
            b = self.vfs.fp
            b.reads.update(claim.reads)
            b.writes.update(claim.writes)
            b.touches.update(claim.touches)
            b.lists.update(claim.lists)

        await self.step(tid, "defer", path, claim_it, render=lambda _: "tail deferred")
        tails.claim(tid, claim)
        t = self.threads[tid]
        t.wait = lambda: tails.cut
        try:
            await self._park(t)
        finally:
            t.wait = None
        return await tails.run(tid, self.vfs, rest)

    async def _tail_step(self, tid: int, op: str, path: str, fn: Callable[..., Any], args: tuple[Any, ...],
                         awaits: bool) -> Any:
        """A step of a deferred tail after the cut: no scheduling point, no trace; its footprint
        must lie inside the thread's claim."""
        tails = self.tails
        assert tails is not None
        tails.steps[tid] += 1
        vfs = self.vfs
        fp = vfs.begin()
        vfs.thread = tid
        try:
            value = fn(*args)
            if awaits:
                value = await value
        except OSError:
            self._contain(tails, tid, fp, op, path)
            raise
        except RaceproofError as exc:
            raise self.stop(exc) from exc
        self._contain(tails, tid, fp, op, path)
        return value

    def _contain(self, tails: Tails, tid: int, fp: FootprintBuilder, op: str, path: str) -> None:
        try:
            tails.contain(tid, fp.build(), op, path)
        except TailBroken as exc:
            raise self.stop(exc) from exc

    def _symmetry_after(self, sym: Symmetry, tid: int, outcome: Any, fp: Footprint) -> None:
        try:
            sym.after(tid, outcome, fp)
        except SymmetryBroken as exc:
            raise self.stop(exc) from exc

    def choose_value(self, tid: int, label: str, n: int) -> int:
        if n <= 1:
            return 0
        if self._crash_pending:
            raise Crash()
        try:
            if self.symmetry is not None:
                self.symmetry.choice(tid)
            value = self.chooser.choose_value(tid, label, n)
            if not 0 <= value < n:
                raise InternalError(f"strategy chose value {value} outside range({n}) for {label}")
        except BaseException as exc:  # the machinery failed: never a thread's outcome
            raise self.stop(exc) from exc
        self.choices.append(value)
        self.values.append((tid, label, value))
        if self.observing:
            t = self.threads[tid]
            t.seen = hash((t.seen, label, value))
        return value


class Driver(Protocol):
    """How virtual threads run and wait. The scheduler core decides which thread runs next (at
    most one runs at a time); a driver only makes that happen."""

    def attach(self, tid: int) -> None:
        """Called by thread `tid` itself as it starts, before its first gate."""

    def wake(self, tid: int) -> None:
        """Make thread `tid`, waiting at its gate, run next."""

    def wait(self, tid: int) -> Awaitable[None]:
        """Thread `tid` waits at its gate until woken."""

    async def run(self, sched: Scheduler, bodies: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        """Run ``sched.run_thread`` for every body until all have ended."""


class TrioDriver:
    """Each virtual thread is a Trio task; a waiting thread is parked with
    ``trio.lowlevel.wait_task_rescheduled`` and woken with ``reschedule``, so Trio's run queue
    never holds more than one of them (its order can never be observed). Steps may await Trio's
    virtual time (``trio.testing.MockClock``)."""

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._lowlevel = trio.lowlevel
        self._tasks: dict[int, trio.lowlevel.Task] = {}

    def attach(self, tid: int) -> None:
        self._tasks[tid] = self._lowlevel.current_task()

    def wake(self, tid: int) -> None:
        self._lowlevel.reschedule(self._tasks[tid])

    def wait(self, tid: int) -> Awaitable[Any]:
        return self._lowlevel.wait_task_rescheduled(_abort_failed)  # its own coroutine, not wrapped in another

    async def run(self, sched: Scheduler, bodies: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        async with self._trio.open_nursery() as nursery:
            for tid, body in enumerate(bodies):
                nursery.start_soon(sched.run_thread, tid, body)


class _Gate:
    """The suspension point of a thread under ``DirectDriver``."""

    __slots__ = ()

    def __await__(self) -> Generator[_Gate, None, None]:
        yield self


_GATE = _Gate()


class DirectDriver:
    """The same coroutines resumed by hand, without an event loop (fast exploration). A thread
    only ever suspends at its gate and exactly one thread is resumed per wake; a thread that awaits
    anything else (Trio's virtual time, for instance) is an error asking for the Trio driver."""

    def __init__(self) -> None:
        self._next: int | None = None

    def attach(self, tid: int) -> None:
        """Nothing to remember: the coroutine is the thread."""

    def wake(self, tid: int) -> None:
        self._next = tid

    def wait(self, tid: int) -> _Gate:
        return _GATE

    async def run(self, sched: Scheduler, bodies: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        coros = [sched.run_thread(tid, body) for tid, body in enumerate(bodies)]
        for tid in range(len(coros)):  # each up to its first gate, in id order
            self._resume(coros, tid)
        while self._next is not None:
            tid, self._next = self._next, None
            self._resume(coros, tid)
        if sched.fatal is None and sched.deadlock is None and not all(t.done for t in sched.threads):
            for c in coros:
                c.close()
            stuck = ", ".join(t.name for t in sched.threads if not t.done)
            raise InternalError(f"the direct driver stopped with threads that never finished ({stuck})")

    def _resume(self, coros: list[Coroutine[Any, Any, None]], tid: int) -> None:
        try:
            signal = coros[tid].send(None)
        except StopIteration:
            return
        if signal is not _GATE:
            for c in coros:
                c.close()
            raise InternalError("a virtual thread awaited something other than its gate (Trio virtual time?); "
                                "run it with the Trio driver")


#: driver name -> class (``raceproof.execution.DRIVERS`` lists the names)
DRIVER_CLASSES: dict[str, type[TrioDriver] | type[DirectDriver]] = {"trio": TrioDriver, "direct": DirectDriver}


#: numbers for opaque observations (never equal to another: a thread that saw one is never merged)
_OPAQUE = itertools.count()
#: values a step returns that ``observed`` renders exactly
_PLAIN = (type(None), bool, int, float, str, bytes)


def observed(value: Any) -> Any:
    """`value` (a step's result, or the OSError it raised) as a hashable value equal to another's
    only when a thread cannot tell them apart; anything else is opaque (a fresh, unequal value)."""
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value)
    if isinstance(value, bytearray):
        return ("bytes", bytes(value))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple([observed(v) for v in value]))
    if isinstance(value, Stat):
        return ("Stat", value.kind, value.size, value.ino, value.dev)
    if isinstance(value, OSError) and type(value).__module__ == "builtins" and len(value.args) <= 2:
        # ``oserror``'s OSError(errno, strerror, filename): its fields are all a thread can see
        return (type(value).__name__, value.errno, value.strerror, value.filename, value.filename2)
    return ("opaque", next(_OPAQUE))


def _failed_step(exc: BaseException, step_errors: list[tuple[BaseException, int]]) -> int | None:
    """The step whose error ended the thread: `exc` itself or an error in its cause chain."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 20:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for candidate in chain:
        for err, index in reversed(step_errors):
            if err is candidate:
                return index
    return None


def errno_name(code: int | None) -> str:
    import errno as E

    return E.errorcode.get(code or 0, str(code))


def _render(value: Any) -> str:
    if value is None:
        return "ok"
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    if isinstance(value, list):
        return "[" + ", ".join(n if isinstance(n, str) else str(n[0]) for n in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Stat):
        return value.kind
    return str(value)
