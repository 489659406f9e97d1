"""The report's single source: a versioned JSON document built from verifying scenarios.

``build_report`` verifies each scenario with ``raceproof.runs.verify`` (the same call as
``raceproof verify``), then gathers the evidence the renderers show:

- a *coverage pass*: the same exploration (same strategy, budget and seed) re-run with a recording
  wrapper around the strategy; every explored execution is post-processed into conflict-pair
  coverage (pairs of dependent step sites and the orders they were seen in) and final-state counts;
- a *snapshot replay* of the (shrunk) counterexample that records the tree before every step, for
  the per-step filesystem diff and the tree at the steps that matter;
- *non-vacuity* for every proved variant: a refuted variant of the same harness in the report, or
  else the ``pre-cleanup`` counterpart of a ``fixed`` scenario verified on the spot.

Markdown, HTML and JUnit are rendered from this document only (``raceproof.reports.markdown``,
``raceproof.reports.html``, ``raceproof.reports.junit``); ``validate`` checks it against ``reports/schema.json``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from raceproof.errors import InputError

SCHEMA_VERSION = 1
KIND = "raceproof-report"
MAX_TREE_LINES = 60

#: What the model includes and leaves out (shown verbatim in every report).
LIMITATIONS = {
    "modelled": [
        "Each filesystem system call (mkdir, rmdir, unlink, open, write, close, lstat, opendir, readdir, "
        "rename, realpath, ...) is one atomic step and one scheduling point; composite operations are walks "
        "of these steps.",
        "Rust std semantics (1.95, Linux) for create_dir_all, remove_dir_all (lazy no-follow walk, ENOENT below "
        "the root tolerated) and canonicalize.",
        "Symlinks (resolved component by component, chroot-style inside the sandbox) and hard links.",
        "Every interleaving of the virtual threads up to equivalence (optimal DPOR): two steps are dependent "
        "when their footprints (directory entries, entry sets, file contents) conflict.",
    ],
    "simplified": [
        "realpath/canonicalize is one step, not a walk: a component removed during the kernel's walk is "
        "either fully before or fully after it.",
        "Downloads are one thread-local step; their content is the scenario's archive (unless an injector changes it).",
        "Directory listings are in name order; ext4 and tmpfs return hash order, which is not explored "
        "(tests/fidelity runs the model in the real order and finds the same steps).",
        "A directory is read by one getdents batch however large; the kernel fills a 32 KiB buffer "
        "(about a thousand names) per call.",
        "A write copies at most one 4 KiB page per step and a read returns what is there at that step; "
        "page-cache effects below that are not modelled.",
        "tar-rs: GNU sparse entries are not ported; a metadata header cut short at the end of an archive "
        "fails with another message than tar-rs (both are archive errors).",
    ],
    "not_modelled": [
        "fsync, crashes and persistence: no power loss or page-cache model (unless a crash injector is used).",
        "Permissions, ownership and quotas: the model runs as root; EACCES/EPERM/ENOSPC never happen on their own.",
        "Other processes touching the tree, and network or overlay filesystem semantics (rename atomicity, "
        "stale handles).",
        "Timing: only the order of steps matters; no real time, timeouts or retries are modelled.",
    ],
}

PLACEHOLDER = "TODO (human): "


def _tool() -> dict[str, Any]:
    from raceproof import __version__

    return {"name": "raceproof", "version": __version__}


def _environment() -> dict[str, Any]:
    import trio

    return {
        "python": platform.python_version(),
        "platform": platform.system().lower(),
        "trio": getattr(trio, "__version__", "?"),
    }


# evidence gathering ---------------------------------------------------------------------------


class _Recorder:
    """Wraps a strategy: every explored execution goes through `on_execution`, then to the strategy."""

    def __init__(self, inner: Any, on_execution: Callable[[Any], None]) -> None:
        self._inner = inner
        self._on = on_execution

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def next_execution(self) -> Any:
        return self._inner.next_execution()

    def observe(self, execution: Any) -> None:
        self._inner.observe(execution)
        if not execution.aborted:
            self._on(execution)


def site_of(names: Sequence[str], ev: Any, occurrence: int) -> str:
    """A step site: thread, operation and path; `#k` marks the k-th such step of that thread."""
    base = f"{names[ev.thread]}: {ev.op}({ev.path})"
    return base if occurrence == 1 else f"{base} #{occurrence}"


def conflict_orders(execution: Any, pairs: dict[tuple[str, str], set[str]]) -> None:
    """Add every pair of dependent steps of different threads in `execution` to `pairs`.

    The key is the sorted pair of sites; the value holds ``"ab"`` when the first site of the key ran
    first, ``"ba"`` when the second did.
    """
    from raceproof.steps import dependent

    seen: dict[tuple[int, str, str], int] = {}
    sites = []
    for ev in execution.trace:
        k = (ev.thread, ev.op, ev.path)
        seen[k] = seen.get(k, 0) + 1
        sites.append(site_of(execution.names, ev, seen[k]))
    trace = execution.trace
    for i, a in enumerate(trace):
        if a.footprint.is_empty():
            continue
        for j in range(i + 1, len(trace)):
            b = trace[j]
            if b.thread == a.thread or b.footprint.is_empty() or not dependent(a.footprint, b.footprint):
                continue
            sa, sb = sites[i], sites[j]
            key = (sa, sb) if sa <= sb else (sb, sa)
            pairs.setdefault(key, set()).add("ab" if key[0] == sa else "ba")


def _coverage_pass(
    scenario: Any, strategy: str, max_executions: int | None, seed: int, options: dict[str, Any]
) -> dict[str, Any]:
    from raceproof.execution import Runner
    from raceproof.exploration import run_exploration
    from raceproof.runs import program_for
    from raceproof.shrink import cost
    from raceproof.strategies import make_strategy, with_defaults

    options = dict(options)
    max_executions = with_defaults(strategy, max_executions, seed, options, scenario.max_executions)
    pairs: dict[tuple[str, str], set[str]] = {}
    finals: set[str] = set()
    first: dict[str, Any] = {}

    def on_execution(ex: Any) -> None:
        conflict_orders(ex, pairs)
        finals.add(hashlib.sha256(json.dumps(sorted(ex.tree.items())).encode()).hexdigest()[:12])
        if ex.violations and "cost" not in first:
            first["cost"] = cost(ex)

    program = program_for(scenario)
    if strategy == "dpor" and any(getattr(inj, "explores", False) for inj in getattr(program, "injectors", [])):
        # verify() enumerates fault placements with its own driver: a plain re-run would not be the
        # same exploration, so no coverage is claimed for it
        return {
            "pairs": {},
            "finals": set(),
            "executions": 0,
            "first_cost": None,
            "skipped": "not computed: this scenario's fault injectors enumerate fault placements with their own "
            "exploration driver, which the report's recording pass does not reproduce.",
        }
    rec = _Recorder(make_strategy(strategy, **options), on_execution)
    with Runner(program, scenario.backend) as runner:
        result = run_exploration(runner, rec, max_executions=max_executions)  # type: ignore[arg-type]
    return {"pairs": pairs, "finals": finals, "executions": result.executions, "first_cost": first.get("cost")}


class _SnapshotChooser:
    """Replays a choice list and records the tree before every step."""

    sees_forced = True

    def __init__(self, choices: Sequence[int], vfs: Any) -> None:
        from raceproof.strategies.replay import ReplayChooser

        self._inner = ReplayChooser(choices)
        self._vfs = vfs
        self.before: dict[int, dict[str, str]] = {}

    def choose(self, enabled: tuple[int, ...], trace: Sequence[Any]) -> int:
        self.before[len(trace)] = self._vfs.tree()
        if len(enabled) == 1:
            return enabled[0]
        return self._inner.choose(enabled, trace)

    def choose_value(self, thread: int, label: str, n: int) -> int:
        return self._inner.choose_value(thread, label, n)


def _snapshots(scenario: Any, execution: Any) -> tuple[dict[int, dict[str, str]], dict[str, str]]:
    """The tree before every step of `execution` (replayed), and the final tree."""
    from raceproof.errors import NondeterminismError
    from raceproof.execution import Runner
    from raceproof.runs import program_for

    with Runner(program_for(scenario), scenario.backend) as runner:
        chooser = _SnapshotChooser(execution.choices, runner.vfs)
        again = runner.run_single(chooser)
    if [(e.thread, e.op, e.path, e.result) for e in again.trace] != [
        (e.thread, e.op, e.path, e.result) for e in execution.trace
    ]:
        raise NondeterminismError("replaying the counterexample for the report gave a different trace")
    return chooser.before, again.tree


def _diff(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    return {
        "added": sorted(p for p in after if p not in before),
        "removed": sorted(p for p in before if p not in after),
        "changed": sorted(p for p in after if p in before and before[p] != after[p]),
    }


def _scope(mounts: Sequence[str]) -> str:
    """The directory whose subtree the report shows: the parent of the mounts' common ancestor."""
    common = os.path.commonpath(list(mounts)) if mounts else "/"
    return os.path.dirname(common) if common != "/" else "/"


