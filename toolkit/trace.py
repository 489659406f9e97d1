"""Rendering traces: an strace-like line per step, one column per virtual thread's name.

``render_timeline`` shows what matters of a failing execution: the steps in the *causal cone* of the
failure (the happens-before past of the failing steps and of the conflicting step), with one line
saying how many steps were elided and where. Happens-before is program order plus, across threads,
an earlier step that is ``raceproof.steps.dependent`` with a later one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from raceproof.steps import StepEvent, dependent, entry


def call_text(ev: StepEvent) -> str:
    args = f'"{ev.path}"' if ev.path else ""
    if ev.detail:
        args = f"{args}, {ev.detail}" if args else ev.detail
    return f"{ev.op}({args}) = {ev.result}"


def render_lines(trace: Sequence[StepEvent], names: Sequence[str], *, highlight: Sequence[int] = (),
                 notes: Mapping[int, str] | None = None) -> list[str]:
    width = max((len(n) for n in names), default=6)
    marks = set(highlight)
    notes = notes or {}
    lines = []
    for ev in trace:
        mark = ">>" if ev.index in marks else "  "
        note = f"   <- {notes[ev.index]}" if ev.index in notes else ""
        lines.append(f"{mark}{ev.index:5d}  {names[ev.thread]:<{width}}  {call_text(ev)}{note}")
    return lines


def trace_json(trace: Sequence[StepEvent], names: Sequence[str]) -> list[dict[str, object]]:
    return [{"index": ev.index, "thread": names[ev.thread], "op": ev.op, "path": ev.path,
             "detail": ev.detail, "result": ev.result} for ev in trace]


# the causal cone of a failure -------------------------------------------------------------------

def causal_past(trace: Sequence[StepEvent], targets: Iterable[int]) -> set[int]:
    """The indices of `targets` and of every step that happens before one of them.

    Happens-before: program order (an earlier step of the same thread) plus an earlier step of
    another thread that is dependent with a step already in the past (transitively)."""
    want = {t for t in targets if 0 <= t < len(trace)}
    if not want:
        return set()
    cone: set[int] = set()
    threads_in_cone: set[int] = set()
    members: list[StepEvent] = []
    for ev in reversed(trace[: max(want) + 1]):
        inside = ev.index in want or ev.thread in threads_in_cone or any(
            m.thread != ev.thread and dependent(ev.footprint, m.footprint) for m in members)
        if inside:
            cone.add(ev.index)
            threads_in_cone.add(ev.thread)
            members.append(ev)
    return cone


def last_steps(trace: Sequence[StepEvent]) -> dict[int, int]:
    """Each thread's last step index."""
    return {ev.thread: ev.index for ev in trace}


def focal_step(trace: Sequence[StepEvent], path: str) -> int | None:
    """What a check on the final tree that names `path` is about: the last step that changed the
    entry at `path` (created, removed or renamed it), else the last step naming it."""
    if not path:
        return None
    res = entry(path)
    for ev in reversed(trace):
        if res in ev.footprint.writes:
            return ev.index
    for ev in reversed(trace):
        if ev.path == path or ev.detail == path:
            return ev.index
    return None


def failure_marks(ex: Any) -> dict[int, str]:
    """The steps each violation is about, with a short note: the step a thread's error came from,
    the step at which that thread raised (when later), and for a check on the final tree that names a
    path, the last step about that path."""
    marks: dict[int, str] = {}
    last = last_steps(ex.trace)
    for v in ex.violations:
        if v.thread:
            tid = ex.names.index(v.thread) if v.thread in ex.names else None
            if v.step is not None:
                marks.setdefault(v.step, f"{v.check}: {v.thread} fails here")
            end = last.get(tid) if tid is not None else None
            if end is not None and end != v.step:
                marks.setdefault(end, f"{v.thread} raises here")
        elif v.step is not None:
            marks.setdefault(v.step, f"{v.check}")
        else:
            f = focal_step(ex.trace, v.path)
            if f is not None:
                marks.setdefault(f, f"{v.check}: the step on {v.path}")
    return marks


def cone_targets(ex: Any, conflict: int | None = None) -> set[int]:
    """The steps whose causal past is the failure: every marked step and the conflicting one; when
    no violation names a step (a check on the final state alone), the end of the execution."""
    targets = set(failure_marks(ex))
    if conflict is not None:
        targets.add(conflict)
    if not targets and ex.trace:
        targets = set(last_steps(ex.trace).values())
    return targets


def render_timeline(ex: Any, conflict: int | None = None) -> tuple[list[str], int]:
    """The failing execution's timeline reduced to the causal cone of its failure.

    Returns the lines (elided runs shown as one ``...`` line naming the threads) and the number of
    elided steps. Steps after the last step of the cone are elided too (nothing there can have
    caused the failure) and counted."""
    marks = failure_marks(ex)
    notes = dict(marks)
    if conflict is not None:
        notes.setdefault(conflict, "conflicting step")
    cone = causal_past(ex.trace, cone_targets(ex, conflict))
    full = render_lines(ex.trace, ex.names, highlight=list(notes), notes=notes)
    out: list[str] = []
    run: list[StepEvent] = []

    def flush() -> None:
        if run:
            who = sorted({ex.names[e.thread] for e in run})
            out.append(f"   ...  {len(run)} step{'s' if len(run) != 1 else ''} elided "
                       f"(not in the failure's causal past: {', '.join(who)})")
            run.clear()

    for ev, line in zip(ex.trace, full, strict=True):
        if ev.index in cone:
            flush()
            out.append(line)
        else:
            run.append(ev)
    flush()
    return out, len(ex.trace) - len(cone)
