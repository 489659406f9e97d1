"""Everything a report runs, in one place: the verifications (with the evidence their results
carry), the counterpart of a lone fixed variant, and the fixed variant run on its refuted
sibling's schedules. Assembly (``raceproof.reports.assemble``) then only reads results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raceproof import token as tokens
from raceproof.execution import Runner
from raceproof.result import Result
from raceproof.runs import program_for, replay_command, verify
from raceproof.scenario import Scenario
from raceproof.shrink import SequenceChooser


def verify_all(
    scenarios: Sequence[Scenario], strategy: str, max_executions: int | None, seed: int, options: dict[str, Any],
    jobs: int = 1,
) -> list[Result]:
    """``raceproof verify`` of each scenario, with the evidence a report shows (``evidence=True``:
    coverage, the counterexample's trees, the pinned schedule explained). With `jobs` > 1 the
    verifications run in that many processes (``raceproof.mountsets.parallel_map``): each is
    deterministic, so the results are the serial ones."""
    units = [(s, strategy, max_executions, seed, options) for s in scenarios]
    if jobs <= 1 or len(units) <= 1:
        return [_verify_unit(u) for u in units]
    from raceproof.mountsets import parallel_map, user_modules

    modules = tuple(m for s in scenarios for m in user_modules(s))
    return list(parallel_map(_verify_unit, units, jobs, modules=modules))


def _verify_unit(unit: tuple[Scenario, str, int | None, int, dict[str, Any]]) -> Result:
    s, strategy, max_executions, seed, options = unit
    return verify(s, strategy, max_executions, seed, evidence=True, **options)


def counterpart(
    scenario: Scenario, strategy: str, max_executions: int | None, seed: int, options: dict[str, Any]
) -> Result:
    """The ``pre-cleanup`` counterpart of a ``fixed`` scenario, verified (not shrunk): the
    non-vacuity check of a proof that has no refuted sibling in the report."""
    buggy = scenario.with_changes(algorithm="pre-cleanup", expect_verify="unsafe", token=None)
    return verify(buggy, strategy, max_executions, seed, shrink=False, **options)


def _projected_sequence(steps: list[dict[str, Any]], drop_cleanup: bool) -> tuple[list[int], set[int]]:
    """The thread sequence of a drawn schedule, and the steps left out of it.

    With `drop_cleanup` (a ``pre-cleanup`` schedule run on the ``fixed`` algorithm, which deleted the
    cleanup call), each job's ``remove_dir_all`` steps are left out: a job's steps from its start
    (or its ``take_job``) up to its first ``mkdir``, which is where ``create_dir_all`` begins."""
    dropped: set[int] = set()
    if drop_cleanup:
        cleaning: dict[int, bool] = {}
        for st in steps:
            lane = st["lane"]
            if st["op"] == "take_job":
                cleaning[lane] = True
                continue
            if cleaning.get(lane, True):
                if st["op"] == "mkdir":
                    cleaning[lane] = False
                else:
                    dropped.add(st["n"])
    return [st["lane"] for st in steps if st["n"] not in dropped], dropped


def run_on_schedule(scenario: Any, drawn: dict[str, Any], drop_cleanup: bool) -> dict[str, Any]:
    """Run `scenario` once on the schedule of another variant's drawn execution (same harness).

    Tokens are bound to their scenario, so the schedule is carried over as a thread sequence and
    followed with shrinking's lenient chooser (``raceproof.shrink.SequenceChooser``): where the
    sequence names a thread that cannot run, the current thread continues. The run is re-encoded as
    a token of `scenario`, so its replay command reproduces it exactly."""
    steps = drawn["steps"]
    seq, dropped = _projected_sequence(steps, drop_cleanup)
    program = program_for(scenario)
    with Runner(program, scenario.backend) as runner:
        ex = runner.run_single(SequenceChooser(seq))
    token = tokens.encode(program.digest, ex.choices)
    names = list(ex.names)
    # the k-th kept step of a lane is the k-th step of that lane in the new run
    by_lane: dict[int, list[Any]] = {}
    for ev in ex.trace:
        by_lane.setdefault(ev.thread, []).append(ev)
    seen: dict[int, int] = {}
    counterpart: dict[int, Any] = {}
    for st in steps:
        if st["n"] in dropped:
            continue
        k = seen.get(st["lane"], 0)
        seen[st["lane"]] = k + 1
        evs = by_lane.get(st["lane"], [])
        if k < len(evs):
            counterpart[st["n"]] = evs[k]
    keep = {st["n"] for st in steps if st["marks"]}
    if drawn.get("failing_step") is not None:
        keep.add(drawn["failing_step"])
    aligned = []
    for st in steps:
        if st["n"] not in keep:
            continue
        then = counterpart.get(st["n"])
        aligned.append(
            {
                "n": st["n"],
                "thread": st["thread"],
                "call": f"{st['op']}({st['path']})",
                "result": st["result"],
                "marks": list(st["marks"]),
                "then": None
                if then is None
                else {"n": then.index, "call": f"{then.op}({then.path})", "result": then.result},
                "note": "removed by the fix" if st["n"] in dropped else ("not reached" if then is None else ""),
            }
        )
    fail = drawn.get("failing_step")
    fev = counterpart.get(fail) if fail is not None else None
    if ex.violations:
        text = f"FAILS on this schedule: {ex.violations[0].check}: {ex.violations[0].message}"
    else:
        text = "passes: no check is violated"
        if fail is not None:
            f = steps[fail]
            if fev is not None:
                text += (
                    f"; the step that failed, {f['thread']} {f['op']}({f['path']}) = {f['result']}, "
                    f"now runs as S{fev.index} {fev.op}({fev.path}) = {fev.result}"
                )
            else:
                text += f"; the step that failed, {f['thread']} {f['op']}({f['path']}), no longer runs"
    return {
        "verdict": "fail" if ex.violations else "pass",
        "violations": [v.to_json() for v in ex.violations],
        "steps": len(ex.trace),
        "threads": names,
        "rule": (
            "the same thread order, without each job's remove_dir_all steps (the call the fix deleted: "
            f"{len(dropped)} steps), followed with a lenient chooser"
            if drop_cleanup
            else "the same thread sequence, followed with a lenient chooser (where the named thread cannot "
            "run, the current one continues)"
        ),
        "dropped_steps": sorted(dropped),
        "token": token,
        "replay_command": replay_command(scenario, token, scenario.backend),
        "text": text,
        "aligned": aligned,
    }


def fix_on_buggy_schedules(entries: list[dict[str, Any]], scenarios: list[Any]) -> None:
    """A proved variant is run on the schedules that break its refuted sibling of the same harness:
    the sibling's pinned schedule (the incident as it happened) and its shrunk counterexample."""
    for entry, scenario in zip(entries, scenarios, strict=True):
        if entry["verdict"] != "safe":
            continue
        sibling = next((e for e in entries if e["verdict"] == "unsafe" and e["_harness"] == entry["_harness"]), None)
        if sibling is None:
            continue
        drop = sibling["scenario"]["algorithm"] == "pre-cleanup" and scenario.algorithm == "fixed"
        runs = []
        pinned = sibling.get("pinned") or {}
        sources: list[tuple[str, str, dict[str, Any] | None]] = [
            ("pinned", f"the pinned schedule of {sibling['id']} (the incident as it happened)", pinned.get("timeline")),
            ("counterexample", f"the shrunk counterexample of {sibling['id']}", sibling.get("counterexample")),
        ]
        for kind, label, drawn in sources:
            if drawn is None or list(ln["name"] for ln in drawn["lanes"]) != list(scenario.program().names):
                continue
            run = run_on_schedule(scenario, drawn, drop)
            run.update({"source": kind, "label": label, "buggy_token": drawn.get("token") or pinned.get("token")})
            runs.append(run)
        entry["on_buggy_schedules"] = runs
