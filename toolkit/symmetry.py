"""Symmetry over identical jobs: interchangeable virtual threads are not told apart.

Two jobs are *identical* when they run the same built-in algorithm on the same archive bytes into
sibling mount roots (``.../skills/a`` and ``.../skills/b``) that nothing else starts inside. Swapping
such jobs, and renaming their roots into each other, maps every execution of the program onto an
execution with the same verdict. Plain DPOR still explores both: "a saw ``skills`` missing and b
saw it present" and the mirror image are different Mazurkiewicz traces. Parent + k identical
skills therefore grows by about k! (1,600 -> 8,960 executions from 4 to 5 skills, no pool).

**The leader rule.** The identical jobs of a group are chained in job order: job ``g[m]`` leads
``g[m+1]``. While a follower is the *twin* of its leader (it has seen, step for step, what its
leader saw, roots renamed), its q-th step may not run before the leader's q-th step. That is a
restriction of the program; DPOR explores the restricted program exactly (below). It loses no
verdict:

  Take any execution E of the original program and its first step that breaks the rule: the
  follower f takes its q-th step while its leader l has taken q-1 steps and the two are twins. At
  that point the whole configuration is symmetric under the swap of l and f: the two have done the
  same steps with the same results in their own subtrees, which started equal (empty), and no other
  thread has touched either subtree or listed their parent (checked, below). So the rest of E with l
  and f swapped (roots renamed) is an execution from the same state, with the same verdict up to
  the renaming. It keeps the prefix and no longer breaks the rule at that step; at most one swap per
  group member fixes a position, so repeating this reaches an execution of the restricted program.
  The checks judge every mount alike (only the default checks are allowed), so its verdict is E's.

**Footprints.** The leader's q-th step writes the resource ``sym:<leader>:<q>``; a guarded follower
step reads it and is a blocking step waiting on it (need 1), exactly like ``wait_event``: DPOR
sees the rule's one dependence (and never tries to reverse it: ``_forced``), nothing else. Whether a
follower is still a twin is decided from what its own steps saw and the leader's results *at the
guarded steps*, which that dependence orders: a function of what the step reads.

**Checked assumptions.** The argument needs the swapped subtrees untouched by others. Every step of
a symmetric run is checked: a step of another thread that reads, writes or lists anything at or
under a group member's root, a listing of the roots' parent (it shows the names, in an order), a
blocking step or a data choice in a group member: the run stops with ``SymmetryBroken`` (a
machinery error, never an outcome) and ``runs`` explores the program again without symmetry. If no
explored execution breaks them, none of the original program does before a rule-breaking step: the
canonical form of such a prefix is itself a prefix of an execution of the restricted program, whose
trace DPOR explores.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from raceproof.errors import RaceproofError

if TYPE_CHECKING:
    from raceproof.incident import IncidentProgram
    from raceproof.scenario import Scenario
    from raceproof.steps import Footprint, FootprintBuilder

#: the algorithms whose job is a function of its root and archive alone (a user algorithm gets the
#: job's index and every mount: it could tell identical jobs apart)
SYMMETRIC_ALGORITHMS = ("fixed", "pre-cleanup")


class SymmetryBroken(RaceproofError):
    """A symmetric exploration met a step the symmetry argument does not cover."""


def job_groups(program: IncidentProgram, *, tails: bool = False) -> list[tuple[int, ...]]:
    """The groups (two jobs or more, in job order) of identical jobs of `program`; [] when the
    program as a whole rules symmetry out (injectors, a pool, user checks or algorithms, links).

    With `tails` (deferred tails, ``raceproof.tails``), jobs are identical up to their tails: the
    archive is only read by the tail, which runs after the cut in the job's own root, so jobs into
    sibling roots are grouped whatever their archives (every one must have a claim). Swapping two
    such jobs keeps the state at the cut (their roots are both the empty directory they created),
    and each tail then runs in its own root as before."""

    s = program.scenario
    if not _builtin_jobs(program) or not program.pipeline.static or s.initial_links or s.mount_points:
        return []
    roots = [job.root for job in program.jobs]
    initial = [*s.initial_dirs, *s.initial_files]
    by_key: dict[tuple[str, bytes], list[int]] = {}
    for job, mount in zip(program.jobs, s.mounts, strict=True):
        root = job.root
        parent = root.rsplit("/", 1)[0]
        if not parent or any(m.kind not in ("file", "dir") for m in mount.members):
            continue
        if any(other != root and _within(other, root) for other in roots):
            continue  # another job starts inside this one's subtree
        if any(_within(p, root) for p in initial):
            continue  # the subtrees must start equal: absent
        if tails and job.claim() is None:
            continue
        by_key.setdefault((parent, b"" if tails else job.archive), []).append(job.index)
    return [tuple(g) for g in sorted(by_key.values()) if len(g) > 1]


def _builtin_jobs(program: IncidentProgram) -> bool:
    """Every job is a built-in algorithm's, judged by the default checks, with no injector."""
    from raceproof.models.guest_download import Pipeline

    s = program.scenario
    pipe = program.pipeline
    return not (program.injectors or type(pipe) is not Pipeline or pipe.algorithm not in SYMMETRIC_ALGORITHMS
                or s.checks or s.properties or len(program.names) != len(program.jobs))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


