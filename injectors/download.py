"""Slow and stalled downloads, in virtual time only (Trio's ``MockClock``; nothing really sleeps).

The download step of the chosen mount transfers at ``speed`` bytes per virtual second
(``speed=0``: it stalls, no byte ever arrives). The pipeline gets curl's low-speed timeout
(``CURLOPT_LOW_SPEED_LIMIT``/``_TIME``): a transfer slower than ``limit`` B/s is aborted after
``time`` seconds with ETIMEDOUT, a clean job failure. A transfer at or above the limit completes
after ``size / speed`` virtual seconds. The step holds the baton while it waits, so the wait is
one atomic step, and the virtual time spent is recorded in ``execution.extra``.
"""

from __future__ import annotations

import errno as E
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from raceproof.fs.base import oserror
from raceproof.inject import BaseInjector, Param

if TYPE_CHECKING:
    from raceproof.execution import Execution, Violation
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


class SlowDownload(BaseInjector):
    name = "slow-download"
    description = "a download trickles or stalls (virtual time); curl-style low-speed timeout in the pipeline"
    params = (
        Param("mount", str, "0", "which mount's download (index, path or label)"),
        Param("speed", float, 0.0, "bytes per virtual second (0: stalled)", minimum=0, maximum=1e12),
        Param("limit", float, 1.0, "low-speed limit, bytes per second", minimum=0, maximum=1e12),
        Param("time", float, 30.0, "low-speed time: abort after this many seconds below the limit",
              minimum=0, maximum=86_400),
    )
    mount: str
    speed: float
    limit: float
    time: float
    fails_jobs = True
    needs_trio = True  # waits in Trio's virtual time: verify always uses the Trio driver

    def bind(self, program: IncidentProgram) -> None:
        self.job = self.job_for(program, self.mount)

    def attach(self, sched: Scheduler, program: IncidentProgram) -> None:
        super().attach(sched, program)
        job = self.job
        self.waited = 0.0

        def wrap(tid: int, op: str, path: str, call: Callable[[], Any]) -> Callable[[], Awaitable[Any]] | None:
            if op != "download" or path != job.root:
                return None

            async def slow() -> Any:
                size = len(job.payload())
                t0 = trio.current_time()
                speed, limit, timeout = self.speed, self.limit, self.time
                try:
                    if speed >= limit and speed > 0:
                        await trio.sleep(size / speed)
                        return call()
                    with trio.move_on_after(timeout):
                        if speed == 0:
                            await trio.sleep_forever()
                        await trio.sleep(size / speed)
                        return call()  # finished inside the low-speed window
                    self.fired += 1
                    raise oserror(E.ETIMEDOUT, job.root)
                finally:
                    self.waited = trio.current_time() - t0

            return slow

        sched.step_wrappers.append(wrap)

    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]:
        execution.extra["download_wait_s"] = self.waited
        return []
