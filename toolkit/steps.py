"""Steps and their footprints: the dependence relation partial-order reduction is built on.

A *footprint* is what one executed step actually touched, computed from its effect:

- ``reads``: resources it looked at, ``writes``: resources it changed. Resources are strings:
  ``e:/a/b`` is the directory entry ``b`` in ``/a`` (a lookup reads it; creating or removing it
  writes it) and ``c:T.N`` is the content of the file thread T created N-th (``c:sI`` for a file that
  existed before the run): names that do not depend on the interleaving.
- ``lists``: directories whose whole entry set it read (``readdir``, and ``rmdir``, whose success
  depends on emptiness).
- ``touches``: directories whose entry set it changed (creating or removing an entry).

``waits`` marks the resources (among its reads and listings) whose state *enabled* a blocking step
(``SchedFS.wait_event``, ``SchedFS.barrier``), and ``need`` how many threads' steps on them it
takes (an event: one ``set_event``; a barrier: every party's arrival); a step that writes or
touches one of those resources is an *enabling* step of it. Those conditions are
monotone (once true, true for the rest of the execution). Partial-order reduction reverses a race
between an enabling step and the blocking step only when enough *other* enabling steps would
still come first (``raceproof.strategies.dpor``); otherwise that order is forced.

Two steps of different threads are dependent when one writes what the other reads or writes, or
when one changes the entry set of a directory the other listed. Creating two different entries in
one directory is independent; listing that directory is dependent with both. Writing an existing
file's content does not touch its parent directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMPTY: frozenset[str] = frozenset()


def entry(path: str) -> str:
    """The resource of the directory entry at `path`."""
    return "e:" + path


def content(file_id: str) -> str:
    """The resource of a file's content."""
    return f"c:{file_id}"


@dataclass(frozen=True, slots=True)
class Footprint:
    reads: frozenset[str] = EMPTY
    writes: frozenset[str] = EMPTY
    lists: frozenset[str] = EMPTY
    touches: frozenset[str] = EMPTY
    waits: frozenset[str] = EMPTY
    need: int = 0

    def is_empty(self) -> bool:
        return not (self.reads or self.writes or self.lists or self.touches)


NO_FOOTPRINT = Footprint()


def dependent(a: Footprint, b: Footprint) -> bool:
    """Whether two steps (of different threads) do not commute."""
    if a.writes and (not a.writes.isdisjoint(b.writes) or not a.writes.isdisjoint(b.reads)):
        return True
    if b.writes and not b.writes.isdisjoint(a.reads):
        return True
    if a.touches and not a.touches.isdisjoint(b.lists):
        return True
    return bool(b.touches) and not b.touches.isdisjoint(a.lists)


class Accesses:
    """Who touched what so far in one trace: enough to name a step's *immediate* dependence
    predecessors without comparing it with every earlier step. Writes of one resource are totally
    ordered by happens-before, so a read only depends directly on the last write of its resource,
    and a write on the last write and the reads since it. Entry-set listings and changes
    (``lists``/``touches``) do not order among themselves, so every one is kept. Used by DPOR's race
    detection and by the crash-state reading (``raceproof.keepalive.crashstates``)."""

    __slots__ = ("last_writer", "listers", "readers", "touchers")

    def __init__(self) -> None:
        self.last_writer: dict[str, int] = {}
        self.readers: dict[str, list[int]] = {}  # reads since the last write
        self.touchers: dict[str, list[int]] = {}
        self.listers: dict[str, list[int]] = {}

    def predecessors(self, fp: Footprint) -> set[int]:
        """The earlier steps (any thread) a step with footprint `fp` directly depends on."""
        last_writer = self.last_writer
        preds: set[int] = set()
        for k in fp.reads:
            w = last_writer.get(k)
            if w is not None:
                preds.add(w)
        for k in fp.writes:
            w = last_writer.get(k)
            if w is not None:
                preds.add(w)
            preds.update(self.readers.get(k, ()))
        for d in fp.lists:
            preds.update(self.touchers.get(d, ()))
        for d in fp.touches:
            preds.update(self.listers.get(d, ()))
        return preds

    def record(self, j: int, fp: Footprint) -> None:
        """Step `j` (footprint `fp`) happened."""
        for k in fp.reads:
            self.readers.setdefault(k, []).append(j)
        for k in fp.writes:
            self.last_writer[k] = j
            self.readers[k] = []
        for d in fp.lists:
            self.listers.setdefault(d, []).append(j)
        for d in fp.touches:
            self.touchers.setdefault(d, []).append(j)


class FootprintBuilder:
    """Accumulates a step's footprint while the step runs."""

    __slots__ = ("lists", "need", "reads", "touches", "waits", "writes")

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.lists: set[str] = set()
        self.touches: set[str] = set()
        self.waits: set[str] = set()
        self.need = 0

    def build(self) -> Footprint:
        """The footprint (empty parts share one empty frozenset: most steps only read)."""
        reads, writes, lists, touches, waits = self.reads, self.writes, self.lists, self.touches, self.waits
        if not (reads or writes or lists or touches):
            return NO_FOOTPRINT
        return Footprint(
            frozenset(reads) if reads else EMPTY, frozenset(writes) if writes else EMPTY,
            frozenset(lists) if lists else EMPTY, frozenset(touches) if touches else EMPTY,
            frozenset(waits) if waits else EMPTY, self.need,
        )


@dataclass(slots=True)
class StepEvent:
    """One executed step, as recorded in a trace.

    Attributes:
        index: position in the execution (0-based).
        thread: the virtual thread id (its position in the program list).
        op: the operation name (``mkdir``, ``readdir``, ``write``, ...).
        path: the path argument (scenario namespace), or "" for steps without one.
        result: a short rendering of the result: ``ok``, a value, or an errno name.
        errno: the errno of a failed step, else None.
        footprint: what the step touched.
        enabled: the threads that were enabled when this step was chosen (sorted).
    """

    index: int
    thread: int
    op: str
    path: str
    result: str
    errno: int | None = None
    footprint: Footprint = field(default=NO_FOOTPRINT)
    enabled: tuple[int, ...] = ()
    detail: str = ""
