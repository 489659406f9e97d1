"""Observers of the exploration loop: each collects one thing from every execution it is shown.

``raceproof.exploration.run_exploration`` shows each execution of ``raceproof.loop.Loop`` to its
observers (Hypothesis's engine works the same way: the loop runs, observers watch): the tally
(executions, steps, failures, the first counterexample), the outcome set, the Mazurkiewicz trace
classes and the conflict-pair coverage a report shows. None of them runs anything.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from raceproof.errors import InternalError
from raceproof.execution import Execution
from raceproof.result import Coverage
from raceproof.steps import Footprint


def naive_count(execution: Execution) -> int:
    """Interleavings of the per-thread step counts of one execution (multinomial). A deferred
    tail's steps count as the thread's own, its claim step does not (``raceproof.tails``): the
    count is the program's, whatever reduction explored it."""
    counts: dict[int, int] = {}
    for ev in execution.trace:
        counts[ev.thread] = counts.get(ev.thread, 0) + 1
    for tid, n in execution.extra.get("tail_steps", {}).items():
        counts[tid] += n - 1
    return _multinomial(tuple(sorted(counts.values())))


@functools.lru_cache(maxsize=4096)
def _multinomial(counts: tuple[int, ...]) -> int:
    total = math.factorial(sum(counts))
    for c in counts:
        total //= math.factorial(c)
    return total


@dataclass(frozen=True, slots=True)
class Summary:
    """What the observers take from one execution, made in the process that ran it (a worker of
    ``raceproof.subtrees``): a summary crosses between processes in about 100 bytes, an
    ``Execution`` in about 10 KB and 1.6 ms of pickling each way. Only a failing execution comes
    whole (the counterexample pipeline replays it)."""

    choices: tuple[int, ...]
    steps: int
    naive: int
    #: ``trace_class`` (a forked worker hashes strings as its parent does), None when not counted
    klass: int | None
    #: ``Execution.outcome()``, None when outcomes are not collected
    outcome: tuple[Any, ...] | None
    failing: Execution | None

    @classmethod
    def of(cls, ex: Execution, *, classes: bool, outcomes: bool) -> Summary:
        return cls(tuple(ex.choices), len(ex.trace), naive_count(ex), trace_class(ex) if classes else None,
                   ex.outcome() if outcomes else None, ex if ex.violations else None)


@dataclass(slots=True)
class Committed:
    """A subtree's executions, explored by a worker and accepted by the strategy at the point the
    serial search would have run them (``raceproof.subtrees``): returned by ``next_execution`` in
    place of a chooser, shown to the observers by the loop in order. Each item is an execution's
    summary with the number of aborted executions the subtree ran before it; `blocked`, all of
    them."""

    items: list[tuple[Summary, int]]
    blocked: int


class Tally:
    """Counts executions, steps and failures; keeps the first failing execution and whether any
    execution passed; the largest naive interleaving count seen."""

    def __init__(self) -> None:
        self.executions = 0
        self.steps = 0
        self.failing = 0
        self.naive = 0
        self.first: Execution | None = None
        self.passed = False

    def visit(self, ex: Execution) -> None:
        self._count(len(ex.trace), naive_count(ex), ex if ex.violations else None)

    def add(self, summary: Summary) -> None:
        """Count an execution another process ran (``raceproof.subtrees``)."""
        self._count(summary.steps, summary.naive, summary.failing)

    def _count(self, steps: int, naive: int, failing: Execution | None) -> None:
        self.executions += 1
        self.steps += steps
        self.naive = max(self.naive, naive)
        if failing is None:
            self.passed = True
            return
        self.failing += 1
        if self.first is None:
            self.first = failing


class Outcomes:
    """The distinct observable outcomes (final tree and each thread's result)."""

    def __init__(self) -> None:
        self.seen: set[tuple[Any, ...]] = set()

    def visit(self, ex: Execution) -> None:
        self.seen.add(ex.outcome())

    def add(self, outcome: tuple[Any, ...]) -> None:
        """An outcome another process computed (``raceproof.subtrees``)."""
        self.seen.add(outcome)


#: how an access joins a resource's history: an exclusive access is a group of its own; reads,
#: listings and entry-set changes form groups of commuting accesses of their kind
_EXCLUSIVE, _READ, _LIST, _TOUCH = 0, 1, 2, 3


def _join(state: dict[str, int], key: str, kind: int) -> int:
    """The index of the group `key`'s next access of `kind` joins (and note it in `state`, which
    holds ``4 * group index + kind of the last group``)."""
    last = state.get(key)
    if last is None:
        state[key] = kind
        return 0
    if kind != _EXCLUSIVE and last & 3 == kind:
        return last >> 2
    group = (last >> 2) + 1
    state[key] = group << 2 | kind
    return group


