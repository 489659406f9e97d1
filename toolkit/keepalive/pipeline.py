"""A worker pool with phases: the shape every keep-alive candidate runs in.

A candidate is one or more *phases*, each an ``async def phase(fs, job, pipeline)`` run once per
job. Every job is a virtual thread of its own, as in the incident's ``Pipeline``: which worker runs
which job is not observable, so identical workers are not told apart. With fewer workers than jobs,
each phase is gated by a counting latch of its own (``SchedFS.wait_arrivals``/``arrive``): in phase
``p`` job ``k`` starts once ``k - workers + 1`` jobs have finished phase ``p`` (a pool taking the
phase's jobs in mount order, parents first). Between two phases every job meets the others at a
barrier (``std::sync::Barrier``; a job whose phase failed still arrives, as a Rust worker must, or
the others would wait forever). A job whose phase failed skips its later phases (it still takes
its turn in each phase's latch, a no-op job). The last phase's return value (the extracted paths)
is the job's result.

Before this, the pool was ``workers`` threads taking jobs from a shared queue (one ``take_job``
step each): every order of the takes was explored although none is observable (a 3-sibling mount
set with 2 workers and crashes: over 30,000 executions, now a fraction; BENCHMARKS.md).

Events, latches and barriers are named with the pipeline's *generation* (one per ``bodies`` call),
so the rerun after a crash (``injectors/crash.py``) does not see the first run's.
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

    def bodies(self, fs_for: Callable[[int], SchedFS], latch: str = "pool") -> list[Callable[[], Awaitable[Any]]]:
        """One body per job: each phase gated by its latch (fewer workers than jobs), then the
        phase barrier. `latch` prefixes the latches' names (the crash rerun passes its own)."""
        from raceproof.keepalive.candidates import CANDIDATES

        self.generation += 1
        gen = self.generation
        phases = CANDIDATES[self.algorithm].phases
        n = len(self.jobs)
        workers = self.workers
        pooled = not self.static

        async def thread(i: int) -> Any:
            fs = fs_for(i)
            job = self.jobs[i]
            error: Exception | None = None
            value: Any = None
            for p, phase in enumerate(phases):
                gate = f"{latch}:ka{gen}:phase{p}"
                if pooled and i >= workers:
                    await fs.wait_arrivals(gate, i - workers + 1)  # a worker is free for this job
                if error is None:
                    try:
                        value = await phase(fs, job, self)
                        if p == len(phases) - 1 and isinstance(value, list):
                            self.results[job.index] = value
                    except Exception as exc:  # still free the worker and meet the others, then fail
                        error = exc
                if pooled and i < n - 1:  # the last job frees no one: every other job started before it
                    await fs.arrive(gate)
                if p < len(phases) - 1:
                    await fs.barrier(f"ka{gen}:phase{p}", n)
            if error is not None:
                raise error
            return value

        def body(i: int) -> Callable[[], Awaitable[Any]]:
            return lambda: thread(i)

        return [body(i) for i in range(n)]
