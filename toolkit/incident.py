"""The incident program: a scenario's guest-download pipeline (with its injectors and checks) as
the ``Program`` the runner executes (``raceproof.execution``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from raceproof.checks import DEFAULT_CHECKS, CheckContext, expected_tree, judge, resolve
from raceproof.errors import InputError, ScenarioError
from raceproof.execution import Body, Execution, Violation
from raceproof.fs import Vfs
from raceproof.inject_params import ParamError
from raceproof.inject_registry import param_error
from raceproof.keepalive import CANDIDATES, KeepalivePipeline
from raceproof.models.guest_download import Job, Pipeline, short_label
from raceproof.scheduler import Scheduler
from raceproof.sfs import SchedFS
from raceproof.symmetry import Symmetry
from raceproof.tails import Tails

if TYPE_CHECKING:
    from raceproof.injector import Injector
    from raceproof.scenario import Scenario


class IncidentProgram:
    """The pipeline of a scenario as a ``Program`` (see ``raceproof.execution``)."""

    def __init__(self, scenario: Scenario, inject: Sequence[Injector] = ()) -> None:
        self.scenario = scenario
        self.injectors = list(inject)
        roots = [m.path for m in scenario.mounts]
        self.roots = roots
        self.jobs = [Job(i, m.path, m.archive, hashlib.sha256(m.archive).hexdigest(), short_label(m.path, roots),
                         mounts=tuple(roots), run_id=scenario.digest)
                     for i, m in enumerate(scenario.mounts)]
        self.pipeline = self._pipeline()
        try:
            for inj in self.injectors:  # let injectors learn the mounts and jobs
                current = inj
                inj.bind(self)
            # injectors may add virtual threads (e.g. a still-running writer of the previous run)
            self.names = self.pipeline.thread_names() + [
                n for inj in self.injectors for n in inj.extra_threads(self)]
            for inj in self.injectors:  # parameters that name a thread
                current = inj
                inj.check_program(self)
        except ParamError as exc:  # a parameter that cannot apply to this scenario
            raise param_error(current, exc) from None
        self.digest = scenario.digest
        self.expected = expected_tree([(m.path, m.members) for m in scenario.mounts])
        self.initial: dict[str, str] = {}
        #: keep-alive P1/P2/P4 broken by a crash-free execution seen so far (``properties.p5_violations``)
        self.crash_free_broken: set[str] = set()
        self.checks = resolve(scenario.checks or scenario.properties or DEFAULT_CHECKS)
        self.context = self._context()
        #: groups of identical jobs explored under the leader rule (``raceproof.symmetry``); set
        #: by ``runs`` for a proof, [] otherwise
        self.symmetric_groups: list[tuple[int, ...]] = []
        #: whether tails are deferred (``raceproof.tails``); set by ``runs`` for a proof
        self.deferred_tails = False
        #: the recorded tail effects of the current search (``raceproof.tails.Tails.run``)
        self.tail_memo: dict[Any, Any] | None = {}
        #: whether the heads are explored as confluent (``raceproof.confluence``; with deferred
        #: tails); set by ``runs`` for a proof
        self.confluent_heads = False

    @contextmanager
    def reduced(self, *, tails: bool = False, groups: Sequence[tuple[int, ...]] = (),
                confluent: bool = False) -> Iterator[None]:
        """The program with reductions on for one search (deferred `tails`, identical-job `groups`,
        `confluent` heads), each with a fresh tail memo; as it was afterwards, however the search
        ended."""
        self.deferred_tails, self.symmetric_groups, self.confluent_heads = tails, list(groups), confluent
        self.tail_memo = {}
        try:
            yield
        finally:
            self.deferred_tails, self.symmetric_groups, self.confluent_heads = False, [], False
            self.tail_memo = {}

    def _context(self) -> CheckContext:
        return CheckContext(tuple(self.roots), self.expected, self.initial, self.scenario.stale == "forbid", self)

    def _pipeline(self) -> Pipeline:
        s = self.scenario
        if s.algorithm in CANDIDATES:
            return KeepalivePipeline(self.jobs, s.workers, s.algorithm, s.verify_digest, s.rust_enoent_tolerant)
        return Pipeline(self.jobs, s.workers, s.algorithm, s.verify_digest, s.rust_enoent_tolerant)

    def setup(self, vfs: Vfs) -> None:
        s = self.scenario
        try:
            if s.mount_points:  # mounted before the previous session's files were written
                for m in s.mounts:
                    vfs.mount(m.path)
            for d in s.initial_dirs:
                vfs.makedirs(d)
            for p, data in sorted(s.initial_files.items()):
                vfs.put(p, data)
            for p, target in sorted(s.initial_links.items()):
                vfs.makedirs(p.rsplit("/", 1)[0] or "/")
                vfs.symlink(target, p)
        except OSError as exc:  # validation rules out known conflicts; this names what is left
            raise ScenarioError(s.file, "initial", f"the initial tree cannot be built: {exc.filename}: "
                                                   f"{os.strerror(exc.errno or 0)}") from None
        for inj in self.injectors:
            try:
                inj.setup(vfs)
            except OSError as exc:
                where, what = inj.origin
                raise InputError(f"{where}: {what}: cannot plant its files on the initial tree: {exc.filename}: "
                                 f"{os.strerror(exc.errno or 0)}") from None
        self.initial = vfs.tree()
        self.context = self._context()

    def bodies(self, sched: Scheduler) -> list[Body]:
        for job in self.jobs:
            job.delivered = None
        self.pipeline = self._pipeline()
        bodies = self.pipeline.bodies(lambda tid: SchedFS(sched, tid))
        for inj in self.injectors:  # may set Job.delivered, wrap bodies, append extra threads
            bodies = list(inj.bodies(sched, self, bodies))
        return bodies

    def hooks(self, sched: Scheduler) -> None:
        if self.symmetric_groups:
            sched.symmetry = Symmetry(self.symmetric_groups, self.roots, sched.threads)
        if self.deferred_tails:
            sched.tails = Tails(self.tail_memo)
            if self.confluent_heads:
                from raceproof.confluence import Confluence

                sched.confluence = Confluence(self.roots)
        for inj in self.injectors:
            inj.attach(sched, self)

    @property
    def errors_are_final(self) -> bool:
        """A worker's error is always a violation, unless an injector may judge it a clean failure."""
        return not self.injectors

    def check(self, execution: Execution, vfs: Vfs) -> list[Violation]:
        out = judge(self.checks, execution, self.context)
        for inj in self.injectors:  # an injected fault can make a clean job failure the right outcome
            out = list(inj.judge(execution, self, out))
        for inj in self.injectors:
            out.extend(inj.check(execution, self))
        return out
