"""Every crash tree of a crash run, read off the crash-free exploration (no crash placements).

A crash at a step stops the machine before that step: the tree it leaves is the tree of the state
the step would have run in (``injectors/crash.py``: the crashing step does not happen, every
completed write is kept, nothing after it touches the tree). So the crash trees of a run are the
trees of the reachable states of the crash-free program in which some thread's next step is a
crash point. This module computes that set from the crash-free executions alone, instead of one
optimal DPOR per crash placement (``crashsplit``'s first stage explored every other thread's
progress at every crash point, about 50 times the crash-free executions on 3 mounts).

Why every such state is found (the argument, in trace-theory terms):

1. A reachable state is the state after some prefix ``p`` of an execution. ``p`` extends to a
   maximal execution ``E``; optimal DPOR explores an execution ``E'`` of the same Mazurkiewicz
   trace (the guarantee every proof here rests on). ``E`` and ``E'`` have the same events, each
   with the same footprint, and the same happens-before order; ``p`` is downward closed in it
   (a prefix holds every event some event of it depends on). So every reachable state is an
   *ideal* (downward-closed set) of the happens-before order of an explored execution, and every
   ideal is reachable (run it in trace order: each event sees what it saw in ``E'``).
2. The tree of an ideal ``I`` is the initial tree with the changes of ``I``'s events applied in
   ``E'``'s order: two events that change the same name or the same file's bytes are dependent,
   so ordered alike in every linearisation of ``I``, and each event makes the change it made in
   ``E'`` (it reads what it read there). Changes are recorded per step in two layers, as the
   footprints name things: names (path -> kind, inode, link target) and file bytes by inode. A
   write through an open handle changes its file's bytes whether or not another thread unlinked
   the name meanwhile (the two commute), so a per-path record would be wrong there: the state
   with the write and without the unlink has the bytes on the name.
3. The tree depends only on which *changing* events ``I`` holds: per thread, a count ``k`` of its
   changing events. A vector of counts is reachable iff the smallest ideal holding each thread's
   first ``k`` changing events (``I_min``, the join of their vector clocks) holds none of the
   ``k+1``-th ones. The ideals with exactly these changes are those between ``I_min`` and
   ``I_max`` (every event after no excluded changing event); in them thread ``t``'s next step can
   be any of its steps from ``|I_min|_t`` to ``|I_max|_t``, so the state is a crash state iff
   one of those is a crash point (a step where the crash injector asked for its decision).

Only the memory backend records changes (``MemoryBackend.entries``); a run with another backend,
another injector, extra threads or a hard link anywhere is not handled here (None): the caller
explores its crash placements instead. ``tests/keepalive/test_crashstates.py`` compares the trees
with those of the placement exploration on every algorithm and small mount set.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from raceproof.execution import Execution, Runner
from raceproof.fs.base import Kind
from raceproof.fs.memory import MemoryBackend
from raceproof.loop import Loop
from raceproof.scheduler import Scheduler
from raceproof.steps import Accesses, StepEvent
from raceproof.strategies.dpor import Dpor

Name = tuple[Kind, int, str]  # kind, inode, link target
#: a tree in two layers (``MemoryBackend.entries``): names by path, file bytes by inode
Entries = tuple[dict[str, Name], dict[int, bytes]]
Change = tuple[tuple[tuple[str, Name | None], ...], tuple[tuple[int, bytes | None], ...]]
Key = frozenset[tuple[str, str, str, bytes]]


class NotHandled(Exception):
    """This run's crash states cannot be read off here (the caller explores placements)."""


def _diff(before: dict[Any, Any], after: dict[Any, Any]) -> tuple[tuple[Any, Any], ...]:
    if before == after:
        return ()
    return tuple(sorted((k, after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)))


def _change(before: Entries, after: Entries) -> Change:
    return _diff(before[0], after[0]), _diff(before[1], after[1])


def apply(state: Entries, change: Change) -> None:
    """Make `change` to `state` (in place)."""
    for layer, items in zip(state, change, strict=True):
        for k, v in items:
            if v is None:
                layer.pop(k, None)  # type: ignore[attr-defined]
            else:
                layer[k] = v  # type: ignore[index]


