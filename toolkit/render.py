"""JSON renderings of a ``Result``: the ``raceproof.replay/1`` and ``raceproof.verify/1`` documents."""

from __future__ import annotations

from typing import Any

from raceproof.numbers import exact
from raceproof.result import Result
from raceproof.trace import trace_json


def to_json(result: Result) -> dict[str, Any]:
    """The document of a replay or a verify result."""
    return replay_json(result) if result.kind == "replay" else verify_json(result)


def replay_json(rr: Result) -> dict[str, Any]:
    ex = rr.execution
    sc = rr.scenario
    assert ex is not None and sc is not None, "a replay result has its execution and scenario"
    return {
        "schema": "raceproof.replay/1",
        "scenario": sc.file,
        "name": sc.name,
        "digest": sc.digest,
        "backend": rr.backend,
        "token": rr.token,
        "schedule": rr.schedule_source,
        "verdict": rr.verdict,
        "expected": rr.expected,
        "violations": [v.to_json() for v in ex.violations],
        "trace": trace_json(ex.trace, ex.names),
        "threads": ex.names,
        "replay_command": rr.command,
    }


def verify_json(r: Result) -> dict[str, Any]:
    sc = r.scenario
    assert sc is not None, "a verify result has its scenario"
    cex = r.counterexample
    out: dict[str, Any] = {
        "schema": "raceproof.verify/1",
        "scenario": sc.file,
        "name": sc.name,
        "digest": sc.digest,
        "backend": r.backend,
        "strategy": r.strategy,
        "verdict": r.verdict,
        "expected": r.expected,
        "complete": r.complete,
        "stop_reason": r.stop_reason,
        "executions": r.executions,
        "probes": r.probes,
        "blocked": r.blocked,
        "equivalence_classes": r.equivalence_classes,
        "symmetry": r.symmetry or None,
        "naive_interleavings": exact(r.naive_interleavings),
        "failing_executions": r.failing,
        "steps": r.steps,
        "wall_time_s": round(r.wall_time, 4),
        "split": None if r.split is None else r.split.to_json(),
        "counterexample": None,
    }
    if r.placements is not None:
        pr = r.placements
        out["fault_placements"] = {
            "placements": pr.placements,
            "executions": pr.executions,
            "failing_placements": pr.failing_placements,
            "clean_failure_executions": pr.clean_failure_executions,
        }
    if cex is not None:
        ex = cex.execution
        out["counterexample"] = {
            "token": cex.token,
            "replay_command": cex.replay_command,
            "violations": [v.to_json() for v in ex.violations],
            "trace": trace_json(ex.trace, ex.names),
            "threads": ex.names,
            "explanation": dict(cex.explanation),
        }
    return out