class Symmetry:
    """One execution's leader-rule bookkeeping (the scheduler consults it at every step)."""

    __slots__ = ("follower", "leader", "members", "names", "parent", "patterns", "results", "roots",
                 "scopes", "steps", "threads", "twin")

    def __init__(self, groups: Sequence[tuple[int, ...]], roots: Sequence[str], threads: Sequence[Any]) -> None:
        """`threads`: the scheduler's threads (their ``done`` flags)."""
        n = len(threads)
        self.threads = threads
        self.leader: list[int] = [-1] * n  # the thread this one follows, -1: none
        self.follower: list[int] = [-1] * n
        self.twin: list[bool] = [False] * n  # still the twin of its leader
        self.steps: list[int] = [0] * n
        #: each member's normalised results, kept only while they are compared (a twin follower's
        #: and its leader's)
        self.results: list[list[str]] = [[] for _ in range(n)]
        self.roots: dict[int, str] = {}
        self.members: dict[str, int] = {}  # a member root's parent-relative name -> its thread
        self.patterns: dict[int, re.Pattern[str]] = {}
        parents = {roots[t].rsplit("/", 1)[0] for g in groups for t in g}
        self.parent = tuple(sorted(parents))
        self.names: dict[str, dict[str, int]] = {p: {} for p in self.parent}
        for g in groups:
            for a, b in itertools.pairwise(g):
                self.leader[b] = a
                self.follower[a] = b
                self.twin[b] = True
            for t in g:
                root = roots[t]
                parent, name = root.rsplit("/", 1)
                self.roots[t] = root
                self.names[parent][name] = t
                self.patterns[t] = re.compile(re.escape(root) + r"(?![^/'\"\s,)\]])")
        #: what ``_check`` compares a footprint with: (parent, its members by name, the parent's
        #: path prefix, its entry-resource prefix)
        self.scopes = [(p, self.names[p], p + "/", "e:" + p + "/") for p in self.parent]

    def guard(self, tid: int, until: Callable[[], bool] | None) -> Callable[[], bool] | None:
        """The blocking condition of `tid`'s next step (its own `until`, or the leader rule)."""
        if tid in self.roots and until is not None:
            raise SymmetryBroken(f"thread {tid} of a symmetric group takes a blocking step")
        lead = self.leader[tid]
        if lead < 0 or not self.twin[tid]:
            return until
        q = self.steps[tid] + 1
        steps = self.steps
        if self.threads[lead].done and steps[lead] < q:
            raise SymmetryBroken(f"thread {tid} outlives its twin {lead}")
        return lambda: steps[lead] >= q

    def annotate(self, tid: int, fp: FootprintBuilder) -> None:
        """Add the rule's resources to `tid`'s step about to run."""
        if tid not in self.roots:
            return
        q = self.steps[tid] + 1
        fp.writes.add(f"sym:{tid}:{q}")
        lead = self.leader[tid]
        if lead >= 0 and self.twin[tid]:
            key = f"sym:{lead}:{q}"
            fp.reads.add(key)
            fp.waits.add(key)
            fp.need = 1

    def after(self, tid: int, outcome: Any, fp: Footprint) -> None:
        """Record `tid`'s step (its result or error) and check the assumptions on its footprint."""
        self._check(tid, fp)
        if tid not in self.roots:
            return
        self.steps[tid] += 1
        q = self.steps[tid]
        lead, follower = self.leader[tid], self.follower[tid]
        checked = lead >= 0 and self.twin[tid]
        if not checked and not (follower >= 0 and self.twin[follower]):
            return  # nobody compares this step's result
        seen = self._norm(tid, outcome)
        self.results[tid].append(seen)
        if checked and self.results[lead][q - 1] != seen:
            self.twin[tid] = False

    def choice(self, tid: int) -> None:
        if tid in self.roots:
            raise SymmetryBroken(f"thread {tid} of a symmetric group makes a data choice")

    def _norm(self, tid: int, outcome: Any) -> str:
        if outcome is None:  # most steps (mkdir, write, close...): no text to rename
            return "None"
        if isinstance(outcome, BaseException):
            err = outcome
            text = repr((type(err).__name__, getattr(err, "errno", None), getattr(err, "strerror", None),
                         getattr(err, "filename", None), getattr(err, "filename2", None), str(err)))
        else:
            text = repr(outcome)
        return self.patterns[tid].sub("\0", text)

    def _check(self, tid: int, fp: Footprint) -> None:
        for parent, names, prefix, entry in self.scopes:
            if fp.lists and parent in fp.lists:
                raise SymmetryBroken(f"thread {tid} lists {parent}, the parent of identical jobs' roots")
            n = len(prefix)
            for group in (fp.reads, fp.writes):
                for res in group:
                    if res.startswith(entry):
                        self._owned(tid, names, res[2 + n:], res[2:])
            for group in (fp.lists, fp.touches):
                for path in group:
                    if path.startswith(prefix):
                        self._owned(tid, names, path[n:], path)

    @staticmethod
    def _owned(tid: int, names: dict[str, int], rest: str, path: str) -> None:
        owner = names.get(rest.split("/", 1)[0])
        if owner is not None and owner != tid:
            raise SymmetryBroken(f"thread {tid} touches {path}, inside the subtree of identical job {owner}")


