"""What the report draws of one failing execution: lanes, steps with their filesystem diffs and
marks, the mechanism and the tree at the steps that matter; and the conflict-pair coverage table.

Everything here is read from a ``raceproof.result.Counterexample`` (its execution, explanation and
the tree before each step, which the verification's confirming replay recorded) or from a
``raceproof.result.Coverage``: nothing is run again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from raceproof.mechanism import creator, mechanism, step_diffs
from raceproof.reports.prose import certain_text
from raceproof.result import Counterexample, Coverage
from raceproof.scenario import Scenario
from raceproof.scheduler import errno_name
from raceproof.steps import StepEvent

MAX_TREE_LINES = 60


def scope(mounts: Sequence[str]) -> str:
    """The directory whose subtree the report shows: the parent of the mounts' common ancestor."""
    common = os.path.commonpath(list(mounts)) if mounts else "/"
    return os.path.dirname(common) if common != "/" else "/"


def tree_lines(tree: Mapping[str, str], where: str) -> list[str]:
    prefix = where.rstrip("/") + "/"
    lines = []
    for p in sorted(tree):
        if p == where or p.startswith(prefix):
            lines.append(
                p + ("/" if tree[p] == "dir" else "@ -> " + tree[p][5:] if tree[p].startswith("link:") else "")
            )
    if len(lines) > MAX_TREE_LINES:
        lines = [*lines[:MAX_TREE_LINES], f"... {len(lines) - MAX_TREE_LINES} more"]
    return lines


def step_json(ev: StepEvent, names: Sequence[str]) -> dict[str, Any]:
    return {
        "n": ev.index,
        "lane": ev.thread,
        "thread": names[ev.thread],
        "op": ev.op,
        "path": ev.path,
        "detail": ev.detail,
        "result": ev.result,
        "errno": errno_name(ev.errno) if ev.errno else None,
    }


def drawing(scenario: Scenario, cex: Counterexample) -> dict[str, Any]:
    """Lanes, steps (diffs and marks: window, conflict, failing, created, certain), the mechanism
    and the tree snapshots of one failing execution (the shrunk counterexample, or the pinned
    schedule as it happened)."""
    ex, expl = cex.execution, cex.explanation
    names = list(ex.names)
    diffs = step_diffs(ex, cex.before)
    steps = [step_json(ev, names) for ev in ex.trace]
    for st, d in zip(steps, diffs, strict=True):
        st["fs"] = d
        st["marks"] = []
    failing = expl.get("failing_step")
    if failing is not None and not 0 <= failing < len(steps):
        failing = None
    conflict = expl.get("conflict") or {}
    first_idx = conflict.get("first", {}).get("index")
    second_idx = conflict.get("second", {}).get("index")
    certain = expl.get("certain_after_step")
    made = creator(ex, diffs, first_idx, failing)
    window_start = made if made is not None else first_idx
    for st in steps:
        n = st["n"]
        if window_start is not None and failing is not None and window_start <= n <= failing:
            st["marks"].append("window")
        if n == first_idx:
            st["marks"].append("conflict")
        if n == failing:
            st["marks"].append("failing")
        if n == made:
            st["marks"].append("created")
        if certain is not None and n == certain:
            st["marks"].append("certain")
    where = scope([m.path for m in scenario.mounts])
    trees = [cex.before[i] if i < len(cex.before) else None for i in range(len(steps))]
    afters = [*trees[1:], ex.tree]
    snaps: list[dict[str, Any]] = [
        {"after_step": None, "label": "initial tree", "tree": tree_lines((trees[0] if trees else None) or {}, where)}
    ]
    for n, label in (
        (made, "created by the failing thread"),
        (first_idx, "conflicting step"),
        (failing, "failing step"),
    ):
        if n is not None and all(s["after_step"] != n for s in snaps):
            snaps.append(
                {"after_step": n, "label": f"after S{n} ({label})", "tree": tree_lines(afters[n] or {}, where)}
            )
    snaps.append({"after_step": len(steps) - 1, "label": "final tree", "tree": tree_lines(ex.tree, where)})
    violations = [v.to_json() for v in ex.violations]
    return {
        "lanes": [{"id": i, "name": n} for i, n in enumerate(names)],
        "steps": steps,
        "violations": violations,
        "failing_step": failing,
        "conflict_step": first_idx,
        "created_step": made,
        "certain_after_step": certain,
        "certain_text": certain_text(certain, failing, steps, violations, expl.get("certain_searched", True)),
        "mechanism": expl.get("mechanism") or mechanism(ex, diffs, first_idx, second_idx, failing),
        "tree_scope": where,
        "snapshots": snaps,
    }


def counterexample(scenario: Scenario, cex: Counterexample) -> dict[str, Any]:
    """The drawn counterexample with its token, replay command and shrinking summary."""
    drawn = drawing(scenario, cex)
    c = cex.explanation.get("cost", {})
    first_cost = cex.found_cost
    shrunk = {
        "threads_before_failure": c.get("threads"),
        "preemptions": c.get("preemptions"),
        "steps_to_failure": c.get("steps_to_failure"),
        "total_steps": len(drawn["steps"]),
        "before_shrinking": None
        if first_cost is None
        else {"threads_before_failure": first_cost[0], "preemptions": first_cost[1], "steps_to_failure": first_cost[2]},
    }
    out: dict[str, Any] = {"token": cex.token, "replay_command": cex.replay_command}
    out.update(drawn)
    out["shrunk"] = shrunk
    return out


SKIPPED = (
    "not computed: this scenario's fault injectors enumerate fault placements with their own "
    "exploration driver, whose executions are not observed for coverage."
)


def coverage(cov: Coverage | None, complete: bool, executions: int) -> dict[str, Any]:
    """The conflict-pair coverage table of the explored executions."""
    if cov is None:
        return {
            "computed": False,
            "method": SKIPPED,
            "executions": 0,
            "pairs_total": 0,
            "pairs_both_orders": 0,
            "pairs": [],
            "final_states": 0,
        }
    rows = []
    for (a, b), orders in sorted(cov.pairs.items()):
        rows.append(
            {
                "a": a,
                "b": b,
                "a_first": "ab" in orders,
                "b_first": "ba" in orders,
                "both_orders": orders == {"ab", "ba"},
            }
        )
    both = sum(1 for r in rows if r["both_orders"])
    where = "every equivalence class" if complete else f"the {executions} executions explored before the search stopped"
    return {
        "computed": True,
        "method": (
            f"Computed from the explored executions: each of the verification's {cov.executions} executions "
            f"was observed as it ran (nothing was re-run). A site is a thread, an operation and a path (#k: the "
            f"thread's k-th such step); two steps of different threads are a conflict pair when their footprints "
            f"are dependent. Coverage is over {where}. A pair seen in one order only was not observed in the "
            f"other order in those executions"
            + (
                "; since the exploration was complete, that order does not occur "
                "(e.g. the other order changes which steps run)."
                if complete
                else "."
            )
        ),
        "executions": cov.executions,
        "pairs_total": len(rows),
        "pairs_both_orders": both,
        "pairs": rows,
        "final_states": len(cov.finals),
    }
