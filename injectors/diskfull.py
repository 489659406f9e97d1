"""Disk full after N bytes: a write that would take the total past the budget fails with ENOSPC.

The budget is shared by every thread, so each write step also writes the resource
``inject:disk``: writes of different threads become dependent and the reduction explores who
fills the disk first. The write is refused whole (no short write), like a write whose first byte
already does not fit; the file it was writing stays on disk, partial (see the catalogue, #6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raceproof.fs.base import oserror
from raceproof.inject import BaseInjector, Param, check_path_param

if TYPE_CHECKING:
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


class DiskFull(BaseInjector):
    name = "disk-full"
    description = "the disk fills after N bytes: writes past the budget fail with ENOSPC"
    params = (
        Param("bytes", int, 4096, "bytes that fit on the disk (data written by this run)", minimum=0,
              maximum=1 << 40),
        Param("path", str, "/", "only writes under this directory count and fail"),
    )
    bytes: int
    path: str
    fails_jobs = True

    def validate(self) -> None:
        check_path_param("path", self.path)

    def attach(self, sched: Scheduler, program: IncidentProgram) -> None:
        super().attach(sched, program)
        vfs = sched.vfs
        used = {"n": 0}
        prefix = self.path.rstrip("/") + "/"
        budget = self.bytes

        def charge(path: str, size: int) -> None:
            if sched.running is None:  # set-up between executions: not this run's data
                return
            if not (path + "/").startswith(prefix) and prefix != "/":
                return
            vfs.fp.writes.add("inject:disk")
            if used["n"] + size > budget:
                self.fired += 1
                raise oserror(28, path)  # ENOSPC
            used["n"] += size

        vfs.write_checks.append(charge)
        self.used = used