def _tree_lines(tree: dict[str, str], scope: str) -> list[str]:
    prefix = scope.rstrip("/") + "/"
    lines = []
    for p in sorted(tree):
        if p == scope or p.startswith(prefix):
            lines.append(
                p + ("/" if tree[p] == "dir" else "@ -> " + tree[p][5:] if tree[p].startswith("link:") else "")
            )
    if len(lines) > MAX_TREE_LINES:
        lines = [*lines[:MAX_TREE_LINES], f"... {len(lines) - MAX_TREE_LINES} more"]
    return lines


def _step_json(ev: Any, names: Sequence[str]) -> dict[str, Any]:
    from raceproof.scheduler import errno_name

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


def _drawing(scenario: Any, ex: Any, expl: dict[str, Any]) -> dict[str, Any]:
    """What the renderers draw of one failing execution: lanes, steps with their filesystem diffs and
    marks (window, conflict, failing, created, certain), the mechanism and the tree at the steps that
    matter. Used for the shrunk counterexample and for the scenario's pinned schedule."""
    names = list(ex.names)
    before, final = _snapshots(scenario, ex)
    trees = [before.get(i) for i in range(len(ex.trace))]
    # a step's "after" tree is the next step's "before" (or the final tree)
    afters = [*trees[1:], final]
    steps = [_step_json(ev, names) for ev in ex.trace]
    for i, st in enumerate(steps):
        b, a = trees[i], afters[i]
        st["fs"] = _diff(b, a) if b is not None and a is not None else {"added": [], "removed": [], "changed": []}
        st["marks"] = []
    failing = expl.get("failing_step")
    if failing is not None and not 0 <= failing < len(steps):
        failing = None
    conflict = expl.get("conflict") or {}
    first_idx = conflict.get("first", {}).get("index")
    certain = expl.get("certain_after_step")
    # the step of the failing thread that created what the conflicting step removed
    creator = None
    if first_idx is not None and failing is not None:
        removed = set(steps[first_idx]["fs"]["removed"])
        fail_lane = steps[failing]["lane"]
        for st in reversed(steps[:first_idx]):
            if st["lane"] == fail_lane and removed & set(st["fs"]["added"]):
                creator = st["n"]
                break
    window_start = creator if creator is not None else first_idx
    for st in steps:
        n = st["n"]
        if window_start is not None and failing is not None and window_start <= n <= failing:
            st["marks"].append("window")
        if n == first_idx:
            st["marks"].append("conflict")
        if n == failing:
            st["marks"].append("failing")
        if n == creator:
            st["marks"].append("created")
        if certain is not None and n == certain:
            st["marks"].append("certain")
    scope = _scope([m.path for m in scenario.mounts])
    snaps: list[dict[str, Any]] = [
        {"after_step": None, "label": "initial tree", "tree": _tree_lines(trees[0] or {}, scope)}
    ]
    for n, label in (
        (creator, "created by the failing thread"),
        (first_idx, "conflicting step"),
        (failing, "failing step"),
    ):
        if n is not None and all(s["after_step"] != n for s in snaps):
            snaps.append(
                {"after_step": n, "label": f"after S{n} ({label})", "tree": _tree_lines(afters[n] or {}, scope)}
            )
    snaps.append({"after_step": len(steps) - 1, "label": "final tree", "tree": _tree_lines(final, scope)})
    violations = [v.to_json() for v in ex.violations]
    return {
        "lanes": [{"id": i, "name": n} for i, n in enumerate(names)],
        "steps": steps,
        "violations": violations,
        "failing_step": failing,
        "conflict_step": first_idx,
        "created_step": creator,
        "certain_after_step": certain,
        "certain_text": _certain_text(certain, failing, steps, violations),
        "mechanism": _mechanism(steps, creator, first_idx, failing),
        "core_mechanism": expl.get("mechanism", ""),
        "tree_scope": scope,
        "snapshots": snaps,
    }


