"""The report document, assembled from verification results: one entry per variant (verdict,
exploration counts, coverage, the drawn counterexample, the pinned schedule), non-vacuity, the
badge and summary. Reads ``raceproof.result.Result`` objects only; runs nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from raceproof.reports import explanation
from raceproof.reports.prose import LIMITATIONS, PLACEHOLDER, proof_scope
from raceproof.reports.schema_io import KIND, SCHEMA_VERSION
from raceproof.result import Result
from raceproof.scenario import Scenario


def _tool() -> dict[str, Any]:
    from raceproof import __version__

    return {"name": "raceproof", "version": __version__}


def _environment() -> dict[str, Any]:
    import trio

    return {"python": platform.python_version(), "platform": platform.system().lower(), "trio": trio.__version__}


def harness_key(scenario: Scenario) -> str:
    """What two variants must share to be the same harness (all but the algorithm)."""
    s = scenario
    return json.dumps(
        [
            s.workers,
            s.backend,
            [[m.path, hashlib.sha256(m.archive).hexdigest()] for m in s.mounts],
            sorted(s.initial_dirs),
            sorted(s.initial_files),
            sorted(s.initial_links.items()),
            s.inject,
        ]
    )


def pinned(rr: Result | None) -> dict[str, Any] | None:
    """The scenario's pinned schedule (its ``token``), replayed: the incident as it happened."""
    if rr is None:
        return None
    ex = rr.execution
    assert ex is not None
    failing = [ex.trace[v.step] for v in ex.violations if v.step is not None and v.step < len(ex.trace)]
    out: dict[str, Any] = {
        "token": rr.token,
        "replay_command": rr.command,
        "verdict": rr.verdict,
        "expected": rr.expected,
        "violations": [v.to_json() for v in ex.violations],
        "failing_steps": [explanation.step_json(ev, ex.names) for ev in failing],
        "steps": len(ex.trace),
    }
    if rr.counterexample is not None and rr.scenario is not None:
        out["timeline"] = explanation.drawing(rr.scenario, rr.counterexample)
    return out


def variant_entry(r: Result, *, max_executions: int | None = None, seed: int = 0) -> dict[str, Any]:
    """One variant of the report, from its verification result."""
    scenario = r.scenario
    assert scenario is not None, "a verify result names its scenario"
    outcome = {"safe": "proved", "unsafe": "refuted", "bounded": "bounded", "inconclusive": "inconclusive"}[r.verdict]
    return {
        "id": scenario.name,
        "scenario": {
            "file": scenario.file,
            "name": scenario.name,
            "description": scenario.description,
            "digest": scenario.digest,
            "algorithm": scenario.algorithm,
            "workers": scenario.workers,
            "backend": r.backend,
            "mounts": [{"path": m.path, "entries": len(m.members)} for m in scenario.mounts],
        },
        "verdict": r.verdict,
        "outcome": outcome,
        "expected": r.expected,
        "expectation_met": None if r.expected is None else r.verdict == r.expected,
        "exploration": {
            "strategy": r.strategy,
            "complete": r.complete,
            "stop_reason": r.stop_reason,
            "executions": r.executions,
            "equivalence_classes": r.equivalence_classes,
            "naive_interleavings": str(r.naive_interleavings),
            "blocked": r.blocked,
            "failing_executions": r.failing,
            "steps": r.steps,
            "wall_time_s": round(r.wall_time, 4),
            "max_executions": max_executions,
            "seed": seed,
        },
        "coverage": explanation.coverage(r.coverage, r.complete, r.executions),
        "counterexample": None if r.counterexample is None else explanation.counterexample(scenario, r.counterexample),
        "non_vacuity": None,
        "pinned": pinned(r.pinned),
        "_harness": harness_key(scenario),
    }