class Recorder:
    """The program, plus a hook that records each step's change to the tree and which steps were
    crash points (the crash injector's hook asked for a decision there)."""

    def __init__(self, program: Any, backend: MemoryBackend) -> None:
        self.program = program
        self.backend = backend
        self.changes: dict[int, Change] = {}
        self.crash_points: set[int] = set()
        self._before: Entries = ({}, {})
        self._values = 0

    # the Program protocol, delegated ----------------------------------------------------------
    @property
    def names(self) -> Sequence[str]:
        return self.program.names  # type: ignore[no-any-return]

    @property
    def digest(self) -> str:
        return self.program.digest  # type: ignore[no-any-return]

    @property
    def errors_are_final(self) -> bool:
        return self.program.errors_are_final  # type: ignore[no-any-return]

    def setup(self, vfs: Any) -> None:
        self.program.setup(vfs)

    def bodies(self, sched: Scheduler) -> Any:
        return self.program.bodies(sched)

    def check(self, execution: Execution, vfs: Any) -> Any:
        return self.program.check(execution, vfs)

    def hooks(self, sched: Scheduler) -> None:
        self.program.hooks(sched)  # the crash injector's hook first: it asks before this one looks
        self.changes = {}
        self.crash_points = set()
        self._before = self.backend.entries()
        self._values = 0
        sched.hooks.append(self._hook)

    def _hook(self, sched: Scheduler, tid: int, op: str, path: str) -> None:
        index = len(sched.trace)
        if index:
            self._settle(index - 1)
        if len(sched.values) != self._values:
            self._values = len(sched.values)
            self.crash_points.add(index)

    def _settle(self, index: int) -> None:
        """Attribute whatever changed since the last look to step `index`."""
        after = self.backend.entries()
        if after != self._before:  # (names, data): two dict comparisons
            self.changes[index] = _change(self._before, after)
            self._before = after

    def finish(self, execution: Execution) -> None:
        if execution.trace:
            self._settle(len(execution.trace) - 1)


def _clocks(trace: Sequence[StepEvent], threads: int) -> list[list[int]]:
    """Vector clocks of happens-before (the dependence of ``raceproof.steps.dependent``, built as
    ``Dpor._races`` builds it): ``vc[j][u]`` is how many of thread u's steps are at or before j."""
    vc: list[list[int]] = []
    seen = Accesses()
    last_of_thread: dict[int, int] = {}
    count = [0] * threads
    for j, ev in enumerate(trace):
        fp = ev.footprint
        prev = last_of_thread.get(ev.thread)
        v = list(vc[prev]) if prev is not None else [0] * threads
        for p in seen.predecessors(fp):
            for u, c in enumerate(vc[p]):
                if c > v[u]:
                    v[u] = c
        count[ev.thread] += 1
        v[ev.thread] = count[ev.thread]
        vc.append(v)
        last_of_thread[ev.thread] = j
        seen.record(j, fp)
    return vc


