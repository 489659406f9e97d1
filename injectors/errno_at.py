"""errno at a step: any one (or up to ``at_most``) filesystem step fails with an errno.

Unpinned, every eligible step is a recorded decision point (``choose_value``): ``raceproof
verify`` enumerates every placement of up to ``at_most`` faults, ``replay`` follows a token.
Pinned, the fault is deterministic: ``thread=T,nth=N`` (the N-th eligible step of thread T,
from 0) or ``step=N`` (global step index N; steps up to N write, and later steps read, a
step-count resource, so the reduction still explores which step lands at index N).
"""

from __future__ import annotations

import errno as E
import fnmatch
from typing import TYPE_CHECKING

from raceproof.fs.base import oserror
from raceproof.inject import BaseInjector, Param, ParamError, parse_ops

if TYPE_CHECKING:
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


ERRNOS = ("ENOENT", "EEXIST", "EIO", "ENOSPC", "EACCES", "EMFILE", "EXDEV")


class ErrnoAtStep(BaseInjector):
    name = "errno"
    description = "a filesystem step fails with an errno: at most K anywhere (explored), or pinned to a step"
    params = (
        Param("errno", str, "EIO", "the error to raise", ERRNOS),
        Param("at_most", int, 1, "explore every placement of up to K faults", minimum=0, maximum=4),
        Param("op", str, "", "only these ops (comma-separated, e.g. write,mkdir); default every fs op"),
        Param("path", str, "*", "only paths matching this glob"),
        Param("thread", str, "", "only this thread (name or id)"),
        Param("nth", int, -1, "pin: the N-th eligible step of `thread` (from 0)", minimum=-1, maximum=1_000_000),
        Param("step", int, -1, "pin: the global step index N", minimum=-1, maximum=1_000_000),
    )
    errno: str
    at_most: int
    op: str
    path: str
    thread: str
    nth: int
    step: int
    fails_jobs = True
    explores = True  # unless pinned (see validate)

    def validate(self) -> None:
        self.ops = parse_ops("op", self.op)
        if not self.path or not self.path.startswith(("/", "*")):
            raise ParamError("path", f"must be a glob over absolute paths, e.g. /home/user/* (got {self.path!r})")
        if "\\[" in fnmatch.translate(self.path):
            raise ParamError("path", f"has a '[' with no closing ']' (got {self.path!r}); write [[] for a literal '['")
        self.code = getattr(E, self.errno)
        if self.nth >= 0 and not self.thread:
            raise ParamError("nth", "needs thread=NAME (the N-th eligible step of which thread?)")
        if self.nth >= 0 and self.step >= 0:
            raise ParamError("step", "give step=N or thread=..,nth=N, not both")
        self.pinned = self.nth >= 0 or self.step >= 0
        self.explores = not self.pinned and self.at_most > 0
        self.max_faults = 1 if self.pinned else self.at_most

    def _thread_id(self, program: IncidentProgram) -> int | None:
        t = self.thread
        if not t:
            return None
        if t.isdigit() and int(t) < len(program.names):
            return int(t)
        if t in program.names:
            return list(program.names).index(t)
        raise ParamError("thread", f"{t!r} is not a thread of this scenario (threads: {', '.join(program.names)})")

    def check_program(self, program: IncidentProgram) -> None:
        """Once the program's threads are known: `thread` must name one."""
        self._thread_id(program)

    def attach(self, sched: Scheduler, program: IncidentProgram) -> None:
        super().attach(sched, program)
        only = self._thread_id(program)
        seen: dict[int, int] = {}

        def hook(sched: Scheduler, tid: int, op: str, path: str) -> None:
            index = len(sched.trace)
            if self.step >= 0:
                # the fault depends on the global step count: steps up to N change it, later steps
                # read it, so the reduction still explores which step lands at index N
                fp = sched.vfs.fp
                (fp.writes if index <= self.step else fp.reads).add("inject:step-count")
            if op not in self.ops or (only is not None and tid != only):
                return
            if not fnmatch.fnmatchcase(path, self.path):
                return
            k = seen.get(tid, 0)
            seen[tid] = k + 1
            if self.pinned:
                hit = (self.step == index) if self.step >= 0 else (k == self.nth)
                if hit and not self.fired:
                    self.fired += 1
                    raise oserror(self.code, path)
                return
            if self.decide(sched, tid):
                raise oserror(self.code, path)

        sched.hooks.append(hook)