def _counterexample(scenario: Any, vr: Any, first_cost: tuple[int, int, int] | None) -> dict[str, Any]:
    cex = vr.result.counterexample
    ex = cex.execution
    expl = dict(cex.explanation)
    drawn = _drawing(scenario, ex, expl)
    c = expl.get("cost", {})
    shrunk = {
        "threads_before_failure": c.get("threads"),
        "preemptions": c.get("preemptions"),
        "steps_to_failure": c.get("steps_to_failure"),
        "total_steps": len(drawn["steps"]),
        "before_shrinking": None
        if first_cost is None
        else {"threads_before_failure": first_cost[0], "preemptions": first_cost[1], "steps_to_failure": first_cost[2]},
    }
    out = {"token": cex.token, "replay_command": cex.replay_command}
    out.update(drawn)
    out["shrunk"] = shrunk
    return out


def _call(st: dict[str, Any]) -> str:
    return f"{st['thread']} {st['op']}({st['path']}) = {st['result']}"


def _mechanism(steps: list[dict[str, Any]], creator: int | None, first: int | None, failing: int | None) -> str:
    if failing is None:
        return "No failing step was identified."
    f = steps[failing]
    if first is None:
        return f"S{failing}: {_call(f)} failed; no conflicting step of another thread was identified."
    a = steps[first]
    removed = a["fs"]["removed"]
    lets = [f"S{first} = {_call(a)}", f"S{failing} = {_call(f)}"]
    text = []
    if creator is not None:
        c = steps[creator]
        lets.insert(0, f"S{creator} = {_call(c)}")
        lost = sorted(set(removed) & set(c["fs"]["added"]))
        text.append(
            f"Then S{creator} < S{failing} (program order of {f['thread']}), and S{failing} relies on what "
            f"S{creator} created: {', '.join(lost)}."
        )
        text.append(f"S{first} removed {', '.join(removed)}, and S{creator} < S{first} < S{failing}.")
    elif removed:
        text.append(f"S{first} removed {', '.join(removed)} before S{failing}.")
    else:
        text.append(f"S{first} changed what S{failing} depends on, and ran first.")
    text.append(f"So S{failing} failed with {f['errno'] or f['result']}.")
    text.append(
        f"This order was possible because nothing orders {a['thread']}'s step after {f['thread']}'s "
        f"steps: the two threads share no lock, and the steps are dependent (they touch the same directory "
        f"entries), so the exploration ran both orders; this one fails."
    )
    return "Let " + "; ".join(lets) + ". " + " ".join(text)


