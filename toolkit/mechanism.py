"""Why a counterexample fails, as one text: the conflicting pair, what the first step changed (and
which step of the failing thread had created it), and the failing step.

The CLI's ``why`` line, the plugin's ``why:`` line and the report's *Mechanism* paragraph are this
one text (``raceproof.pipeline`` puts it in ``Counterexample.explanation["mechanism"]``). It reads
the tree before every step, which the confirming replay of the counterexample records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from raceproof.execution import Execution
from raceproof.scheduler import errno_name

Tree = Mapping[str, str]


def diff(before: Tree | None, after: Tree | None) -> dict[str, list[str]]:
    """Paths added, removed and changed from `before` to `after` (nothing when one is unknown)."""
    if before is None or after is None:
        return {"added": [], "removed": [], "changed": []}
    return {
        "added": sorted(p for p in after if p not in before),
        "removed": sorted(p for p in before if p not in after),
        "changed": sorted(p for p in after if p in before and before[p] != after[p]),
    }


def step_diffs(ex: Execution, before: Sequence[Tree | None]) -> list[dict[str, list[str]]]:
    """Each step's effect on the tree: the tree before it against the tree before the next step
    (the final tree after the last)."""
    trees = [before[i] if i < len(before) else None for i in range(len(ex.trace))]
    afters: list[Tree | None] = [*trees[1:], ex.tree]
    return [diff(b, a) for b, a in zip(trees, afters, strict=True)]


def creator(
    ex: Execution, diffs: Sequence[Mapping[str, list[str]]], first: int | None, failing: int | None
) -> int | None:
    """The step of the failing thread that created what the conflicting step `first` removed."""
    if first is None or failing is None:
        return None
    removed = set(diffs[first]["removed"])
    lane = ex.trace[failing].thread
    for ev in reversed(ex.trace[:first]):
        if ev.thread == lane and removed & set(diffs[ev.index]["added"]):
            return ev.index
    return None


def _call(ex: Execution, i: int) -> str:
    ev = ex.trace[i]
    return f"{ex.names[ev.thread]} {ev.op}({ev.path}) = {ev.result}"


def mechanism(
    ex: Execution, diffs: Sequence[Mapping[str, list[str]]], first: int | None, second: int | None, failing: int | None
) -> str:
    """The text: `first` and `second` are the conflicting pair (``raceproof.shrink.conflict_pair``),
    `failing` the failing step."""
    if failing is None or not 0 <= failing < len(ex.trace):
        return "No failing step was identified."
    if first is None or second is None:
        return f"S{failing}: {_call(ex, failing)} failed; no conflicting step of another thread was identified."
    a, b, f = ex.trace[first], ex.trace[second], ex.trace[failing]
    na, nb = ex.names[a.thread], ex.names[b.thread]
    text = [
        f"{na} ran {a.op}({a.path}) = {a.result} at step S{first}; then {nb} ran {b.op}({b.path}) = "
        f"{b.result} at step S{second}."
    ]
    removed = diffs[first]["removed"]
    made = creator(ex, diffs, first, failing)
    if made is not None:
        lost = sorted(set(removed) & set(diffs[made]["added"]))
        text.append(
            f"S{made} = {_call(ex, made)} had created {', '.join(lost)}, and S{failing} relies on it "
            f"(program order of {ex.names[f.thread]}); S{first} removed {', '.join(removed)} in between "
            f"(S{made} < S{first} < S{failing})."
        )
    elif removed:
        text.append(f"S{first} removed {', '.join(removed)} before S{failing}.")
    else:
        changed = diffs[first]["added"] + diffs[first]["changed"]
        what = f" ({', '.join(changed)})" if changed else ""
        text.append(f"S{first} changed what S{failing} depends on{what}, and ran first.")
    text.append(f"So S{failing} = {_call(ex, failing)} failed" + (f" with {errno_name(f.errno)}." if f.errno else "."))
    text.append(
        f"Nothing orders {na}'s step after {nb}'s: the two threads share no lock and the steps are "
        "dependent (they touch the same directory entries), so the exploration ran both orders; this "
        "one fails."
    )
    return " ".join(text)