def describe(program: IncidentProgram, groups: Sequence[tuple[int, ...]]) -> str:
    """``identical jobs explored as one: pdf, docx, xlsx``, one clause per group."""
    return "; ".join("identical jobs explored as one: " + ", ".join(program.names[t] for t in g) for g in groups)


def unpooled(scenario: Scenario, program: IncidentProgram) -> Scenario | None:
    """`scenario` with a worker per job, when a proof of it proves `scenario` too; else None.

    A pool only delays jobs: job k waits until k - W + 1 jobs have finished (a latch step), and a
    finishing job arrives at the latch. Latch steps touch no file, so deleting them from an
    execution with W workers leaves an execution with a worker per job in which every step saw the
    same tree, every job got the same result, and the final tree is the same. The pooled program
    cannot deadlock when the unpooled one cannot: its jobs take no blocking step (the built-in
    algorithms take none), so every started job finishes and arrives, and each waiting job's count
    is reached. So with the default checks (a function of the jobs' results and the final tree),
    no injector (faults are placed per step and could land on a latch step) and a built-in
    algorithm, "safe with a worker per job" implies "safe with W". The converse does not hold:
    a pool can hide a race, so an unsafe or unfinished unpooled search proves nothing here.
    Worth it when the jobs are identical (the unpooled program has the leader rule, the pooled
    one does not: its jobs wait at different counts).
    """
    if not _builtin_jobs(program) or program.pipeline.static:
        return None
    return dataclasses.replace(scenario, workers=len(program.jobs))
