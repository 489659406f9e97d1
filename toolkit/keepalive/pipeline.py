"""A worker pool with phases: the shape every keep-alive candidate runs in.

A candidate is one or more *phases*, each an ``async def phase(fs, job, pipeline)`` run once per
job. With at least as many workers as jobs each thread runs its own job; otherwise the workers take
jobs from one shared queue per phase, in mount order (parents first), one ``take_job`` step each.
Between two phases every thread meets at a barrier (``std::sync::Barrier`` over the pool; a thread
whose phase failed still arrives, as a Rust worker must, or the others would wait forever). The
last phase's return value (the extracted paths) is the job's result.

Events and barriers are named with the pipeline's *generation* (one per ``bodies`` call), so the
rerun after a crash (``injectors/crash.py``) does not see the first run's events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from raceproof.models.guest_download import Pipeline
from raceproof.sfs import SchedFS

#: where keep-alive state lives outside every mount root (D's manifests): P3 allows writes here
STATE_DIR = "/var/lib/guest-download"


def parent_mount(root: str, mounts: tuple[str, ...] | list[str]) -> str | None:
    """The nearest configured mount that contains `root` (component-wise), or None."""
    best = None
    for m in mounts:
        if m != root and root.startswith(m + "/") and (best is None or len(m) > len(best)):
            best = m
    return best


def nested_roots(root: str, mounts: tuple[str, ...] | list[str]) -> set[str]:
    """Every configured mount strictly below `root` (component-wise)."""
    return {m for m in mounts if m.startswith(root + "/")}


@dataclass
class KeepalivePipeline(Pipeline):
    generation: int = 0
    #: (generation, root) of jobs that failed: a waiting child fails explicitly instead of running
    failed: set[tuple[int, str]] = field(default_factory=set)

    def done_event(self, root: str) -> str:
        return f"ka{self.generation}:done:{root}"

    def thread_names(self) -> list[str]:
        """Worker threads (not one thread per job as ``Pipeline``): a phase's barrier is met by
        the pool's workers, and with fewer workers than jobs they take jobs from a queue."""
        if self.static:
            return [job.label for job in self.jobs]
        return [f"worker-{i}" for i in range(self.workers)]

    def bodies(self, fs_for: Callable[[int], SchedFS], latch: str = "") -> list[Callable[[], Awaitable[Any]]]:
        """One body per worker; `latch` is ``Pipeline``'s (unused: events and barriers are named
        per generation here)."""
        from raceproof.keepalive.candidates import CANDIDATES

        self.generation += 1
        gen = self.generation
        phases = CANDIDATES[self.algorithm].phases
        n = len(self.thread_names())
        queues = [{"next": 0} for _ in phases]

        async def next_job(fs: SchedFS, i: int, p: int, taken: int) -> Any:
            if self.static:
                return self.jobs[i] if taken == 0 else None
            index = await fs.step("take_job", "", _take, queues[p], len(self.jobs), fs.vfs, p,
                                   render=lambda j: "none" if j is None else f"job {j}")
            return None if index is None else self.jobs[index]

        async def thread(i: int) -> Any:
            fs = fs_for(i)
            error: Exception | None = None
            value: Any = None
            for p, phase in enumerate(phases):
                if error is None:
                    try:
                        taken = 0
                        while (job := await next_job(fs, i, p, taken)) is not None:
                            taken += 1
                            value = await phase(fs, job, self)
                            if p == len(phases) - 1 and isinstance(value, list):
                                self.results[job.index] = value
                    except Exception as exc:  # still meet the others at the barrier, then fail
                        error = exc
                if p < len(phases) - 1:
                    await fs.barrier(f"ka{gen}:phase{p}", n)
            if error is not None:
                raise error
            return value

        def body(i: int) -> Callable[[], Awaitable[Any]]:
            return lambda: thread(i)

        return [body(i) for i in range(n)]


def _take(queue: dict[str, int], n: int, vfs: Any, phase: int) -> int | None:
    fp = vfs.fp
    index = queue["next"]
    if index >= n:
        fp.reads.add(f"q:jobs{phase}")
        return None
    fp.writes.add(f"q:jobs{phase}")
    queue["next"] = index + 1
    return index
