"""Crash at any step, then rerun the pipeline on the same filesystem (keep-alive reuse).

One decision point per phase-1 step of every pipeline thread (``choose_value``): ``verify``
enumerates every crash point, ``replay`` follows a token. When the crash fires, the machine is
down: the crashing step does not happen and every later phase-1 step of any thread fails with
``ECANCELED`` before touching anything (recorded in the trace). Crash steps write, and phase-1
steps read, the resource ``inject:machine``, so the reduction explores how far every other
thread got before the crash (every crash state).

Then every thread reaches a barrier (``arrive``, then ``restart``, which is blocked until all
arrived); if the machine went down, each thread runs its job again from scratch (the retry, with
the same parallelism) on the filesystem the crash left. The ordinary checks then judge the
rerun: the final tree must be the archives' (P4, crash convergence) and the rerun must not fail;
a failing rerun names the step where it cannot converge. ``restart`` is never co-enabled with a
step before the barrier, so the explorer's DPOR ignores its races (``raceproof.inject``).
Limits: extra threads (a previous writer) are not stopped by the crash; un-synced data is not
lost (no page-cache model): a crash keeps every completed write. Every crash state's reruns are
explored in full: an earlier state cache at the barrier (stop an execution whose crash state
another prefix reached) was dropped, because caching states under DPOR with sleep sets is not
known to be sound (a sleep set inherited by the first prefix may skip reruns the stopped one
would have run) and the cache keyed on the tree alone, not the program's other state.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING, Any

from raceproof.inject import BaseInjector, Param, parse_ops
from raceproof.properties import MACHINE
from raceproof.sfs import SchedFS

if TYPE_CHECKING:
    from raceproof.execution import Body, Execution, Violation
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


#: the worker pool's steps (``raceproof.models.guest_download``): a crashed job still frees its
#: worker, so the jobs waiting for one run (and fail at their first step) instead of deadlocking
POOL_STEPS = frozenset({"arrive", "wait_arrivals"})
#: synchronisation steps (``SchedFS.set_event``/``wait_event``/``barrier``) are not crash points and
#: do not observe the crash: a thread blocked on one is woken by a crashed thread's ``finally`` and
#: meets the crash at its next filesystem step (no deadlock in phase 1, and no race between the
#: crash and a step that was not yet enabled: DPOR never tries to move a blocked step before it)
SYNC_OPS = ("set_event", "wait_event", "barrier_arrive", "barrier_wait")


class MachineDown(OSError):
    """A phase-1 step after the crash: the machine is down."""


class CrashRerun(BaseInjector):
    name = "crash"
    description = "the machine crashes at some step (explored), then the job is retried on the same filesystem"
    params = (
        Param("op", str, "", "only crash before these ops (comma-separated); default every fs op"),
    )
    op: str
    explores = True
    max_faults = 1
    #: False: stop after the crash (no rerun); ``raceproof.keepalive.crashsplit`` explores the crash
    #: states this way, then each distinct crash tree's rerun once
    rerun = True

    def validate(self) -> None:
        self.ops = parse_ops("op", self.op)

    def attach(self, sched: Scheduler, program: IncidentProgram) -> None:
        super().attach(sched, program)
        n = len(program.pipeline.thread_names())
        self.n = n
        self.down = False
        self.crashed_at: int | None = None
        self.phase = [1] * n
        self._bodies2: list[Body] | None = None

        def hook(sched: Scheduler, tid: int, op: str, path: str) -> None:
            if tid >= n or self.phase[tid] != 1 or op in POOL_STEPS:
                return  # the pool's bookkeeping is not the machine's work: a job still frees its worker
            if op in SYNC_OPS:  # not filesystem steps: the crash is seen at the thread's next one
                return
            sched.vfs.fp.reads.add(MACHINE)
            if self.down:
                raise MachineDown(E.ECANCELED, "machine down (crashed)", path)
            if op in self.ops and self.decide(sched, tid):
                self.down = True
                self.crashed_at = len(sched.trace)
                sched.vfs.fp.writes.add(MACHINE)
                raise MachineDown(E.ECANCELED, "machine crashed here", path)

        sched.hooks.append(hook)

    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]:
        n = self.n

        def restart() -> bool:
            sched.vfs.fp.reads.add(MACHINE)
            return self.down

        def rerun_bodies() -> list[Body]:
            if self._bodies2 is None:
                program.pipeline.results.clear()
                self._bodies2 = program.pipeline.bodies(lambda t: SchedFS(sched, t), latch="pool:rerun")
            return self._bodies2

        def wrap(tid: int, body: Body) -> Body:
            async def run() -> Any:
                value, err = None, None
                try:
                    value = await body()
                except MachineDown:
                    pass
                except Exception as exc:
                    err = exc
                self.phase[tid] = 0
                fs = SchedFS(sched, tid)
                # every worker stops (crashed or done) before any reruns: a barrier DPOR knows,
                # so no race crosses it and no step of phase 1 is reordered after a restart
                await fs.barrier("crash:rerun", n)
                down = await fs.step("restart", "", restart)
                if not down:
                    if err is not None:
                        raise err
                    return value
                if not self.rerun:
                    return None
                self.phase[tid] = 2
                return await rerun_bodies()[tid]()

            return run

        return [wrap(i, b) if i < n else b for i, b in enumerate(bodies)]

    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]:
        execution.extra["crash_step"] = self.crashed_at
        return []