def trace_class(ex: Execution) -> int:
    """The Mazurkiewicz trace of an execution, as a 64-bit hash: each thread's sequence of events
    (operation, path, result, footprint), each event with the place of its accesses in the
    histories of the resources it touched.

    Two executions are in one trace exactly when every pair of dependent events of different
    threads (``raceproof.steps.dependent``) runs in the same order. Per resource, reads commute
    with reads and every write is ordered against everything; per directory, listings commute with
    listings and entry-set changes with entry-set changes. So the history of a resource, a
    sequence of groups of commuting accesses, fixes the order of every dependent pair on it, and
    is fixed by them; and the histories are fixed by each thread's events together with the index
    of the group each access joined (a group is the accesses with one index). The value hashes
    exactly that, per thread, in one pass with a small integer state per resource: linear in the
    trace, no containers kept. It groups executions as ``raceproof.oracle.trace_key`` (the
    oracle's own, quadratic, pairwise version; tests compare the two), up to 64-bit hash
    collisions."""
    threads = [0] * len(ex.names)
    res: dict[str, int] = {}
    dirs: dict[str, int] = {}
    join = _join
    for ev in ex.trace:
        fp = ev.footprint
        reads, writes, lists, touches = fp.reads, fp.writes, fp.lists, fp.touches
        acc = 0  # the event's accesses, each (resource, group): summed, so their order does not matter
        for r in writes:
            acc += hash((r, join(res, r, _EXCLUSIVE)))
        for r in reads:
            if r not in writes:
                acc += hash((r, join(res, r, _READ)))
        for d in lists:
            acc += hash((join(dirs, d, _EXCLUSIVE if d in touches else _LIST), d))
        for d in touches:
            if d not in lists:
                acc += hash((join(dirs, d, _TOUCH), d))
        t = ev.thread
        # the footprint's fields rather than the footprint: the same value, one call less
        threads[t] = hash((threads[t], ev.op, ev.path, ev.result, ev.errno, ev.detail, reads, writes, lists,
                           touches, fp.waits, fp.need, acc))
    return hash(tuple(threads))


def stable_trace_class(ex: Execution, names: dict[object, int]) -> int:
    """``trace_class`` with a value that is the same in every process of one Python version
    (``hash`` of a string is salted per process; of an int, and of a tuple of ints, it is not): each
    string and footprint stands for its BLAKE2b digest, kept in `names` (one per exploration).
    For class sets that outlive the process (``raceproof.checkpoint``). It groups executions
    exactly as ``trace_class`` does (tests compare the two)."""
    threads = [0] * len(ex.names)
    res: dict[str, int] = {}
    dirs: dict[str, int] = {}
    join = _join

    def name(x: object) -> int:
        v = names.get(x)
        if v is None:
            if isinstance(x, Footprint):
                x_text = repr((sorted(x.reads), sorted(x.writes), sorted(x.lists), sorted(x.touches),
                               sorted(x.waits), x.need))
            else:
                x_text = repr(x)
            v = names[x] = int.from_bytes(hashlib.blake2b(x_text.encode(), digest_size=8).digest(), "big",
                                          signed=True)
        return v

    for ev in ex.trace:
        fp = ev.footprint
        reads, writes, lists, touches = fp.reads, fp.writes, fp.lists, fp.touches
        acc = 0
        for r in writes:
            acc += hash((name(r), join(res, r, _EXCLUSIVE)))
        for r in reads:
            if r not in writes:
                acc += hash((name(r), join(res, r, _READ)))
        for d in lists:
            acc += hash((join(dirs, d, _EXCLUSIVE if d in touches else _LIST), name(d)))
        for d in touches:
            if d not in lists:
                acc += hash((join(dirs, d, _TOUCH), name(d)))
        t = ev.thread
        threads[t] = hash((threads[t], name(ev.op), name(ev.path), name(ev.result),
                           -1 if ev.errno is None else ev.errno, name(ev.detail), name(fp), acc))
    return hash(tuple(threads))


class TraceClasses:
    """Counts the distinct Mazurkiewicz traces among the executions (the honest equivalence-class
    count: a reduction that runs two executions of one trace is not credited twice). It keeps the
    64-bit hash of each class key (``trace_class``): the keys themselves, thousands of small
    containers per execution, kept alive would make every later garbage collection slower. Two
    classes share a hash with probability about 2^-64 per pair (3e-10 for 10^5 classes).
    With `stable`, the hashes are the same in every process (``stable_trace_class``): a set a
    checkpoint keeps, and a resumed search extends."""

    def __init__(self, stable: bool = False) -> None:
        self.seen: set[int] = set()
        self.names: dict[object, int] | None = {} if stable else None

    def visit(self, ex: Execution) -> None:
        names = self.names
        self.seen.add(trace_class(ex) if names is None else stable_trace_class(ex, names))

    def add(self, klass: int | None) -> None:
        """A class a forked worker computed (``raceproof.subtrees``: it hashes as this process
        does). Not for stable hashes, which a worker does not compute."""
        if klass is None or self.names is not None:
            raise InternalError("a trace class from another process must be a salted hash this process shares")
        self.seen.add(klass)

    @property
    def count(self) -> int:
        return len(self.seen)


