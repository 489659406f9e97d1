"""Optimal DPOR: source sets with wakeup trees (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014).

Explores exactly one complete execution per Mazurkiewicz trace, with no sleep-set-blocked
executions, for the dependence relation of ``toolkit.steps.dependent`` over the footprints the
executed steps actually had.

Design notes:
- The exploration state is an explicit stack of nodes, one per position of the current execution
  (loom's ``Path``): each node holds the event taken there (thread, footprint), its sleep set
  (thread -> footprint of that thread's next event, for the threads whose exploration from here is
  redundant) and its wakeup tree (ordered branches still to explore; the first is the current one).
- After each execution, races are found with happens-before bitmasks built from per-resource
  access lists (only conflicting accesses are compared). For a race e -> e' at position i, the
  sequence v = notdep(e).e' (the events between e and e' that do not happen after e, then e') is
  inserted into node i's wakeup tree unless a thread asleep at i is a weak initial of v.
- Backtracking pops nodes whose wakeup tree is exhausted; the next execution replays the prefix
  and then follows the leftmost branch of the deepest non-empty wakeup tree.
- Data choices (``choose_value``) are always 0 here; fault placements are explored by pinning
  them, one full DPOR run per placement (see ``toolkit.explore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from toolkit.errors import NondeterminismError
from toolkit.execution import Execution
from toolkit.scheduler import ABORT, Chooser
from toolkit.steps import Footprint, StepEvent, dependent

Seq = list[tuple[int, Footprint]]


@dataclass(eq=False)
class Branch:
    tid: int
    fp: Footprint | None  # None until the event has been executed once
    children: list[Branch] = field(default_factory=list)


@dataclass(eq=False)
class Node:
    sleep: dict[int, Footprint]
    wut: list[Branch]
    tid: int = -1
    fp: Footprint | None = None


def _check_initial(tid: int, fp: Footprint, v: Seq) -> Seq | None:
    """If thread `tid` (next event `fp`) is a weak initial of `v`, v without that event; else None."""
    for idx, (t, f) in enumerate(v):
        if t == tid:
            return v[:idx] + v[idx + 1:]
        if dependent(fp, f):
            return None
    return v


def _chain(v: Seq) -> Branch:
    root = Branch(v[0][0], v[0][1])
    cur = root
    for t, f in v[1:]:
        nxt = Branch(t, f)
        cur.children.append(nxt)
        cur = nxt
    return root


def _insert(branches: list[Branch], v: Seq) -> bool:
    """Insert `v` into a wakeup tree; False if an existing branch already covers it."""
    while True:
        for br in branches:
            if br.fp is None:
                continue
            rest = _check_initial(br.tid, br.fp, v)
            if rest is not None:
                if not br.children or not rest:
                    return False
                branches, v = br.children, rest
                break
        else:
            branches.append(_chain(v))
            return True


class _DporChooser:
    sees_forced = True

    def __init__(self, owner: Dpor) -> None:
        self.owner = owner

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        return self.owner.choose(enabled, trace)

    def choose_value(self, thread: int, label: str, n: int) -> int:
        return 0


class Dpor:
    name = "dpor"
    sound = True
    bounded = False

    def __init__(self, prefix: list[int] | None = None, **_: object) -> None:
        self.prefix = list(prefix or [])  # a fixed start: explore every continuation of it
        self.stack: list[Node] = []
        self.started = False
        self.synced = 0  # positions < synced have their events recorded in the stack
        self.blocked = 0
        self.races = 0

    def next_execution(self) -> Chooser | None:
        if self.started and not self._backtrack():
            return None
        if not self.started:
            self.stack = [Node({}, [])]
            self.synced = 0
        self.started = True
        return _DporChooser(self)

    def _sync(self, trace: Sequence[StepEvent]) -> None:
        """Record the events executed since the last call and create the node after each."""
        stack = self.stack
        for pos in range(self.synced, len(trace)):
            ev = trace[pos]
            node = stack[pos]
            if node.tid != ev.thread:
                raise NondeterminismError(f"DPOR scheduled thread {node.tid} at step {pos}, but thread "
                                          f"{ev.thread} ran: the program is not deterministic")
            if node.fp is None:
                node.fp = ev.footprint
            elif node.fp != ev.footprint:
                raise NondeterminismError(f"replaying step {pos} ({ev.op} {ev.path}) touched something "
                                          "else than before: the program is not deterministic")
            if node.wut and node.wut[0].fp is None:
                node.wut[0].fp = ev.footprint
            if pos + 1 == len(stack):
                fp = ev.footprint
                sleep = {q: f for q, f in node.sleep.items() if q != ev.thread and not dependent(f, fp)}
                stack.append(Node(sleep, list(node.wut[0].children) if node.wut else []))
        self.synced = len(trace)

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        self._sync(trace)
        pos = len(trace)
        node = self.stack[pos]
        if node.tid < 0 and pos < len(self.prefix):
            node.tid = self.prefix[pos] if self.prefix[pos] in enabled else enabled[0]
            node.wut.append(Branch(node.tid, None))
        elif node.tid < 0:
            if node.wut:
                node.tid = node.wut[0].tid
            else:
                free = [t for t in enabled if t not in node.sleep]
                if not free:
                    self.blocked += 1
                    return ABORT
                node.tid = free[0]
                node.wut.append(Branch(node.tid, None))
        if node.tid not in enabled:
            raise NondeterminismError(f"DPOR scheduled thread {node.tid} at step {pos}, but only "
                                      f"{list(enabled)} are enabled: the program is not deterministic")
        return node.tid

    def observe(self, execution: Execution) -> None:
        trace = execution.trace
        self._sync(trace)
        del self.stack[len(trace):]
        self._races(trace)

    def _races(self, trace: Sequence[StepEvent]) -> None:
        n = len(trace)
        hb = [0] * n
        writers: dict[str, list[int]] = {}
        readers: dict[str, list[int]] = {}
        touchers: dict[str, list[int]] = {}
        listers: dict[str, list[int]] = {}
        last_of_thread: dict[int, int] = {}
        for j in range(n):
            ev = trace[j]
            fp = ev.footprint
            preds: set[int] = set()
            for k in fp.reads:
                preds.update(writers.get(k, ()))
            for k in fp.writes:
                preds.update(writers.get(k, ()))
                preds.update(readers.get(k, ()))
            for d in fp.lists:
                preds.update(touchers.get(d, ()))
            for d in fp.touches:
                preds.update(listers.get(d, ()))
            prev = last_of_thread.get(ev.thread)
            mask = 0 if prev is None else hb[prev] | (1 << prev)
            for p in sorted(preds, reverse=True):
                if trace[p].thread == ev.thread:
                    continue
                if not (mask >> p) & 1:
                    self._reverse(p, j, hb, trace)
                mask |= hb[p] | (1 << p)
            hb[j] = mask
            last_of_thread[ev.thread] = j
            for k in fp.reads:
                readers.setdefault(k, []).append(j)
            for k in fp.writes:
                writers.setdefault(k, []).append(j)
            for d in fp.lists:
                listers.setdefault(d, []).append(j)
            for d in fp.touches:
                touchers.setdefault(d, []).append(j)

    def _reverse(self, i: int, j: int, hb: list[int], trace: Sequence[StepEvent]) -> None:
        """Schedule the reversal of the race i -> j at node i (unless a sleeping thread covers it)."""
        self.races += 1
        if i < len(self.prefix):
            return  # the prefix is fixed
        v: Seq = [(trace[k].thread, trace[k].footprint) for k in range(i + 1, j) if not (hb[k] >> i) & 1]
        v.append((trace[j].thread, trace[j].footprint))
        node = self.stack[i]
        for q, f in node.sleep.items():
            if _check_initial(q, f, v) is not None:
                return
        _insert(node.wut, v)

    def pending(self) -> int:
        """Branches still scheduled in the wakeup trees on the current path (a lower bound on the
        executions left)."""
        return sum(max(len(node.wut) - 1, 0) for node in self.stack)

    def _backtrack(self) -> bool:
        stack = self.stack
        while stack:
            node = stack[-1]
            if node.tid >= 0 and node.fp is not None:
                node.sleep[node.tid] = node.fp
            if node.wut:
                node.wut.pop(0)
            if node.wut:
                node.tid = node.wut[0].tid
                node.fp = None
                self.synced = len(stack) - 1
                return True
            stack.pop()
        return False
