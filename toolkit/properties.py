"""The keep-alive properties P1-P5, as checks selectable per scenario (``properties = [...]``).

- **P1** nothing an archive wrote is lost: every entry of every archive is in the final tree with
  its content (a missing one with no worker error is *silent loss*).
- **P2** nothing stale survives under any mount root: every entry below a root is an archive's, a
  spine directory towards a nested root, or under a declared ``preserve`` path.
- **P3** nothing is written or removed outside the mounts: no step of any thread changed an entry
  (or a file's content) outside every mount root, other than creating a root's missing ancestors
  and keep-alive state in ``STATE_DIR``. Judged on the trace, so a transient write (a stage
  renamed away later) counts too.
- **P4** no worker error on a valid configuration (a deadlock included).
- **P5** idempotent: after a crash at any step (``inject crash``), the rerun on the same tree
  converges to the crash-free result: a P1/P2/P4 violation of an execution in which the machine
  crashed is P5 unless a crash-free execution of the same program already broke that property
  (then it is reported as that property: the crash did not add it). One definition for
  ``verify --inject crash`` and ``compare --crash`` (``p5_violations``): the crash explorer
  (``raceproof.inject.explore_placements``) runs every crash-free execution (its level 0) before
  any crash, and the program remembers what they broke (``IncidentProgram.crash_free_broken``).
  A lone ``replay`` of a crashed token has seen no crash-free execution, so it reports every
  P1/P2/P4 after a crash as P5.

Each violation's ``check`` is the property's name and its ``path`` the entry.
"""

from __future__ import annotations

from typing import Any

from raceproof.errors import ScenarioError
from raceproof.execution import Execution, Violation, default_violations
from raceproof.fs.base import under

PROPERTIES = {
    "P1": "nothing an archive wrote is lost",
    "P2": "nothing stale survives under any mount root",
    "P3": "nothing written or removed outside the mounts",
    "P4": "no worker error on a valid configuration",
    "P5": "a crash at any step, then a rerun, converges",
}


def parse_keepalive_keys(file: str, raw: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """``properties``, ``preserve`` and ``stale_states`` of a scenario table (one-line errors)."""
    props = raw.get("properties", [])
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise ScenarioError(file, "properties", f"must be an array of property names (got {props!r})")
    for i, p in enumerate(props):
        if p not in PROPERTIES:
            raise ScenarioError(file, f"properties[{i}]", f"must be one of {', '.join(PROPERTIES)} (got {p!r})")
    preserve = raw.get("preserve", [])
    if not isinstance(preserve, list) or not all(isinstance(p, str) and p.startswith("/") for p in preserve):
        raise ScenarioError(file, "preserve", f"must be an array of absolute paths (got {preserve!r})")
    k = raw.get("stale_states", 0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= 3:
        raise ScenarioError(file, "stale_states", f"must be an integer between 0 and 3 (got {k!r})")
    return tuple(dict.fromkeys(props)), tuple(preserve), k


#: the resource the crash injector (``raceproof.injectors.crash``) writes at the step where the
#: machine goes down (and every later step of the crashed machine reads)
MACHINE = "inject:machine"


def _crashed(execution: Execution) -> bool:
    """Did the machine crash in this execution? Judged on the trace, like every property."""
    return any(MACHINE in ev.footprint.writes for ev in execution.trace)


def outside_writes(execution: Execution, roots: list[str], allowed: list[str]) -> list[tuple[int, str]]:
    """(step, path) of every change a step made outside the mounts (P3)."""
    out = []
    for ev in execution.trace:
        if ev.errno is not None:
            continue
        for res in sorted(ev.footprint.writes):
            if res.startswith("e:"):
                path = res[2:]
            elif res.startswith("c:s:"):  # the content of a file of the initial tree
                path = res[4:]
            else:
                continue
            if any(under(path, r) or under(r, path) for r in [*roots, *allowed]):
                continue  # inside a mount or the keep-alive state, or an ancestor (create_dir_all)
            out.append((ev.index, path))
    return out


def property_violations(execution: Execution, program: Any) -> list[Violation]:
    from raceproof.keepalive import STATE_DIR

    sc = program.scenario
    selected = set(sc.properties)
    roots = program.roots
    tree = execution.tree
    out: list[Violation] = []
    for v in default_violations(execution):
        out.append(Violation("P4", f"{PROPERTIES['P4']}: {v.message}", v.thread, v.op, v.path, v.errno, v.step))
    lost = [p for p, d in sorted(program.expected.items()) if tree.get(p) != d and any(under(p, r) for r in roots)]
    if lost:
        silent = "" if any(r.error is not None for r in execution.results) else " (silent: no worker error)"
        out.append(Violation("P1", f"{PROPERTIES['P1']}: {lost[0]} is "
                                   f"{'missing' if lost[0] not in tree else 'different'}{silent}"
                                   + (f" (+{len(lost) - 1} more)" if len(lost) > 1 else ""), path=lost[0]))
    stale = [p for p in sorted(tree) if any(under(p, r) for r in roots) and p not in program.expected
             and not any(under(p, keep) for keep in sc.preserve)]
    if stale:
        out.append(Violation("P2", f"{PROPERTIES['P2']}: {stale[0]} ({tree[stale[0]]}) survived"
                                   + (f" (+{len(stale) - 1} more)" if len(stale) > 1 else ""), path=stale[0]))
    outside = outside_writes(execution, roots, [STATE_DIR])
    if outside:
        step, path = outside[0]
        ev = execution.trace[step]
        out.append(Violation("P3", f"{PROPERTIES['P3']}: step {step} {ev.op}({ev.path}) changed {path}",
                             execution.names[ev.thread], ev.op, path, step=step))
    out = p5_violations(out, _crashed(execution), program.crash_free_broken)
    return [v for v in out if v.check in selected]


#: the properties a crash + rerun must not newly break (P3 is judged on every step, crash or not)
CONVERGENCE = ("P1", "P2", "P4")


def p5_violations(violations: list[Violation], crashed: bool, crash_free_broken: set[str]) -> list[Violation]:
    """The one definition of P5. In a crash-free execution, record which of P1/P2/P4 it broke (into
    `crash_free_broken`, the program's memory); in an execution where the machine crashed, report
    each P1/P2/P4 violation as P5 unless a crash-free execution already broke that property."""
    if not crashed:
        crash_free_broken.update(v.check for v in violations if v.check in CONVERGENCE)
        return violations
    return [Violation("P5", f"{PROPERTIES['P5']}: after the crash, {v.check} {v.message}", v.thread, v.op,
                      v.path, v.errno, v.step)
            if v.check in CONVERGENCE and v.check not in crash_free_broken else v for v in violations]


def note_first(first: dict[str, Execution], wanted: set[str], execution: Execution) -> None:
    """Keep `execution` in `first` as the first to break each property of `wanted` it breaks (a
    matrix cell's counterexample is the first execution, in exploration order, that refutes it)."""
    for v in execution.violations:
        if v.check in wanted and v.check not in first:
            first[v.check] = execution
