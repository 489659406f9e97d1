"""Observers of the exploration loop: each collects one thing from every execution it is shown.

``raceproof.exploration.run_exploration`` shows each execution of ``raceproof.loop.Loop`` to its
observers (Hypothesis's engine works the same way: the loop runs, observers watch): the tally
(executions, steps, failures, the first counterexample), the outcome set, the Mazurkiewicz trace
classes and the conflict-pair coverage a report shows. None of them runs anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Hashable
from typing import Any

from raceproof.execution import Execution
from raceproof.result import Coverage


def naive_count(execution: Execution) -> int:
    """Interleavings of the per-thread step counts of one execution (multinomial)."""
    counts: dict[int, int] = {}
    for ev in execution.trace:
        counts[ev.thread] = counts.get(ev.thread, 0) + 1
    return _multinomial(tuple(sorted(counts.values())))


@functools.lru_cache(maxsize=4096)
def _multinomial(counts: tuple[int, ...]) -> int:
    total = math.factorial(sum(counts))
    for c in counts:
        total //= math.factorial(c)
    return total


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
        self.executions += 1
        self.steps += len(ex.trace)
        self.naive = max(self.naive, naive_count(ex))
        if not ex.violations:
            self.passed = True
            return
        self.failing += 1
        if self.first is None:
            self.first = ex


class Outcomes:
    """The distinct observable outcomes (final tree and each thread's result)."""

    def __init__(self) -> None:
        self.seen: set[tuple[Any, ...]] = set()

    def visit(self, ex: Execution) -> None:
        self.seen.add(ex.outcome())


def dependent_pairs(ex: Execution) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, of dependent steps of different threads (a pair dependent
    through several resources may be listed more than once).

    The same relation as checking ``raceproof.steps.dependent`` on every pair, found through an
    index of the steps by resource instead (a step is compared only with steps that touched one
    of its resources)."""
    writers: dict[str, list[int]] = {}
    readers: dict[str, list[int]] = {}
    listers: dict[str, list[int]] = {}
    touchers: dict[str, list[int]] = {}
    out: list[tuple[int, int]] = []
    trace = ex.trace
    thread = [ev.thread for ev in trace]
    for j, ev in enumerate(trace):
        fp = ev.footprint
        writes, reads, lists, touches = fp.writes, fp.reads, fp.lists, fp.touches
        if not (writes or reads or lists or touches):
            continue
        t = ev.thread
        for table, keys in (
            (writers, writes),
            (readers, writes),
            (writers, reads),
            (listers, touches),
            (touchers, lists),
        ):
            for key in keys:
                earlier = table.get(key)
                if earlier:
                    out.extend((i, j) for i in earlier if thread[i] != t)
        for table, keys in ((writers, writes), (readers, reads), (listers, lists), (touchers, touches)):
            for key in keys:
                if key in table:
                    table[key].append(j)
                else:
                    table[key] = [j]
    return out


def trace_class(ex: Execution) -> Hashable:
    """The Mazurkiewicz trace of an execution, as a hashable value: each thread's sequence of
    events (operation, path, result, footprint) and, per resource, the order of its accesses up to
    commuting ones.

    Two executions are in one trace exactly when every pair of dependent events of different
    threads (``raceproof.steps.dependent``) runs in the same order. Per resource, reads commute
    with reads and every write is ordered against everything; per directory, listings commute with
    listings and entry-set changes with entry-set changes. So the history of a resource, written
    as a sequence of groups of commuting accesses (events named ``(thread, k)``), fixes the order
    of every dependent pair on it, and is fixed by them: linear in the trace. Groups executions
    exactly as ``raceproof.testing.trace_key`` (the oracle's own, quadratic, pairwise version;
    tests compare the two)."""
    counts = [0] * len(ex.names)
    # resource -> groups: ("", event) orders against everything; [kind, events] is a run of
    # commuting accesses: reads ("r"), listings ("l") or entry-set changes ("t")
    history: dict[str, list[Any]] = {}
    per_thread: dict[int, list[tuple[Any, ...]]] = {}
    for ev in ex.trace:
        t = ev.thread
        name = (t, counts[t])
        counts[t] += 1
        fp = ev.footprint
        per_thread.setdefault(t, []).append((ev.op, ev.path, ev.result, ev.errno, ev.detail, fp))
        writes, lists, touches = fp.writes, fp.lists, fp.touches
        if writes:
            for r in writes:
                g = history.get(r)
                if g is None:
                    history[r] = [("", name)]
                else:
                    g.append(("", name))
        for r in fp.reads:
            if r in writes:
                continue
            g = history.get(r)
            if g is None:
                history[r] = [["r", {name}]]
            elif g[-1][0] == "r":
                g[-1][1].add(name)
            else:
                g.append(["r", {name}])
        for d in lists:
            k = "entries:" + d
            g = history.get(k)
            if d in touches:
                if g is None:
                    history[k] = [("", name)]
                else:
                    g.append(("", name))
                continue
            if g is None:
                history[k] = [["l", {name}]]
            elif g[-1][0] == "l":
                g[-1][1].add(name)
            else:
                g.append(["l", {name}])
        for d in touches:
            if d in lists:
                continue
            k = "entries:" + d
            g = history.get(k)
            if g is None:
                history[k] = [["t", {name}]]
            elif g[-1][0] == "t":
                g[-1][1].add(name)
            else:
                g.append(["t", {name}])
    resources = frozenset(
        (key, tuple(grp if grp[0] == "" else (grp[0], frozenset(grp[1])) for grp in groups))
        for key, groups in history.items()
    )
    return tuple(sorted((t, tuple(s)) for t, s in per_thread.items())), resources


class TraceClasses:
    """Counts the distinct Mazurkiewicz traces among the executions (the honest equivalence-class
    count: a reduction that runs two executions of one trace is not credited twice). It keeps the
    64-bit hash of each class key (``trace_class``): the keys themselves, thousands of small
    containers per execution, kept alive would make every later garbage collection slower. Two
    classes share a hash with probability about 2^-64 per pair (3e-10 for 10^5 classes)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def visit(self, ex: Execution) -> None:
        self.seen.add(hash(trace_class(ex)))

    @property
    def count(self) -> int:
        return len(self.seen)


def site_of(names: list[str], thread: int, op: str, path: str, occurrence: int) -> str:
    """A step site: thread, operation and path; `#k` marks the k-th such step of that thread."""
    base = f"{names[thread]}: {op}({path})"
    return base if occurrence == 1 else f"{base} #{occurrence}"


class ConflictCoverage:
    """Conflict-pair coverage: every pair of dependent step sites of different threads and the
    orders it was seen in, and the distinct final trees. Sites are numbered while observing (a
    site's text is made once, at ``freeze``)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[int, str, str, int], int] = {}
        self._names: list[str] = []
        #: (site that ran first, site that ran second)
        self._orders: set[tuple[int, int]] = set()
        self.finals: set[str] = set()
        self.executions = 0

    def visit(self, ex: Execution) -> None:
        self.executions += 1
        if not self._names:
            self._names = list(ex.names)
        ids = self._ids
        seen: dict[tuple[int, str, str], int] = {}
        sites: list[int] = []
        for ev in ex.trace:
            k = (ev.thread, ev.op, ev.path)
            n = seen[k] = seen.get(k, 0) + 1
            key = (ev.thread, ev.op, ev.path, n)
            site = ids.get(key)
            if site is None:
                site = ids[key] = len(ids)
            sites.append(site)
        orders = self._orders
        for i, j in dependent_pairs(ex):
            orders.add((sites[i], sites[j]))
        self.finals.add(hashlib.sha256(json.dumps(sorted(ex.tree.items())).encode()).hexdigest()[:12])

    @property
    def pairs(self) -> dict[tuple[str, str], set[str]]:
        """Sorted pair of site texts -> ``"ab"`` if the first ran first, ``"ba"`` if the second did."""
        text = {i: site_of(self._names, t, op, path, n) for (t, op, path, n), i in self._ids.items()}
        out: dict[tuple[str, str], set[str]] = {}
        for a, b in self._orders:
            sa, sb = text[a], text[b]
            key = (sa, sb) if sa <= sb else (sb, sa)
            out.setdefault(key, set()).add("ab" if key[0] == sa else "ba")
        return out

    def freeze(self) -> Coverage:
        return Coverage({k: frozenset(v) for k, v in self.pairs.items()}, frozenset(self.finals), self.executions)
