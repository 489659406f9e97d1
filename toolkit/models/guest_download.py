"""The incident's pipeline: ``guest-download`` extracting storage archives in parallel.

N mounts, each with an archive; a pool of ``workers`` threads (default 4). Every job is a
virtual thread of its own: which worker runs which job is not observable on the filesystem, so
identical workers are not told apart (no symmetric interleavings to explore). With fewer
workers than jobs, job ``k`` starts once ``k - workers + 1`` jobs have finished (a pool taking
jobs in order: job ``k`` is taken when a worker is idle and jobs ``0..k-1`` were taken), a
blocking step on a counting latch that partial-order reduction understands; a job finishing,
failed or not, is one arrival at that latch.
A job is:

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
from raceproof.models import tar
from raceproof.models.rust_fs import create_dir_all, remove_dir_all
from raceproof.sfs import SchedFS
from raceproof.steps import Footprint
from raceproof.tails import tail_footprint


@dataclass
class Job:
    index: int
    root: str
    archive: bytes
    digest: str
    label: str
    delivered: bytes | None = None  # what the download actually returns (faults may change it)
    #: the whole configuration a job may need (a user algorithm gets only its job): every mount
    #: root (in scenario order) and an id of this run (the scenario digest)
    mounts: tuple[str, ...] = ()
    run_id: str = ""
    _claim: tuple[Footprint | None] | None = field(default=None, repr=False, compare=False)

    def claim(self) -> Footprint | None:
        """What the rest of a built-in job may touch once its root exists (``raceproof.tails``)."""
        if self._claim is None:
            try:
                self._claim = (tail_footprint(self.root, self.members()),)
            except OSError:  # a malformed archive: the tail fails, let it run as it is
                self._claim = (None,)
        return self._claim[0]

    def payload(self) -> bytes:
        return self.archive if self.delivered is None else self.delivered

    def members(self, data: bytes | None = None) -> list[tar.Member]:
        """The archive's members without extracting anything, like tar-rs's ``Archive::entries``
        over the downloaded bytes: no filesystem step (parsing is local). `data` defaults to what
        the download returns (``payload``). A malformed or cut archive raises ``tar.TarError`` (an
        ``OSError``, EIO for a cut member), as extracting it would."""
        out = []
        for member, complete in tar.parse(self.payload() if data is None else data):
            if not complete:
                raise tar.TarError(E.EIO, f"{self.root}: archive member {member.name} is cut short")
            out.append(member)
        return out


@dataclass
class Pipeline:
    jobs: list[Job]
    workers: int = 4
    algorithm: str = "fixed"
    verify_digest: bool = True
    tolerate_enoent: bool = True
    results: dict[int, list[str]] = field(default_factory=dict)

    def thread_names(self) -> list[str]:
        return [job.label for job in self.jobs]

    def algorithm_fn(self) -> Callable[[SchedFS, Job, Pipeline], Awaitable[Any]]:
        from raceproof.keepalive import CANDIDATES

        if self.algorithm in CANDIDATES:  # a keep-alive cleanup candidate: its last phase per job
            return CANDIDATES[self.algorithm].phases[-1]
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

    @property
    def static(self) -> bool:
        """Whether every job starts at once (no job waits for a worker)."""
        return self.workers >= len(self.jobs)

    def bodies(self, fs_for: Callable[[int], SchedFS], latch: str = "pool") -> list[Callable[[], Awaitable[Any]]]:
        """One thread per job; with fewer workers than jobs, gated by the pool's `latch` (a rerun
        of the pipeline in the same execution needs a latch of its own)."""
        algo = self.algorithm_fn()
        workers = self.workers

        async def pooled(i: int) -> Any:
            fs = fs_for(i)
            if i < workers:
                return await self._run_job(algo, fs, self.jobs[i])
            await fs.wait_arrivals(latch, i - workers + 1)
            return await self._run_job(algo, fs, self.jobs[i])

        async def job_then_free(i: int) -> Any:
            try:
                result = await pooled(i)
            except Exception:
                await fs_for(i).arrive(latch)
                raise
            await fs_for(i).arrive(latch)
            return result

        def body(i: int) -> Callable[[], Awaitable[Any]]:
            if self.static or i == len(self.jobs) - 1:
                return lambda: pooled(i)  # no job is left to wait for this one to finish
            return lambda: job_then_free(i)

        return [body(i) for i in range(len(self.jobs))]

    async def _run_job(self, algo: Callable[[SchedFS, Job, Pipeline], Awaitable[Any]], fs: SchedFS, job: Job) -> Any:
        result = await algo(fs, job, self)
        if isinstance(result, list):
            self.results[job.index] = result
        return result


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
    return await fs.tail(job.root, job.claim, lambda: extract(fs, job, pipeline, legacy))


async def extract(fs: SchedFS, job: Job, pipeline: Pipeline, legacy: bool) -> list[str]:
    """A job's tail: the download and tar-rs's ``unpack`` into its existing root. It depends on
    nothing the job saw before (``create_dir_all`` returns nothing): ``raceproof.tails``."""
    data = await download(fs, job, pipeline)
    return await tar.unpack(fs, job.root, data, legacy=legacy)


async def pre_cleanup(fs: SchedFS, job: Job, pipeline: Pipeline) -> list[str]:
    try:
        await remove_dir_all(fs, job.root, tolerate_enoent=pipeline.tolerate_enoent)
    except FileNotFoundError:
        pass
    legacy = not pipeline.tolerate_enoent
    await create_dir_all(fs, job.root, legacy=legacy)
    return await fs.tail(job.root, job.claim, lambda: extract(fs, job, pipeline, legacy))


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
