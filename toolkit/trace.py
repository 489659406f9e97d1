"""Rendering traces: an strace-like line per step, one column per virtual thread's name."""

from __future__ import annotations

from collections.abc import Sequence

from raceproof.steps import StepEvent


def call_text(ev: StepEvent) -> str:
    args = f'"{ev.path}"' if ev.path else ""
    if ev.detail:
        args = f"{args}, {ev.detail}" if args else ev.detail
    return f"{ev.op}({args}) = {ev.result}"


def render_lines(trace: Sequence[StepEvent], names: Sequence[str], *, highlight: Sequence[int] = ()) -> list[str]:
    width = max((len(n) for n in names), default=6)
    marks = set(highlight)
    lines = []
    for ev in trace:
        mark = ">>" if ev.index in marks else "  "
        lines.append(f"{mark}{ev.index:5d}  {names[ev.thread]:<{width}}  {call_text(ev)}")
    return lines


def trace_json(trace: Sequence[StepEvent], names: Sequence[str]) -> list[dict[str, object]]:
    return [{"index": ev.index, "thread": names[ev.thread], "op": ev.op, "path": ev.path,
             "detail": ev.detail, "result": ev.result} for ev in trace]
