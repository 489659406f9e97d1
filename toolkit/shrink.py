"""Shrinking and explaining counterexamples.

Shrinking works on the thread sequence of a failing execution (one thread id per step). The
failure is observed at its *end* (``failure_end``): the step at which the failing thread raised,
which may be later than the step its error came from. Passes, each candidate replayed with a
lenient chooser (it follows the sequence where it can) and kept only when it still fails with the
same violation signature and is cheaper by (threads involved before the failure end, steps to the
failure end, preemptions):

1. causal cone first: the steps in the happens-before past of the failure, then everything else
   (steps independent of the failure move after it);
2. per thread: all of a thread's steps before the failure end moved after it;
3. block moves: a block of one thread's steps moved past the next block of another thread, or to
   the end (removes context switches).

A bounded number of replays keeps it quick. The result is re-recorded, so its token replays exactly.

Explaining finds the conflicting pair (the failing step and the last step of another thread it
depends on) and the step after which failure was certain: the shortest prefix all of whose
continuations fail, found by binary search with a prefix-pinned DPOR under a budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from raceproof.execution import Execution, RunnerProtocol
from raceproof.loop import Loop
from raceproof.scheduler import Crash
from raceproof.steps import StepEvent, dependent
from raceproof.strategies import PinnedValues

MAX_REPLAYS = 300


class SequenceChooser:
    """Follows a thread sequence where possible; afterwards keeps the current thread running."""

    sees_forced = True

    def __init__(self, seq: Sequence[int], values: Sequence[tuple[int, str, int]] = ()) -> None:
        self.seq = list(seq)
        # the original data choices (fault decisions): a reordered schedule asks them in another
        # global order, but each thread asks its own in the same one
        self.choose_value = PinnedValues(values).asker()

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        pos = len(trace)
        if pos < len(self.seq) and self.seq[pos] in enabled:
            return self.seq[pos]
        if trace and trace[-1].thread in enabled:
            return trace[-1].thread
        return enabled[0]


def _signature(ex: Execution) -> tuple[str, ...]:
    return tuple(sorted({v.check for v in ex.violations}))


def first_failure(ex: Execution) -> int:
    steps = [v.step for v in ex.violations if v.step is not None]
    return min(steps) if steps else len(ex.trace) - 1


def failure_end(ex: Execution) -> int:
    """The earliest step at which a violation is observed: for a thread's error, the thread's last
    step (where it raised, possibly after the step the error came from); for a violation at a step,
    that step; for a check on the final state alone, the end of the execution."""
    last = {ev.thread: ev.index for ev in ex.trace}
    ends = []
    for v in ex.violations:
        if v.thread and v.thread in ex.names and ex.names.index(v.thread) in last:
            ends.append(max(last[ex.names.index(v.thread)], v.step if v.step is not None else -1))
        elif v.step is not None:
            ends.append(v.step)
        else:
            ends.append(len(ex.trace) - 1)
    return min(ends) if ends else len(ex.trace) - 1


def cost(ex: Execution) -> tuple[int, int, int]:
    """(threads involved before the failure end, preemptions before it, steps to it)."""
    end = failure_end(ex) + 1
    trace = ex.trace[:end]
    threads = len({ev.thread for ev in trace})
    preemptions = sum(1 for a, b in itertools.pairwise(trace) if a.thread != b.thread and a.thread in b.enabled)
    return threads, preemptions, end


def _rank(ex: Execution) -> tuple[int, int, int]:
    """What shrinking minimises: threads before the failure end, then steps to it, then preemptions."""
    threads, preemptions, end = cost(ex)
    return threads, end, preemptions


def _blocks(seq: Sequence[int]) -> list[tuple[int, int, int]]:
    out = []
    start = 0
    for i in range(1, len(seq) + 1):
        if i == len(seq) or seq[i] != seq[start]:
            out.append((seq[start], start, i))
            start = i
    return out


def _cone_first(ex: Execution) -> list[int]:
    from raceproof.trace import causal_past, cone_targets

    end = failure_end(ex)
    targets = {t for t in cone_targets(ex) if t <= end} or {end}
    cone = causal_past(ex.trace, targets)
    seq = [e.thread for e in ex.trace]
    return [seq[i] for i in sorted(cone)] + [seq[i] for i in range(len(seq)) if i not in cone]


def _defer_thread(seq: list[int], end: int, tid: int) -> list[int]:
    head = seq[: end + 1]
    return [t for t in head if t != tid] + [t for t in head if t == tid] + seq[end + 1 :]


def shrink_execution(runner: RunnerProtocol, ex: Execution) -> Execution:
    best = ex
    best_rank = _rank(ex)
    sig = _signature(ex)
    replays = 0

    async def attempt(r: RunnerProtocol, seq: list[int]) -> bool:
        """Replay `seq`; keep it when it fails the same way and is cheaper."""
        nonlocal best, best_rank, replays
        replays += 1
        trial = await r.run_one(SequenceChooser(seq, ex.values))
        if trial.violations and _signature(trial) == sig and _rank(trial) < best_rank:
            best, best_rank = trial, _rank(trial)
            return True
        return False

    async def driver(r: RunnerProtocol) -> None:
        # 1. the causal cone of the failure first, everything independent of it after
        await attempt(r, _cone_first(best))
        # 2. each thread's steps before the failure end, moved after it
        progress = True
        while progress and replays < MAX_REPLAYS:
            progress = False
            seq = [e.thread for e in best.trace]
            end = failure_end(best)
            for tid in sorted(set(seq[:end + 1])):
                if replays >= MAX_REPLAYS:
                    break
                if await attempt(r, _defer_thread(seq, end, tid)):
                    progress = True
                    if replays < MAX_REPLAYS:
                        await attempt(r, _cone_first(best))
                    break
        # 3. block moves: fewer context switches
        improved = True
        while improved and replays < MAX_REPLAYS:
            improved = False
            seq = [e.thread for e in best.trace]
            blocks = _blocks(seq[: failure_end(best) + 1])
            for bi in range(len(blocks) - 1):
                if replays >= MAX_REPLAYS:
                    break
                _tid, s, e = blocks[bi]
                nxt = blocks[bi + 1]
                cand = seq[:s] + seq[nxt[1]:nxt[2]] + seq[s:e] + seq[nxt[2]:]
                for variant in (cand, seq[:s] + seq[e:] + seq[s:e]):
                    if await attempt(r, variant):
                        improved = True
                        break
                if improved:
                    break

    runner.run(driver)
    if best is ex:
        return ex
    from raceproof.pipeline import confirm

    return confirm(runner, best)


def conflict_pair(ex: Execution) -> tuple[StepEvent, StepEvent] | None:
    """The failing step and the last earlier step of another thread it depends on.

    The failing step is the first step a violation names; for a check on the final tree that names a
    path, the last step about that path (not merely the end of the execution)."""
    f = first_failure(ex)
    if not any(v.step is not None for v in ex.violations):
        from raceproof.trace import failure_marks

        focal = sorted(failure_marks(ex))
        if focal:
            f = focal[0]
    if f < 0 or f >= len(ex.trace):
        return None
    fail = ex.trace[f]
    # the failing thread raised later than the step its error came from (e.g. create_dir_all's
    # mkdir EEXIST, then is_dir false): a step of another thread in between that the raising step
    # depends on is the mechanism
    raised = max((ev.index for ev in ex.trace if ev.thread == fail.thread), default=f)
    if raised > f:
        last = ex.trace[raised]
        for ev in reversed(ex.trace[f + 1 : raised]):
            if ev.thread != last.thread and dependent(ev.footprint, last.footprint):
                return ev, last
    for ev in reversed(ex.trace[:f]):
        if ev.thread != fail.thread and dependent(ev.footprint, fail.footprint):
            return ev, fail
    return None


def certain_after(runner: RunnerProtocol, ex: Execution, budget: int = 400, search: bool = True) -> int | None:
    """The smallest k such that every continuation of the first k steps fails (or None).

    "Every continuation" is checked by a prefix-pinned DPOR whose executions run to completion and
    are judged by the program's own check (a thread's error is a failure only if the check says
    so), with the execution's data choices (fault decisions) kept. A budget stop proves nothing:
    that prefix is not certain. Continuations of a longer prefix are a subset of a shorter one's,
    so "all fail" is monotone in k and a binary search finds the smallest (within the budget: a
    prefix whose continuations exceed it counts as not certain, so k is then an upper bound).

    Without `search`, only the bound that needs no search is given: with a check that fails on
    every thread error, the prefix that ends with the failed thread's last step (else None)."""
    from raceproof.strategies.dpor import Dpor

    seq = [e.thread for e in ex.trace]
    memo: dict[int, bool] = {}
    # with a check that fails on every thread error, a prefix that holds a failed thread's whole
    # run (its last step included) fails in every continuation: no search needed
    ended_by = len(seq) + 1
    if runner.program.errors_are_final:
        last = {e.thread: e.index for e in ex.trace}
        for tid, r in enumerate(ex.results):
            if r.error is not None and not isinstance(r.error, Crash) and tid in last:
                ended_by = min(ended_by, last[tid] + 1)

    if not search:
        return ended_by if ended_by <= len(seq) else None

    def all_fail(k: int) -> bool:
        if k >= ended_by:
            return True
        if k in memo:
            return memo[k]
        strat = Dpor(prefix=seq[:k], values=ex.values)
        verdict = {"all_fail": True, "n": 0}

        async def driver(r: RunnerProtocol) -> None:
            loop = Loop(r, strat, budget=budget)
            await loop.run(lambda trial: not trial.violations)  # stop at the first passing one
            if not loop.exhausted:
                verdict["all_fail"] = False  # a passing continuation, or a budget that proves nothing

        runner.run(driver)
        memo[k] = bool(verdict["all_fail"])
        return memo[k]

    lo, hi = 0, len(seq)
    if not all_fail(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if all_fail(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def explain(runner: RunnerProtocol, ex: Execution, before: Sequence[Mapping[str, str] | None] | None = None,
            search: bool = True) -> dict[str, Any]:
    """The failing step, the conflicting pair and the mechanism (``raceproof.mechanism``), the step
    after which failure was certain, and the cost. `before` is the tree before each step (the
    confirming replay records it); without it, `ex` is replayed once to record it. Without
    `search`, the certain step is only the bound that needs no search (``certain_after``), and
    ``certain_searched`` says so."""
    from raceproof.mechanism import mechanism, step_diffs
    from raceproof.pipeline import confirm_recording

    if before is None:
        _, before = confirm_recording(runner, ex)
    names = ex.names
    out: dict[str, Any] = {"failing_step": first_failure(ex)}
    pair = conflict_pair(ex)
    if pair is not None:
        a, b = pair
        out["conflict"] = {
            "first": {"index": a.index, "thread": names[a.thread], "op": a.op, "path": a.path, "result": a.result},
            "second": {"index": b.index, "thread": names[b.thread], "op": b.op, "path": b.path, "result": b.result},
        }
        out["mechanism"] = mechanism(ex, step_diffs(ex, before), a.index, b.index, out["failing_step"])
    k = certain_after(runner, ex, search=search)
    out["certain_searched"] = search
    out["certain_after_step"] = None if k is None else k - 1
    if k is not None and k > 0:
        ev = ex.trace[k - 1]
        out["certain_after"] = {"index": ev.index, "thread": names[ev.thread], "op": ev.op, "path": ev.path}
    c = cost(ex)
    out["cost"] = {"threads": c[0], "preemptions": c[1], "steps_to_failure": c[2]}
    return out