def _certain_text(
    certain: int | None, failing: int | None, steps: list[dict[str, Any]], violations: list[dict[str, Any]]
) -> str:
    if certain is not None:
        return (
            f"Every continuation of the first {certain + 1} steps fails: failure was certain after "
            f"S{certain} ({_call(steps[certain])})."
        )
    text = "Not established within the search budget of the prefix analysis."
    if failing is not None and any(
        v.get("check") == "no-worker-error" and v.get("step") == failing for v in violations
    ):
        text += (
            f" At the latest it is certain at S{failing} itself: that step's error ends its worker, "
            "which the no-worker-error check rejects in every continuation."
        )
    return text


def _coverage(cov: dict[str, Any], complete: bool, executions: int) -> dict[str, Any]:
    rows = []
    for (a, b), orders in sorted(cov["pairs"].items()):
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
    if "skipped" in cov:
        return {
            "computed": False,
            "method": cov["skipped"],
            "executions": 0,
            "pairs_total": 0,
            "pairs_both_orders": 0,
            "pairs": [],
            "final_states": 0,
        }
    scope = "every equivalence class" if complete else f"the {executions} executions explored before the search stopped"
    return {
        "computed": True,
        "method": (
            f"Computed from the explored executions: the same exploration (same strategy, budget and seed) "
            f"was re-run with a recording hook, and each of its {cov['executions']} executions was "
            f"post-processed. A site is a thread, an operation and a path (#k: the thread's k-th such step); "
            f"two steps of different threads are a conflict pair when their footprints are dependent. "
            f"Coverage is over {scope}. A pair seen in one order only was not observed in the other order "
            f"in those executions"
            + (
                "; since the exploration was complete, that order does not occur "
                "(e.g. the other order changes which steps run)."
                if complete
                else "."
            )
        ),
        "executions": cov["executions"],
        "pairs_total": len(rows),
        "pairs_both_orders": both,
        "pairs": rows,
        "final_states": len(cov["finals"]),
    }


