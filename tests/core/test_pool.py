"""The worker pool of the incident model: one virtual thread per job, gated by a counting latch.

The model replaces "W worker threads taking jobs from a queue" by "one thread per job; job k
starts once k - W + 1 jobs finished". These tests hold it to the queue it replaces (same final
trees on small programs, the queue written as threads claiming jobs in order), to plain
enumeration (dpor = dfs), and check the pool's two promises on the incident's mount sets: never
more than W jobs running, and every job order a real pool allows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from raceproof import explore, scenario
from raceproof.execution import Execution
from raceproof.models.guest_download import Job, Pipeline
from raceproof.mountsets import all_mount_sets, scenario_for
from raceproof.runs import verify
from raceproof.sfs import SchedFS
from raceproof.testing import compare_strategies

POOL_STEPS = ("arrive", "wait_arrivals")


async def append_log(fs: SchedFS, job: Job, pipeline: Pipeline) -> None:
    """A job whose critical section the final tree records: read the log, write it back with
    the job's number appended (two steps: jobs running together can lose each other's entry)."""
    log = await fs.atomic_read_file("/log")
    await fs.atomic_write_file("/log", log + str(job.index).encode())


def pipeline(jobs: int, workers: int) -> Pipeline:
    p = Pipeline([Job(i, f"/m{i}", b"", "", f"job-{i}") for i in range(jobs)], workers=workers)
    p.algorithm_fn = lambda: append_log  # type: ignore[method-assign]
    return p


def job_threads(jobs: int, workers: int) -> list[Callable[[SchedFS], Awaitable[Any]]]:
    """The model under test: ``Pipeline.bodies``, one program per job."""
    p = pipeline(jobs, workers)

    def make(i: int) -> Callable[[SchedFS], Awaitable[Any]]:
        async def job(fs: SchedFS) -> None:
            await p.bodies(lambda _tid: fs)[i]()

        return job

    return [make(i) for i in range(jobs)]


def queue_workers(jobs: int, workers: int) -> list[Callable[[SchedFS], Awaitable[Any]]]:
    """The reference: `workers` threads each claiming the next job in order (``mkdir /q/N``
    fails with EEXIST when another worker took job N) and running it."""
    p = pipeline(jobs, workers)

    async def worker(fs: SchedFS) -> None:
        for index in range(jobs):
            try:
                await fs.mkdir(f"/q/{index}")
            except FileExistsError:
                continue
            await append_log(fs, p.jobs[index], p)

    return [worker] * workers


def final_logs(programs: list[Callable[[SchedFS], Awaitable[Any]]], strategy: str = "dpor") -> set[bytes]:
    r = explore(programs, setup={"/log": b"", "/q/": b""}, strategy=strategy)
    return {bytes.fromhex(dict(tree)["/log"].removeprefix("file:")) for tree, _results in r.outcomes}


@pytest.mark.parametrize(("jobs", "workers"), [(2, 1), (3, 1), (3, 2), (4, 2),
                                               pytest.param(4, 3, marks=pytest.mark.slow)])
def test_job_threads_reach_exactly_what_a_queue_of_workers_reaches(jobs: int, workers: int) -> None:
    """The same final logs as the worker queue: no order a real pool allows is missing, none it
    forbids is added (e.g. with one worker, only ``0123``)."""
    model = final_logs(job_threads(jobs, workers))
    assert model == final_logs(queue_workers(jobs, workers))
    if workers == 1:
        assert model == {"".join(map(str, range(jobs))).encode()}


def test_fewer_workers_allow_fewer_outcomes() -> None:
    """The latch does constrain: with every job running at once, entries get lost (a shorter
    log), which two workers on two jobs cannot do to a third job's entry."""
    all_at_once = final_logs(job_threads(3, 3))
    assert any(len(log) < 3 for log in all_at_once)
    assert final_logs(job_threads(3, 1)) < all_at_once


@pytest.mark.parametrize(("jobs", "workers"), [(3, 1), (3, 2), (4, 2)])
def test_the_pool_is_sound_under_dpor(jobs: int, workers: int) -> None:
    """dpor agrees with plain enumeration on the pooled programs (outcomes and traces)."""
    assert compare_strategies(job_threads(jobs, workers), setup={"/log": b"", "/q/": b""}, optimal=False) == []


def _running_jobs(execution: Execution, jobs: int) -> list[int]:
    """How many jobs were between their first and last non-pool step, after each step."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for ev in execution.trace:
        if ev.op not in POOL_STEPS:
            first.setdefault(ev.thread, ev.index)
            last[ev.thread] = ev.index
    return [sum(1 for t in range(jobs) if first.get(t, 1 << 30) <= i <= last.get(t, -1))
            for i in range(len(execution.trace))]


@pytest.mark.parametrize("workers", [1, 2])
def test_never_more_jobs_running_than_workers_and_every_order_a_pool_allows(workers: int) -> None:
    """On three nested mounts (the incident's shape), no execution runs more than `workers` jobs
    at once; with two workers, job 2 starts while job 0 still runs in some execution and while
    job 1 still runs in another (its wait ordered before that job's arrival: an order of two
    dependent steps, the same in every linearization of a trace)."""
    from raceproof.execution import Runner
    from raceproof.loop import Loop
    from raceproof.strategies import make_strategy

    base = scenario.load("scenarios/guest-download-fixed.toml")
    ms = {m.name: m for m in all_mount_sets(3)}["3:star:r00/spine"]
    peaks: list[int] = []
    still_running: set[frozenset[int]] = set()  # jobs that arrived after job 2's wait

    async def driver(runner: Runner) -> None:
        def visit(ex: Execution) -> None:
            peaks.append(max(_running_jobs(ex, 3)))
            ops = [(ev.thread, ev.op) for ev in ex.trace]
            if (2, "wait_arrivals") in ops:
                w = ops.index((2, "wait_arrivals"))
                still_running.add(frozenset(t for t, op in ops[w:] if op == "arrive"))

        await Loop(runner, make_strategy("dpor")).run(visit)

    Runner(scenario_for(base, ms, workers).program(), backend="memory").run(driver)
    assert peaks and max(peaks) == workers
    if workers == 2:
        assert {frozenset({0}), frozenset({1})} <= still_running
    else:
        assert still_running == {frozenset()}  # one worker: job 2 waits for both


def test_identical_workers_are_not_told_apart() -> None:
    """Four sibling mounts, three workers: the fourth job waits for one of three; the orders
    explored are which jobs finished before it started (7 non-empty subsets), not which worker
    took which job (81 with worker threads)."""
    base = scenario.load("scenarios/guest-download-fixed.toml")
    ms = {m.name: m for m in all_mount_sets(4)}["4:siblings:rrrr/spine"]
    r = verify(scenario_for(base, ms, 3), "dpor", None, shrink=False, symmetry=False).result
    assert (r.verdict, r.executions) == ("safe", 7)


def test_a_crash_with_a_pool_reruns_every_job() -> None:
    """A crash in a pooled run does not deadlock the jobs waiting for a worker: they fail at their
    first step, every job reruns, and the fixed algorithm converges (safe)."""
    base = scenario.load("scenarios/guest-download-fixed.toml")
    ms = {m.name: m for m in all_mount_sets(2)}["2:chain:r0/spine"]
    sc = scenario_for(base, ms, 1)
    r = verify(sc, "dpor", 20_000, inject=["crash"], shrink=False).result
    assert r.verdict == "safe", r.stop_reason
