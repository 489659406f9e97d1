"""Deferred tails: the rest of a job that only it can see runs once, after the interleaved part.

A built-in job is a short *head* that races with everything (``remove_dir_all`` and
``create_dir_all`` of its root, walking shared ancestors) and a long *tail*: the download and
tar-rs's ``unpack``, dozens of steps per file, all inside the job's own root. Every execution
of a proof replays every tail, though no other thread can see one: production-sized archives
make each execution thousands of steps where a few dozen decide the interleaving.

**The claim.** At the end of its head a job *claims* its tail: one step (``SchedFS.tail``) whose
footprint is everything the tail may touch (``tail_footprint``: the entries of its members' paths
and their directories, the ancestors its ``canonicalize`` walks read). The claim changes nothing;
the thread then waits. Once every unfinished thread waits at its claim (the *cut*), the claimed
tails run one after another, in thread order, with no scheduling point and no footprint kept.

**Why that loses no verdict.** Let P' be the program whose tail is one atomic step at the claim
(footprint: the claim). (1) Every execution of P' is one of the program: the tail's steps run
contiguously. (2) Take any execution E of the program. If no step of another thread *after* T's
claim is dependent with T's claim, T's tail steps (which stay inside the claim: checked, below)
commute with every later step of another thread, so they can all be moved to the end: an
equivalent execution in which the tail runs contiguously, at the end. If some such step s is
dependent, the execution of P' that is E without T's tail steps, the tail claimed atomically and
deferred, also has s after the claim, still dependent: a step that reads nothing the tail writes
behaves the same with or without it (footprints cover what a step reveals), and s reads or writes
something the claim covers, so it does so in that execution too. DPOR explores every
Mazurkiewicz trace of P' (the claim is an ordinary step to it), and the dependent order of s
after the claim holds in every execution of that trace: the run stops with ``TailBroken``.
(3) At the cut nothing is left but claimed tails, pairwise independent (checked as each claim is
made), so running them in thread order is as good as any order.

**Checked, every execution.** After a claim, any step of another thread dependent with it (a
claim included): ``TailBroken``. A tail step whose footprint leaves its claim: ``TailBroken``.
Both are machinery errors, never outcomes; ``raceproof.runs`` then explores without deferral.
Only a *safe* deferred search is kept (a counterexample is searched again as the program is, so
its token replays there). Deferral needs the built-in algorithms, the default checks (a function
of the results and the final tree), no injector and no pool (a job waiting for a worker waits for
a tail to *finish*).

**Recorded effects** (memory backend). A built-in tail depends on nothing its head saw
(``create_dir_all`` returns nothing) and reads only what it claimed, so from the same state of its
claimed entries it does the same thing: its effect on those entries and its result are recorded
once per state and replayed (``Tails.run``). And the whole state at the cut (every entry, the
waiting threads) seen before gives every tail's result and the final tree at once
(``at_cut``, ``tree``). A tail that raised is never recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from raceproof.errors import RaceproofError
from raceproof.fs.base import Kind, parent_of
from raceproof.fs.memory import MemoryBackend
from raceproof.steps import EMPTY, Footprint, entry

if TYPE_CHECKING:
    from raceproof.fs.vfs import Vfs
    from raceproof.incident import IncidentProgram
    from raceproof.models.tar import Member


T = TypeVar("T")


class TailBroken(RaceproofError):
    """A deferred-tail exploration met a step the deferral argument does not cover."""


def tail_footprint(root: str, members: Sequence[Member]) -> Footprint | None:
    """What the fixed algorithm's tail (download, tar-rs ``unpack`` into an existing `root`) may
    touch: reads of `root` and its ancestors' entries (``canonicalize``, path lookups), and the
    entries of every member's path and parent directories under `root` (created, replaced or
    looked up), whose directories gain entries. None when the archive holds anything but files and
    directories (links can point anywhere). File contents the tail creates are its own
    (``c:<thread>.<n>``): another thread reaches them only through a path, which the claim covers."""
    from raceproof.models.tar import sanitize

    if not root.startswith("/") or root == "/":
        return None
    reads = set()
    path = root
    while path != "/":
        reads.add(entry(path))
        path = parent_of(path)
    writes: set[str] = set()
    touches = {root}
    for m in members:
        if m.kind not in ("file", "dir"):
            return None
        parts = sanitize(m.name)
        if parts is None:
            continue  # tar-rs skips it
        path = root
        for part in parts:
            touches.add(path)
            path = path + "/" + part
            writes.add(entry(path))
    return Footprint(frozenset(reads | writes), frozenset(writes), EMPTY, frozenset(touches))


def deferrable(program: IncidentProgram) -> bool:
    """Whether `program`'s tails may be deferred: built-in jobs judged by the default checks, no
    injector, no pool, no initial symlinks or mount points (a claim names plain paths)."""
    from raceproof.symmetry import _builtin_jobs

    s = program.scenario
    return (_builtin_jobs(program) and program.pipeline.static and not s.initial_links and not s.mount_points
            and any(job.claim() is not None for job in program.jobs))


class Tails:
    """One execution's claims (the scheduler consults it after every step)."""

    __slots__ = ("claims", "cut", "cut_key", "memo", "reads", "replay", "results", "steps", "touched", "writes")

    def __init__(self, memo: dict[Any, Any] | None = None) -> None:
        #: recorded tail effects, shared by the executions of one search (``run``), or None
        self.memo = memo
        #: thread -> its claim: the threads waiting at their claim
        self.claims: dict[int, Footprint] = {}
        #: resource -> bitmask of the threads whose claim reads (or writes) / writes / touches it
        self.reads: dict[str, int] = {}
        self.writes: dict[str, int] = {}
        self.touched: dict[str, int] = {}
        #: whether the cut has been made
        self.cut = False
        #: per thread, the steps its tail took (run, or recorded): the program's own step counts
        #: are the trace's, less each claim step, plus these (``raceproof.observe.naive_count``)
        self.steps: dict[int, int] = {}
        #: the whole state at the cut (memory backend), what each tail returned from it, and the
        #: recorded outcome of that state when it was seen before (``at_cut``, ``tree``)
        self.cut_key: Any = None
        self.results: dict[int, Any] = {}
        self.replay: tuple[dict[int, tuple[Any, int]], dict[str, str]] | None = None

    def at_cut(self, vfs: Vfs) -> None:
        """The cut is made. On the memory backend, the whole state (every entry, the set of
        waiting threads) names it: when a search has seen it before, the tails' results and the
        final tree are the recorded ones (each tail is a function of the state it starts from,
        and they run in thread order), so none runs."""
        backend = vfs.backend
        if self.memo is None or not isinstance(backend, MemoryBackend):
            return
        self.cut_key = ("cut", tuple(sorted(self.claims)), backend.state_key())
        self.replay = self.memo.get(self.cut_key)

    def tree(self, vfs: Vfs) -> dict[str, str]:
        """The final tree of an execution that made the cut: the recorded one, or the tree, then
        recorded with what every tail returned (unless one raised)."""
        if self.replay is not None:
            return self.replay[1]
        tree = vfs.tree()
        if self.cut_key is not None and len(self.results) == len(self.claims):
            self.memo[self.cut_key] = ({t: (v, self.steps[t]) for t, v in self.results.items()}, tree)  # type: ignore[index]
        return tree

    def after(self, tid: int, fp: Footprint) -> None:
        """A step of `tid` ran: it may not be dependent with another thread's claim."""
        others = ~(1 << tid)
        reads, writes = self.reads, self.writes
        for r in fp.writes:
            if reads.get(r, 0) & others:
                self._broken(tid, r, reads[r] & others)
        for r in fp.reads:
            if writes.get(r, 0) & others:
                self._broken(tid, r, writes[r] & others)
        touched = self.touched
        for d in fp.lists:
            if touched.get(d, 0) & others:
                self._broken(tid, d, touched[d] & others)

    def claim(self, tid: int, fp: Footprint) -> None:
        """`tid` claims its tail (its claim step has run and passed ``after``)."""
        bit = 1 << tid
        self.claims[tid] = fp
        for r in fp.reads:
            self.reads[r] = self.reads.get(r, 0) | bit
        for r in fp.writes:
            self.reads[r] = self.reads.get(r, 0) | bit
            self.writes[r] = self.writes.get(r, 0) | bit
        for d in fp.touches:
            self.touched[d] = self.touched.get(d, 0) | bit

    def contain(self, tid: int, fp: Footprint, op: str, path: str) -> None:
        """A tail step of `tid` ran after the cut: its footprint must lie inside the claim."""
        claim = self.claims[tid]
        mine = f"c:{tid}."  # the contents of files it created itself
        for r in fp.writes:
            if r not in claim.writes and not r.startswith(mine):
                raise TailBroken(f"thread {tid}'s deferred {op} {path} wrote {r}, outside its claim")
        for r in fp.reads:
            if r not in claim.reads and not r.startswith(mine):
                raise TailBroken(f"thread {tid}'s deferred {op} {path} read {r}, outside its claim")
        if fp.lists:
            raise TailBroken(f"thread {tid}'s deferred {op} {path} listed {sorted(fp.lists)[0]}: not claimed")
        for d in fp.touches:
            if d not in claim.touches:
                raise TailBroken(f"thread {tid}'s deferred {op} {path} changed the entries of {d}, outside its claim")

    async def run(self, tid: int, vfs: Vfs, rest: Callable[[], Awaitable[T]]) -> T:
        """Thread `tid`'s tail after the cut: `rest`, or its recorded effect.

        A tail reads only what it claimed (checked as it runs: ``contain``), and depends on
        nothing its thread saw before the claim (the built-in tail is a function of the job), so
        from the same state of its claimed entries it takes the same steps, returns the same value
        and leaves the same entries: on the memory backend, that effect is recorded once per
        state and replayed (a tail that raised is not recorded)."""
        steps = self.steps
        if self.replay is not None:  # the whole cut state was seen before
            recorded, steps[tid] = self.replay[0][tid]
            return copy.copy(recorded)  # type: ignore[no-any-return]
        value = await self._run(tid, vfs, rest)
        self.results[tid] = copy.copy(value)
        return value

    async def _run(self, tid: int, vfs: Vfs, rest: Callable[[], Awaitable[T]]) -> T:
        backend = vfs.backend
        memo = self.memo
        steps = self.steps
        steps[tid] = 0
        if memo is None or not isinstance(backend, MemoryBackend):
            return await rest()
        claim = self.claims[tid]
        paths = sorted(r[2:] for r in claim.reads if r.startswith("e:"))
        key = (tid, tuple([backend.entry_state(p) for p in paths]))
        hit = memo.get(key)
        if hit is not None:
            recorded, value, steps[tid] = hit
            backend.apply_entries(recorded)
            return copy.copy(value)  # type: ignore[no-any-return]
        written = sorted((r[2:] for r in claim.writes if r.startswith("e:")), key=lambda p: (p.count("/"), p))
        before = [backend.entry_state(p) for p in written]
        value = await rest()
        changes: list[tuple[str, bool, tuple[Kind, bytes, str] | None]] = []
        for p, old in zip(written, before, strict=True):
            new = backend.entry_state(p)
            if new != old:
                if old is not None and old[0] == "dir":
                    return value  # a directory replaced: not recorded
                changes.append((p, old is not None, None if new is None else (new[0], new[2], new[3])))
        memo[key] = (changes, copy.copy(value), steps[tid])
        return value

    @staticmethod
    def _broken(tid: int, res: str, mask: int) -> None:
        owner = (mask & -mask).bit_length() - 1
        raise TailBroken(f"thread {tid} touches {res} after thread {owner} claimed it for its deferred tail")