def crash_states(trace: Sequence[StepEvent], changes: dict[int, Change],
                 crash_points: set[int]) -> list[tuple[int, ...]]:
    """The crash states of one execution, each as the trace positions of the changing steps it
    holds (ascending): see the module docstring, point 3."""
    threads = 1 + max((ev.thread for ev in trace), default=-1)
    if not threads:
        return []
    vc = _clocks(trace, threads)
    steps: list[list[int]] = [[] for _ in range(threads)]  # trace positions of each thread's steps
    for j, ev in enumerate(trace):
        steps[ev.thread].append(j)
    muts = [[i for i, j in enumerate(s) if j in changes] for s in steps]  # thread-local indices
    crash_sum = []
    for s in steps:
        acc = [0]
        for j in s:
            acc.append(acc[-1] + (j in crash_points))
        crash_sum.append(acc)
    # column[t][u]: vc[.][u] along thread t's steps (non-decreasing): where an excluded step of u
    # first happens before a step of t
    column = [[[vc[j][u] for j in steps[t]] for u in range(threads)] for t in range(threads)]
    out: list[tuple[int, ...]] = []
    ks = [0] * threads

    def leaf(closure: list[int]) -> None:
        nxt = [muts[u][ks[u]] if ks[u] < len(muts[u]) else None for u in range(threads)]
        for t in range(threads):
            hi = len(steps[t])
            for u in range(threads):
                n_u = nxt[u]
                if n_u is not None:  # u's next changing step is excluded, and all after it
                    hi = min(hi, bisect_right(column[t][u], n_u))
            lo = closure[t]
            top = min(hi, len(steps[t]) - 1)
            if lo <= top and crash_sum[t][top + 1] - crash_sum[t][lo] > 0:
                out.append(tuple(sorted(steps[u][muts[u][i]] for u in range(threads) for i in range(ks[u]))))
                return

    def visit(t: int, closure: list[int]) -> None:
        if t == threads:
            leaf(closure)
            return
        forced = sum(1 for i in muts[t] if i < closure[t])
        for k in range(forced, len(muts[t]) + 1):
            c = closure if k == 0 else [max(a, b) for a, b in zip(closure, vc[steps[t][muts[t][k - 1]]], strict=True)]
            ks[t] = k
            ok = True
            for u in range(t + 1):
                if ks[u] < len(muts[u]) and c[u] > muts[u][ks[u]]:
                    ok = False  # u's next changing step would be in the ideal
                    break
            if ok:
                visit(t + 1, c)
        ks[t] = 0

    visit(0, [0] * threads)
    return out


def describe(entries: Entries) -> dict[str, str] | None:
    """``Vfs.tree`` descriptions of `entries`; None when a file has two names (a hard link)."""
    names, data = entries
    out: dict[str, str] = {}
    seen: set[int] = set()
    for path in sorted(names):
        kind, ino, target = names[path]
        if kind == "dir":
            out[path] = "dir"
        elif kind == "link":
            out[path] = "link:" + target
        else:
            if ino in seen:
                return None
            seen.add(ino)
            out[path] = "file:" + data.get(ino, b"").hex()
    return out


def key(entries: Entries) -> Key:
    """What a tree is made of, without inode numbers (they depend on the order of creation)."""
    names, data = entries
    return frozenset((p, kind, target, data.get(ino, b"") if kind == "file" else b"")
                     for p, (kind, ino, target) in names.items())


def explore(program: Any, backend_name: str, budget: int | None, visit: Callable[[Execution], bool],
            every_step: bool = False) -> tuple[list[Entries], int, bool]:
    """One optimal DPOR of the crash-free `program` (its crash injector never fires: DPOR's data
    choices are 0): every execution goes to `visit` (True stops), and the entries of every
    distinct crash state are collected in first-reached order. With `every_step`, every step that
    cannot block is a crash point (for programs without the crash injector). Returns the states,
    the executions and completeness; raises ``NotHandled`` on a backend other than memory."""
    if backend_name != "memory":
        raise NotHandled("crash states are read off the memory backend only")
    with Runner(program, backend_name, "direct") as runner:
        backend = runner.backend
        if not isinstance(backend, MemoryBackend):
            raise NotHandled("not the memory backend")
        recorder = Recorder(program, backend)
        runner.program = recorder
        initial = backend.entries()
        states: dict[Key, Entries] = {}
        count = {"n": 0}

        def seen(ex: Execution) -> bool:
            count["n"] += 1
            recorder.finish(ex)
            stop = bool(visit(ex))
            points = ({j for j, ev in enumerate(ex.trace) if not ev.footprint.waits} if every_step
                      else recorder.crash_points)
            for held in crash_states(ex.trace, recorder.changes, points):
                state: Entries = (dict(initial[0]), dict(initial[1]))
                for j in held:
                    apply(state, recorder.changes[j])
                states.setdefault(key(state), state)
            return stop

        async def driver(r: Runner) -> bool:
            loop = Loop(r, Dpor(), budget=budget)
            await loop.run(seen)
            return bool(loop.exhausted)

        done = runner.run(driver)
    return list(states.values()), count["n"], bool(done)