def sibling_of(entry: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A refuted variant of the same harness."""
    return next((e for e in entries if e["verdict"] == "unsafe" and e["_harness"] == entry["_harness"]), None)


def needs_counterpart(entries: Sequence[Mapping[str, Any]], scenarios: Sequence[Scenario]) -> list[int]:
    """The proved ``fixed`` variants with no refuted sibling: their counterpart must be verified."""
    return [
        i
        for i, (e, s) in enumerate(zip(entries, scenarios, strict=True))
        if e["verdict"] in ("safe", "bounded") and sibling_of(e, entries) is None and s.algorithm == "fixed"
    ]


def non_vacuity(
    entries: list[dict[str, Any]], scenarios: Sequence[Scenario], strategy: str, counterparts: Mapping[int, Result]
) -> None:
    """Say for each proved variant what shows the harness exercises the race: a refuted sibling,
    or the verified ``pre-cleanup`` counterpart (`counterparts`, by entry index)."""
    for i, (entry, scenario) in enumerate(zip(entries, scenarios, strict=True)):
        if entry["verdict"] != "safe" and entry["verdict"] != "bounded":
            continue
        sibling = sibling_of(entry, entries)
        if sibling is not None:
            entry["non_vacuity"] = {
                "status": "refuted-by-sibling",
                "variant": sibling["id"],
                "algorithm": sibling["scenario"]["algorithm"],
                "executions_to_counterexample": sibling["exploration"]["executions"],
                "text": (
                    f"The same harness (mounts, archives, workers, strategy {strategy}, same budget) refutes "
                    f"the {sibling['scenario']['algorithm']} variant {sibling['id']} after "
                    f"{sibling['exploration']['executions']} executions, so it does exercise the race."
                ),
            }
        elif i in counterparts:
            vr = counterparts[i]
            refuted = vr.verdict == "unsafe"
            entry["non_vacuity"] = {
                "status": "refuted-by-counterpart" if refuted else "not-refuted",
                "variant": f"{scenario.name} (pre-cleanup)",
                "algorithm": "pre-cleanup",
                "executions_to_counterexample": vr.executions if refuted else None,
                "text": (
                    f"The same harness with the pre-cleanup algorithm is refuted after {vr.executions} "
                    "executions, so it does exercise the race."
                    if refuted
                    else f"WARNING: the same harness with the pre-cleanup algorithm is NOT refuted "
                    f"({vr.verdict}); the proof may be vacuous."
                ),
            }
        else:
            entry["non_vacuity"] = {
                "status": "not-checked",
                "variant": None,
                "algorithm": None,
                "executions_to_counterexample": None,
                "text": "Not checked: no refuted variant of the same harness in this report.",
            }


def document(
    entries: list[dict[str, Any]],
    scenarios: Sequence[Scenario],
    *,
    strategy: str,
    max_executions: int | None,
    seed: int,
    command: str,
) -> dict[str, Any]:
    """The whole report document around the variant entries."""
    for e in entries:
        e.pop("_harness", None)
    met = [e["expectation_met"] for e in entries]
    if any(e["verdict"] in ("inconclusive", "bounded") for e in entries):
        badge = "INCONCLUSIVE"
    elif any(m is False for m in met):
        badge = "EXPECTATION NOT MET"
    elif any(e["verdict"] == "safe" for e in entries):
        badge = "FIX VERIFIED"
    else:
        badge = "COUNTEREXAMPLE"
    proved = [e["id"] for e in entries if e["verdict"] == "safe"]
    refuted = [e["id"] for e in entries if e["verdict"] == "unsafe"]
    sentences = []
    if refuted:
        sentences.append(f"A counterexample was found for {', '.join(refuted)}.")
    if proved:
        sentences.append(
            f"{', '.join(proved)} {'was' if len(proved) == 1 else 'were'} proved safe over every "
            "equivalence class of interleavings."
        )
    others = [e["id"] for e in entries if e["verdict"] in ("inconclusive", "bounded")]
    if others:
        sentences.append(f"No complete verdict for {', '.join(others)} (budget or bound reached).")
    title = "Verification report: " + ", ".join(e["id"] for e in entries)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": _tool(),
        "title": title,
        "command": command,
        "settings": {"strategy": strategy, "max_executions": max_executions, "seed": seed},
        "summary": {
            "badge": badge,
            "all_expectations_met": all(m is not False for m in met),
            "text": " ".join(sentences),
            "proof_scope": [
                proof_scope(e, s) for e, s in zip(entries, scenarios, strict=True) if e["verdict"] == "safe"
            ],
        },
        "variants": entries,
        "limitations": copy.deepcopy(LIMITATIONS),
        "placeholders": {
            "impact": PLACEHOLDER + "who was affected, for how long, and how badly (SRE 'Impact').",
            "action_items": [
                {
                    "item": PLACEHOLDER + "describe the fix or safeguard",
                    "type": "prevent",
                    "owner": PLACEHOLDER + "owner",
                    "tracking": PLACEHOLDER + "issue link",
                },
                {
                    "item": PLACEHOLDER + "describe the mitigation",
                    "type": "mitigate",
                    "owner": PLACEHOLDER + "owner",
                    "tracking": PLACEHOLDER + "issue link",
                },
            ],
        },
        "environment": _environment(),
    }
