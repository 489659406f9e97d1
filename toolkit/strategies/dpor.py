"""Optimal DPOR: source sets with wakeup trees (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014).

Explores one complete execution per Mazurkiewicz trace for the dependence relation of
``raceproof.steps.dependent`` over the footprints the executed steps actually had. The proof of
optimality presumes that an event has one footprint whatever order it runs in; here footprints
are state-dependent (a failed ``mkdir`` only reads its entry, a successful one writes it; an
``open`` creates or truncates). Two conservative rules keep the search sound where a *structural*
step (one that creates, removes or renames an entry) can change another step's footprint:

- when the first step of a race is structural, the second step's footprint is unknown
  (dependent with everything) until it has run in its new place;
- a sleeping structural step, or a wakeup-tree branch starting with one, covers a sequence only
  when it occurs in it, never as a weak initial (absent and independent).

Both cost an occasional redundant or sleep-blocked execution, never a trace (checked against
plain enumeration on generated programs over every operation, ``tests/search``).

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
  them, one full DPOR run per placement (see ``raceproof.exploration``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raceproof.errors import NondeterminismError
from raceproof.execution import Execution
from raceproof.observe import Committed
from raceproof.scheduler import ABORT, Chooser
from raceproof.steps import Accesses, Footprint, StepEvent, dependent
from raceproof.strategies import PinnedValues

if TYPE_CHECKING:
    from raceproof.subtrees import Subtrees

Seq = list[tuple[int, Footprint | None]]


@dataclass(eq=False, slots=True)
class Branch:
    tid: int
    fp: Footprint | None  # None until the event has been executed once
    children: list[Branch] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Node:
    sleep: dict[int, Footprint]
    wut: list[Branch]
    tid: int = -1
    fp: Footprint | None = None


def _structural(fp: Footprint) -> bool:
    """Whether a step with footprint `fp` can change another step's footprint: it created,
    removed or renamed an entry, or changed anything but file contents. Footprints are
    state-dependent (``open`` creates or truncates, a failed ``mkdir`` only reads), so a
    structural step can turn one event of another thread into a different one."""
    return bool(fp.touches) or not all(w.startswith("c:") for w in fp.writes)


def _check_initial(tid: int, fp: Footprint, v: Seq) -> Seq | None:
    """If thread `tid` (next event `fp`) is an initial of `v`, v without that event; else None.

    An event of `v` whose footprint is unknown (None: the reversed racing event, which has not run
    in this state yet) counts as dependent with everything.

    A *weak* initial (a thread absent from `v` whose event is independent of all of it) counts
    only when that event is not structural. Optimal DPOR's proof lets a sleeping thread's subtree
    stand for every continuation of `v` that runs the sleeper after `v`, which presumes each
    event has one dependence relation in every order. A structural sleeper breaks that: in
    ``unlink(/d) || write_file(/d) || write_file(/d)`` the second writer's ``open`` creates the
    file after the ``unlink`` (independent of the first writer's ``write``) but truncates it
    before (dependent on it), so the sleeping ``unlink``'s subtree never orders that ``write``
    before that ``open``. Refusing the weak case there costs an occasional sleep-blocked
    execution, never a trace (``tests/search``).
    """
    for idx, (t, f) in enumerate(v):
        if t == tid:
            return v[:idx] + v[idx + 1:]
        if f is None or dependent(fp, f):
            return None
    return None if _structural(fp) else v


def _forced(p: int, j: int, hb: list[int], trace: Sequence[StepEvent], enablers: dict[str, list[int]]) -> bool:
    """Whether blocking step `j` cannot run before step `p`: without `p` and what happens after
    it, too few threads' enabling steps would come first (those before `p`, or not happening
    after it). `p` need not enable `j` itself: its thread's *later* step may be the enabler (a
    race of `j` with an earlier step of the enabling thread cannot be reversed either).
    `enablers`: ``_enablers(trace)``."""
    fj = trace[j].footprint
    if not fj.waits:
        return False
    others = set()
    for res in fj.waits:
        for k in enablers.get(res, ()):
            if k >= j:
                break
            if k != p and (k < p or not (hb[k] >> p) & 1):
                others.add(trace[k].thread)
    return len(others) < fj.need


def _enablers(trace: Sequence[StepEvent]) -> dict[str, list[int]]:
    """The steps that write or touch each resource, in order: the steps that can enable a blocking
    step waiting on it (``raceproof.steps``); empty when no step of `trace` blocks."""
    out: dict[str, list[int]] = {}
    if not any(ev.footprint.waits for ev in trace):
        return out
    for k, ev in enumerate(trace):
        fp = ev.footprint
        for res in fp.writes | fp.touches if fp.touches else fp.writes:
            out.setdefault(res, []).append(k)
    return out


def _chain(v: Seq) -> Branch:
    root = Branch(v[0][0], v[0][1])
    cur = root
    for t, f in v[1:]:
        nxt = Branch(t, f)
        cur.children.append(nxt)
        cur = nxt
    return root


def _insert(branches: list[Branch], v: Seq) -> Branch | None:
    """Insert `v` into a wakeup tree: the top-level branch that grew (or was added), None if an
    existing branch already covers `v`."""
    grown = None
    while True:
        for br in branches:
            if br.fp is None:  # not run yet: it is an initial of v only if it starts v
                rest = v[1:] if v[0][0] == br.tid else None
            else:
                rest = _check_initial(br.tid, br.fp, v)
            if rest is not None:
                if not br.children or not rest:
                    return None
                grown = grown or br
                branches, v = br.children, rest
                break
        else:
            added = _chain(v)
            branches.append(added)
            return grown or added


class _DporChooser:
    sees_forced = True

    def __init__(self, owner: Dpor) -> None:
        self.owner = owner
        #: the pinned data choices (see ``Dpor(values=...)``), else 0
        self.choose_value = owner.values.asker()
        #: the owner's own method (one call less per step)
        self.choose = owner.choose


class Dpor:
    probes_run = 0  # no probes: every execution is part of the search
    name = "dpor"
    sound = True
    bounded = False

    def __init__(self, prefix: list[int] | None = None,
                 values: Sequence[tuple[int, str, int]] = (), **_: object) -> None:
        self.prefix = list(prefix or [])  # a fixed start: explore every continuation of it
        self.values = PinnedValues(values)  # pinned data choices (a failing run's fault decisions)
        self.stack: list[Node] = []
        self.started = False
        self.synced = 0  # positions < synced have their events recorded in the stack
        self.blocked = 0
        #: while an execution runs: (stack length, ``blocked``) when it started, and whether it is
        #: the first (``snapshot`` gives the state of that moment)
        self._mark: tuple[int, int, bool] | None = None
        self._ready = False  # restored in flight: the next execution is the one that was running
        #: workers exploring pending branches (``raceproof.subtrees``); `may_commit`: whether their
        #: results may be taken now (a portfolio still taking turns with probes says no)
        self.subtrees: Subtrees | None = None
        self.may_commit = True
        #: races whose first event is at this depth or above are recorded in `recorded` instead of
        #: scheduled (a worker's subtree: the master schedules them when it commits the subtree)
        self.record_depth = -1
        self.recorded: list[tuple[int, Seq]] = []

    def next_execution(self) -> Chooser | Committed | None:
        if self._ready:
            self._ready = False
        elif self.started:
            if not self._backtrack():
                self._mark = None
                return None
            if self.subtrees is not None and (batch := self.subtrees.commit(self)) is not None:
                return batch
        fresh = not self.started
        if fresh:
            self.stack = [Node({}, [])]
            self.synced = 0
        elif self.subtrees is not None:
            self.subtrees.spawn(self)
        self.started = True
        self._mark = (len(self.stack), self.blocked, fresh)
        return _DporChooser(self)

    def _sync(self, trace: Sequence[StepEvent]) -> None:
        """Record the events executed since the last call and create the node after each."""
        stack = self.stack
        n = len(trace)
        for pos in range(self.synced, n):
            ev = trace[pos]
            node = stack[pos]
            fp = ev.footprint
            if node.tid != ev.thread:
                raise NondeterminismError(f"DPOR scheduled thread {node.tid} at step {pos}, but thread "
                                          f"{ev.thread} ran: the program is not deterministic")
            if node.fp is None:
                node.fp = fp
            elif node.fp != fp:
                raise NondeterminismError(f"replaying step {pos} ({ev.op} {ev.path}) touched something "
                                          "else than before: the program is not deterministic")
            wut = node.wut
            if wut and wut[0].fp is None:
                wut[0].fp = fp
            if pos + 1 == len(stack):
                tid = ev.thread
                sleep = ({q: f for q, f in node.sleep.items() if q != tid and not dependent(f, fp)}
                         if node.sleep else {})
                stack.append(Node(sleep, list(wut[0].children) if wut else []))
        self.synced = n

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        pos = len(trace)
        if self.synced != pos:  # new events to record, or a replay starting over (synced > pos)
            self._sync(trace)
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
        self._mark = None
        trace = execution.trace
        self._sync(trace)
        del self.stack[len(trace):]
        self._races(trace)

    def _races(self, trace: Sequence[StepEvent]) -> None:
        """Happens-before masks and the reversible races of one execution.

        Only the accesses that can be *immediate* predecessors are compared (``steps.Accesses``:
        a read only races with the last write of its resource, a write with the last write and
        the reads since it, a listing with every change of the entry set and back).
        """
        n = len(trace)
        hb = [0] * n
        seen = Accesses()
        last_of_thread: dict[int, int] = {}
        enablers = _enablers(trace)
        for j in range(n):
            ev = trace[j]
            fp = ev.footprint
            preds = seen.predecessors(fp)
            prev = last_of_thread.get(ev.thread)
            mask = 0 if prev is None else hb[prev] | (1 << prev)
            for p in sorted(preds, reverse=True):
                if trace[p].thread == ev.thread:
                    continue
                if not (mask >> p) & 1 and not _forced(p, j, hb, trace, enablers):
                    self._reverse(p, j, hb, trace)
                mask |= hb[p] | (1 << p)
            hb[j] = mask
            last_of_thread[ev.thread] = j
            seen.record(j, fp)

    def _reverse(self, i: int, j: int, hb: list[int], trace: Sequence[StepEvent]) -> None:
        """Schedule the reversal of the race i -> j at node i (unless a sleeping thread covers it)."""
        if i < len(self.prefix):
            return  # the prefix is fixed
        v: Seq = [(trace[k].thread, trace[k].footprint) for k in range(i + 1, j) if not (hb[k] >> i) & 1]
        # The racing event's footprint was observed *after* trace[i]. Run before it, the step may
        # touch something else when trace[i] changed the tree's structure (footprints are
        # state-dependent: a failed mkdir only reads; path resolution depends on entries), so it
        # is unknown until it runs. A step that only wrote file contents cannot change it.
        v.append((trace[j].thread, None if _structural(trace[i].footprint) else trace[j].footprint))
        node = self.stack[i]
        for q, f in node.sleep.items():
            if _check_initial(q, f, v) is not None:
                return
        if i <= self.record_depth:
            self.recorded.append((i, v))
            return
        grown = _insert(node.wut, v)
        if grown is not None and self.subtrees is not None:
            self.subtrees.grown(grown)

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

    # -- checkpoints (``raceproof.checkpoint``) -------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The search's state as JSON data: between two executions, or, while one runs, as it was
        when that one started (a resumed search runs it again). While an execution runs, only the
        nodes from its start on change (the started node records the event it runs, which the
        run again records alike), so the state of that moment is the stack cut there."""
        if self._mark is None:
            return {"started": self.started, "ready": False, "blocked": self.blocked, **_encode(self.stack)}
        length, blocked, fresh = self._mark
        if fresh:
            return {"started": False, "ready": False, "blocked": blocked, **_encode([])}
        return {"started": True, "ready": True, "blocked": blocked, **_encode(self.stack[:length])}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a ``snapshot``."""
        self.started = bool(state["started"])
        self._ready = bool(state["ready"])
        self.blocked = int(state["blocked"])
        self.stack = _decode(state)
        self.synced = 0  # the next execution records its events from the start
        self._mark = None


def _encode(stack: list[Node]) -> dict[str, Any]:
    """The stack as flat integer lists (no nesting: a wakeup-tree chain can be hundreds deep) over
    a table of footprints."""
    table: dict[Footprint, int] = {}

    def fpi(fp: Footprint | None) -> int:
        if fp is None:
            return -1
        i = table.get(fp)
        if i is None:
            i = table[fp] = len(table)
        return i

    nodes = []
    for node in stack:
        sleep = [x for q, f in node.sleep.items() for x in (q, fpi(f))]
        tree = [x for br in _preorder(node.wut) for x in (br.tid, fpi(br.fp), len(br.children))]
        nodes.append([node.tid, fpi(node.fp), len(node.wut), sleep, tree])
    fps = [[sorted(fp.reads), sorted(fp.writes), sorted(fp.lists), sorted(fp.touches), sorted(fp.waits), fp.need]
           for fp in table]
    return {"footprints": fps, "stack": nodes}


def _preorder(branches: list[Branch]) -> Iterator[Branch]:
    """The branches of a wakeup tree and everything below them, in pre-order, without recursion
    (a chain can be hundreds deep)."""
    todo = list(reversed(branches))
    while todo:
        br = todo.pop()
        yield br
        todo.extend(reversed(br.children))


def branch_key(br: Branch) -> list[object]:
    """A branch and everything below it, in pre-order (thread, footprint, number of children):
    equal exactly when the two branches are the same tree."""
    return [x for b in _preorder([br]) for x in (b.tid, b.fp, len(b.children))]


def _decode(state: dict[str, Any]) -> list[Node]:
    fps = [Footprint(frozenset(r), frozenset(w), frozenset(ls), frozenset(t), frozenset(wa), int(n))
           for r, w, ls, t, wa, n in state["footprints"]]
    stack = []
    for tid, f, roots, sleep, tree in state["stack"]:
        flat = iter(tree)
        wut = [_branch(flat, fps) for _ in range(roots)]
        stack.append(Node({sleep[k]: fps[sleep[k + 1]] for k in range(0, len(sleep), 2)}, wut, tid,
                          None if f < 0 else fps[f]))
    return stack


def _branch(flat: Iterator[int], fps: list[Footprint]) -> Branch:
    """The next branch of a pre-order (thread, footprint, number of children) list, children and
    all, without recursion."""

    def make() -> tuple[Branch, int]:
        tid, f, n = next(flat), next(flat), next(flat)
        return Branch(tid, None if f < 0 else fps[f]), n

    top, n = make()
    pending = [(top, n)]
    while pending:
        parent, left = pending[-1]
        if not left:
            pending.pop()
            continue
        pending[-1] = (parent, left - 1)
        child, n = make()
        parent.children.append(child)
        pending.append((child, n))
    return top
