"""The incident's pipeline: ``guest-download`` extracting storage archives in parallel.

N mounts, each with an archive; a pool of ``workers`` threads (default 4). When there are at
least as many workers as mounts every worker runs one job (which worker takes which job is a
relabelling, so it is not explored); otherwise workers take jobs from a shared queue in order
(each take is a step). A job is:

- ``pre-cleanup`` (the buggy variant, 2026-04-09): ``remove_dir_all(target)`` (NotFound ignored),
  ``create_dir_all(target)``, download, ``Archive::unpack(target)``;
- ``fixed`` (the 2026-04-10 fix): ``create_dir_all(target)``, download, unpack;
- ``module:function``: a user's ``async def algo(fs, job)`` over the scheduled filesystem.

The download is one thread-local step; with ``verify_digest`` it checks the archive's sha256
against the manifest first (so truncation and corruption fail the job before extraction).
"""

from __future__ import annotations

import errno as E
import functools
import hashlib
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raceproof.errors import InputError
from raceproof.fs.base import oserror
from raceproof.fs.vfs import Vfs
from raceproof.models import tar
from raceproof.models.rust_fs import create_dir_all, remove_dir_all
from raceproof.sfs import SchedFS


@dataclass
class Job:
    index: int
    root: str
    archive: bytes
    digest: str
    label: str
    delivered: bytes | None = None  # what the download actually returns (faults may change it)

    def payload(self) -> bytes:
        return self.archive if self.delivered is None else self.delivered


@dataclass
class Pipeline:
    jobs: list[Job]
    workers: int = 4
    algorithm: str = "fixed"
    verify_digest: bool = True
    tolerate_enoent: bool = True
    results: dict[int, list[str]] = field(default_factory=dict)

    def thread_names(self) -> list[str]:
        if self.static:
            return [job.label for job in self.jobs]
        return [f"worker-{i}" for i in range(self.workers)]

    @property
    def static(self) -> bool:
        return self.workers >= len(self.jobs)

    def algorithm_fn(self) -> Callable[[SchedFS, Job, Pipeline], Awaitable[Any]]:
        if self.algorithm == "fixed":
            return fixed
        if self.algorithm == "pre-cleanup":
            return pre_cleanup
        module, _, attr = self.algorithm.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"algorithm {self.algorithm!r}: cannot import ({exc})") from None

        async def user(fs: SchedFS, job: Job, pipeline: Pipeline) -> Any:
            return await fn(fs, job)

        return user

    def bodies(self, fs_for: Callable[[int], SchedFS]) -> list[Callable[[], Awaitable[Any]]]:
        algo = self.algorithm_fn()
        if self.static:
            def job_body(i: int) -> Callable[[], Awaitable[Any]]:
                return lambda: self._run_job(algo, fs_for(i), self.jobs[i])

            return [job_body(i) for i in range(len(self.jobs))]
        queue = {"next": 0}

        async def worker(fs: SchedFS) -> None:
            while True:
                index = await fs.step("take_job", "", _take, queue, len(self.jobs), fs.vfs,
                                       render=lambda j: "none" if j is None else f"job {j}")
                if index is None:
                    return
                await self._run_job(algo, fs, self.jobs[index])

        def worker_body(i: int) -> Callable[[], Awaitable[Any]]:
            return lambda: worker(fs_for(i))

        return [worker_body(i) for i in range(self.workers)]

    async def _run_job(self, algo: Callable[[SchedFS, Job, Pipeline], Awaitable[Any]], fs: SchedFS, job: Job) -> Any:
        result = await algo(fs, job, self)
        if isinstance(result, list):
            self.results[job.index] = result
        return result


def _take(queue: dict[str, int], n: int, vfs: Vfs) -> int | None:
    fp = vfs.fp  # the builder of the step being executed
    index = queue["next"]
    if index >= n:
        fp.reads.add("q:jobs")
        return None
    fp.writes.add("q:jobs")
    queue["next"] = index + 1
    return index


@functools.lru_cache(maxsize=256)
def sha256_hex(data: bytes) -> str:
    """The digest of an archive (cached: every execution downloads the same bytes)."""
    return hashlib.sha256(data).hexdigest()


async def download(fs: SchedFS, job: Job, pipeline: Pipeline) -> bytes:
    """One local step: fetch the archive (and check its digest when the pipeline does)."""
    data = job.payload()

    def fetch() -> bytes:
        if pipeline.verify_digest and sha256_hex(data) != job.digest:
            raise oserror(E.EIO, f"{job.root}: archive digest mismatch")
        return data

    return bytes(await fs.step("download", job.root, fetch, detail=f"{len(data)}B",
                                render=lambda d: f"{len(d)} bytes"))


async def fixed(fs: SchedFS, job: Job, pipeline: Pipeline) -> list[str]:
    legacy = not pipeline.tolerate_enoent  # toolchains before 1.82: recursive create_dir_all too
    await create_dir_all(fs, job.root, legacy=legacy)
    data = await download(fs, job, pipeline)
    return await tar.unpack(fs, job.root, data, legacy=legacy)


async def pre_cleanup(fs: SchedFS, job: Job, pipeline: Pipeline) -> list[str]:
    try:
        await remove_dir_all(fs, job.root, tolerate_enoent=pipeline.tolerate_enoent)
    except FileNotFoundError:
        pass
    legacy = not pipeline.tolerate_enoent
    await create_dir_all(fs, job.root, legacy=legacy)
    data = await download(fs, job, pipeline)
    return await tar.unpack(fs, job.root, data, legacy=legacy)


def short_label(root: str, roots: Sequence[str]) -> str:
    """A readable thread name for a mount: its path relative to the shallowest common parent."""
    parts = root.strip("/").split("/")
    if len(roots) <= 1:
        return parts[-1]
    common = _common([r.strip("/").split("/") for r in roots])
    base = max(len(common) - 1, 0)
    return "/".join(parts[base:])


def _common(paths: list[list[str]]) -> list[str]:
    out: list[str] = []
    for comps in zip(*paths, strict=False):
        if all(c == comps[0] for c in comps):
            out.append(comps[0])
        else:
            break
    return out