def site_of(names: list[str], thread: int, op: str, path: str, occurrence: int) -> str:
    """A step site: thread, operation and path; `#k` marks the k-th such step of that thread."""
    base = f"{names[thread]}: {op}({path})"
    return base if occurrence == 1 else f"{base} #{occurrence}"


class ConflictCoverage:
    """Conflict-pair coverage: every pair of dependent step sites of different threads and the
    orders it was seen in, and the number of distinct final trees. Sites are numbered while
    observing (a site's text is made once, at ``freeze``).

    The pairs are those of ``raceproof.steps.dependent`` on every pair of steps, found through an
    index of the steps by resource instead (a step is compared only with the earlier steps that
    touched one of its resources in a conflicting way)."""

    def __init__(self) -> None:
        #: (thread, op, path) -> the site of its 1st, 2nd, ... occurrence in an execution
        self._sites: dict[tuple[int, str, str], list[int]] = {}
        self._keys: list[tuple[int, str, str, int]] = []  # site -> (thread, op, path, occurrence)
        self._names: list[str] = []
        #: (site that ran first, site that ran second)
        self._orders: set[tuple[int, int]] = set()
        self.finals: set[int] = set()
        self.executions = 0

    def visit(self, ex: Execution) -> None:
        self.executions += 1
        if not self._names:
            self._names = list(ex.names)
        sites, keys, add = self._sites, self._keys, self._orders.add
        seen: dict[tuple[int, str, str], int] = {}
        # resource -> (thread, site) of the steps so far that wrote, read, listed or touched it
        writers: dict[str, list[tuple[int, int]]] = {}
        readers: dict[str, list[tuple[int, int]]] = {}
        listers: dict[str, list[tuple[int, int]]] = {}
        touchers: dict[str, list[tuple[int, int]]] = {}
        for ev in ex.trace:
            t = ev.thread
            k = (t, ev.op, ev.path)
            n = seen.get(k, 0)
            seen[k] = n + 1
            occurrences = sites.get(k)
            if occurrences is None:
                occurrences = sites[k] = []
            if n < len(occurrences):
                site = occurrences[n]
            else:
                site = len(keys)
                keys.append((t, ev.op, ev.path, n + 1))
                occurrences.append(site)
            fp = ev.footprint
            writes, reads, lists, touches = fp.writes, fp.reads, fp.lists, fp.touches
            if not (writes or reads or lists or touches):
                continue
            for r in writes:  # a write conflicts with every earlier access of its resource
                for t2, s2 in writers.get(r, ()):
                    if t2 != t:
                        add((s2, site))
                for t2, s2 in readers.get(r, ()):
                    if t2 != t:
                        add((s2, site))
            for r in reads:
                for t2, s2 in writers.get(r, ()):
                    if t2 != t:
                        add((s2, site))
            for d in touches:  # an entry-set change conflicts with a listing of its directory
                for t2, s2 in listers.get(d, ()):
                    if t2 != t:
                        add((s2, site))
            for d in lists:
                for t2, s2 in touchers.get(d, ()):
                    if t2 != t:
                        add((s2, site))
            me = (t, site)
            for r in writes:
                if r in writers:
                    writers[r].append(me)
                else:
                    writers[r] = [me]
            for r in reads:
                if r in readers:
                    readers[r].append(me)
                else:
                    readers[r] = [me]
            for d in lists:
                if d in listers:
                    listers[d].append(me)
                else:
                    listers[d] = [me]
            for d in touches:
                if d in touchers:
                    touchers[d].append(me)
                else:
                    touchers[d] = [me]
        self.finals.add(hash(frozenset(ex.tree.items())))

    @property
    def pairs(self) -> dict[tuple[str, str], set[str]]:
        """Sorted pair of site texts -> ``"ab"`` if the first ran first, ``"ba"`` if the second did."""
        text = [site_of(self._names, t, op, path, n) for t, op, path, n in self._keys]
        out: dict[tuple[str, str], set[str]] = {}
        for a, b in self._orders:
            sa, sb = text[a], text[b]
            key = (sa, sb) if sa <= sb else (sb, sa)
            out.setdefault(key, set()).add("ab" if key[0] == sa else "ba")
        return out

    def freeze(self) -> Coverage:
        return Coverage({k: frozenset(v) for k, v in self.pairs.items()}, frozenset(self.finals), self.executions)