def _harness_key(scenario: Any) -> str:
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


def variant_entry(
    scenario: Any,
    *,
    strategy: str = "dpor",
    max_executions: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Verify one scenario and gather its evidence."""
    from raceproof.runs import verify

    options = dict(options or {})
    vr = verify(scenario, strategy, max_executions, seed, **options)
    r = vr.result
    cov = _coverage_pass(scenario, strategy, max_executions, seed, options)
    expected = vr.expected
    outcome = {"safe": "proved", "unsafe": "refuted", "bounded": "bounded", "inconclusive": "inconclusive"}[r.verdict]
    entry: dict[str, Any] = {
        "id": scenario.name,
        "scenario": {
            "file": scenario.file,
            "name": scenario.name,
            "description": scenario.description,
            "digest": scenario.digest,
            "algorithm": scenario.algorithm,
            "workers": scenario.workers,
            "backend": vr.backend,
            "mounts": [{"path": m.path, "entries": len(m.members)} for m in scenario.mounts],
        },
        "verdict": r.verdict,
        "outcome": outcome,
        "expected": expected,
        "expectation_met": None if expected is None else r.verdict == expected,
        "exploration": {
            "strategy": r.strategy,
            "complete": r.complete,
            "stop_reason": r.stop_reason,
            "executions": r.executions,
            "equivalence_classes": r.classes if r.complete else None,
            "naive_interleavings": str(r.naive_interleavings),
            "blocked": r.blocked,
            "failing_executions": r.failing,
            "steps": r.steps,
            "wall_time_s": round(r.wall_time, 4),
            "max_executions": max_executions,
            "seed": seed,
        },
        "coverage": _coverage(cov, r.complete, r.executions),
        "counterexample": _counterexample(scenario, vr, cov["first_cost"]) if r.counterexample is not None else None,
        "non_vacuity": None,
        "pinned": _pinned(scenario),
        "_harness": _harness_key(scenario),
    }
    if cov["executions"] != r.executions and "skipped" not in cov:
        entry["coverage"]["method"] += (
            f" Note: the coverage pass ran {cov['executions']} executions, the verification {r.executions}."
        )
    return entry


def _pinned(scenario: Any) -> dict[str, Any] | None:
    """The scenario's pinned schedule (``token``), replayed: the incident as it happened."""
    if not getattr(scenario, "token", None):
        return None
    from raceproof.runs import replay

    rr = replay(scenario)
    ex = rr.execution
    failing = [ex.trace[v.step] for v in ex.violations if v.step is not None and v.step < len(ex.trace)]
    out: dict[str, Any] = {
        "token": rr.token,
        "replay_command": rr.command,
        "verdict": rr.verdict,
        "expected": rr.expected,
        "violations": [v.to_json() for v in ex.violations],
        "failing_steps": [_step_json(ev, ex.names) for ev in failing],
        "steps": len(ex.trace),
    }
    if ex.violations:
        out["timeline"] = _pinned_timeline(scenario, ex)
    return out


def _pinned_timeline(scenario: Any, ex: Any) -> dict[str, Any]:
    """The pinned failing schedule drawn like the counterexample (not shrunk: as it happened)."""
    from raceproof.execution import Runner
    from raceproof.runs import program_for
    from raceproof.shrink import explain

    with Runner(program_for(scenario), scenario.backend) as runner:
        expl = explain(runner, ex)
    return _drawing(scenario, ex, expl)


def _non_vacuity(
    entries: list[dict[str, Any]],
    scenarios: list[Any],
    strategy: str,
    max_executions: int | None,
    seed: int,
    options: dict[str, Any],
) -> None:
    from raceproof.runs import verify

    for entry, scenario in zip(entries, scenarios, strict=True):
        if entry["verdict"] != "safe" and entry["verdict"] != "bounded":
            continue
        sibling = next((e for e in entries if e["verdict"] == "unsafe" and e["_harness"] == entry["_harness"]), None)
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
            continue
        if scenario.algorithm == "fixed":
            buggy = scenario.with_changes(algorithm="pre-cleanup", expect_verify="unsafe", token=None)
            vr = verify(buggy, strategy, max_executions, seed, shrink=False, **options)
            refuted = vr.result.verdict == "unsafe"
            entry["non_vacuity"] = {
                "status": "refuted-by-counterpart" if refuted else "not-refuted",
                "variant": f"{scenario.name} (pre-cleanup)",
                "algorithm": "pre-cleanup",
                "executions_to_counterexample": vr.result.executions if refuted else None,
                "text": (
                    f"The same harness with the pre-cleanup algorithm is refuted after {vr.result.executions} "
                    "executions, so it does exercise the race."
                    if refuted
                    else f"WARNING: the same harness with the pre-cleanup algorithm is NOT refuted "
                    f"({vr.result.verdict}); the proof may be vacuous."
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
    from raceproof import token as tokens
    from raceproof.execution import Runner
    from raceproof.runs import program_for, replay_command
    from raceproof.shrink import SequenceChooser

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
        ev = counterpart.get(st["n"])
        aligned.append(
            {
                "n": st["n"],
                "thread": st["thread"],
                "call": f"{st['op']}({st['path']})",
                "result": st["result"],
                "marks": list(st["marks"]),
                "then": None if ev is None else {"n": ev.index, "call": f"{ev.op}({ev.path})", "result": ev.result},
                "note": "removed by the fix" if st["n"] in dropped else ("not reached" if ev is None else ""),
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


def _fix_on_buggy_schedules(entries: list[dict[str, Any]], scenarios: list[Any]) -> None:
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
            if drawn is None or list(ln["name"] for ln in drawn["lanes"]) != list(
                scenario.program().names
            ):
                continue
            run = run_on_schedule(scenario, drawn, drop)
            run.update({"source": kind, "label": label, "buggy_token": drawn.get("token") or pinned.get("token")})
            runs.append(run)
        entry["on_buggy_schedules"] = runs


def _proof_scope(entry: dict[str, Any], scenario: Any) -> dict[str, Any]:
    """What a proof covers and what it does not, from the scenario (shown next to the badge)."""
    mounts = [m.path for m in scenario.mounts]
    n, w = len(mounts), scenario.workers
    ex = entry["exploration"]
    covers = [
        f"Mount set: exactly these {n} mount(s) with their archives: {', '.join(mounts)}.",
        (
            f"Workers: {w}, one job each (every mount extracted by its own thread at once)."
            if w >= n
            else f"Workers: {w} sharing a queue of {n} jobs (which worker takes which job is explored)."
        ),
        "Faults: " + (
            "none injected (every filesystem call behaves as the model says)."
            if not scenario.inject
            else "; ".join(
                json.dumps(i, sort_keys=True, default=str) for i in scenario.inject
            ) + " (every placement the injector allows)."
        ),
        "Initial tree: "
        + (
            ", ".join(
                [f"{d}/" for d in sorted(scenario.initial_dirs)]
                + sorted(scenario.initial_files)
                + [f"{k} -> {v}" for k, v in sorted(scenario.initial_links.items())]
            )
            or "empty"
        )
        + ".",
        f"Schedules: every interleaving up to equivalence ({ex['strategy']}, {ex['executions']} executions, "
        f"{ex['equivalence_classes']} equivalence classes; search complete), on the {entry['scenario']['backend']} "
        "backend.",
    ]
    not_covered = [
        f"Other mount sets (deeper nesting, siblings, more or fewer mounts): `raceproof verify "
        f"{scenario.file} --mount-sets 4` checks every topology up to 4 mounts for 1..4 workers.",
        f"Other worker counts than {w}" + (" (a shared job queue with fewer workers than mounts)." if w >= n else "."),
    ]
    if not scenario.inject:
        not_covered.append(
            "Faults: I/O errors, a full disk, truncated or corrupt archives, crashes and reruns, and a reused VM "
            "with stale files (keep-alive): see `raceproof injectors` and the chaos-* scenarios."
        )
    not_covered += [
        "Any other initial tree, such as leftovers of a previous run.",
        "The real binary, kernel and filesystem: the proof is about the model of the algorithm "
        "(see Limitations).",
    ]
    return {"variant": entry["id"], "covers": covers, "not_covered": not_covered}


def build_report(
    scenarios: Sequence[Any],
    *,
    strategy: str = "dpor",
    max_executions: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Verify every scenario and assemble the report document."""
    options = dict(options or {})
    scenarios = list(scenarios)
    entries = [
        variant_entry(s, strategy=strategy, max_executions=max_executions, seed=seed, options=options)
        for s in scenarios
    ]
    _non_vacuity(entries, scenarios, strategy, max_executions, seed, options)
    _fix_on_buggy_schedules(entries, scenarios)
    for e in entries:
        del e["_harness"]
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
                _proof_scope(e, s) for e, s in zip(entries, scenarios, strict=True) if e["verdict"] == "safe"
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


# schema, loading, normalizing --------------------------------------------------------------------


class ReportError(InputError):
    """A report JSON that cannot be used: unreadable, not a report, another schema version, invalid."""


def schema() -> dict[str, Any]:
    text = (Path(__file__).parent / "schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def validate(report: Any, source: str = "report") -> None:
    """Raise ReportError (one line) unless `report` is a valid report of this schema version."""
    if not isinstance(report, dict) or "schema_version" not in report:
        raise ReportError(f"{source}: not a raceproof report (no 'schema_version' field)")
    version = report["schema_version"]
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: schema_version {version!r} is not supported "
            f"(this raceproof reads schema_version {SCHEMA_VERSION})"
        )
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ReportError(f"{source}: invalid report at {where}: {err.message.splitlines()[0][:200]}{more}")


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    validate(data, path)
    return data  # type: ignore[no-any-return]


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def normalize(report: dict[str, Any]) -> dict[str, Any]:
    """A copy with the volatile fields fixed (wall times, environment, version): for golden files."""
    out = copy.deepcopy(report)
    for v in out.get("variants", []):
        v["exploration"]["wall_time_s"] = 0.0
    out["environment"] = {"python": "X", "platform": "X", "trio": "X"}
    out["tool"]["version"] = "X"
    return out
