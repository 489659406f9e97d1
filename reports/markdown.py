"""GitHub-flavoured Markdown from the report JSON, with a Mermaid sequence diagram per counterexample.

Escaping: Markdown text and table cells go through ``md_text`` (Markdown punctuation backslash-escaped,
``<``/``>``/``&`` as entities, ``|`` escaped, newlines flattened); Mermaid labels go through
``mermaid_text`` (``;``, ``#``, ``<``, ``>``, ``&``, ``"``, ``:`` and ``%`` as ``#NN;`` entity codes, the
word ``end`` as ``#101;nd``), because a bare ``;`` or ``end`` breaks Mermaid's parser.
"""

from __future__ import annotations

import re
from typing import Any

MERMAID_SPECIAL = set(';#<>&"%{}')
MAX_MERMAID_STEPS = 40
CONTEXT = 3
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_text(value: Any) -> str:
    """Plain text safe in Markdown paragraphs and GFM table cells."""
    s = " ".join(str(value).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def code(value: Any) -> str:
    """An inline code span (backticks inside are handled by a longer fence)."""
    s = " ".join(str(value).split()).replace("|", "\\|")
    fence = "``" if "`" in s else "`"
    return f"{fence} {s} {fence}" if fence == "``" else f"`{s}`"


def mermaid_text(value: Any, *, alias: bool = False) -> str:
    """A label safe inside a Mermaid sequence diagram message, note or participant alias."""
    s = " ".join(str(value).split())
    specials = MERMAID_SPECIAL | ({":", ","} if alias else set())
    s = "".join(f"#{ord(ch)};" if ch in specials else ch for ch in s)
    s = re.sub(r"\b(e)(nd)\b", lambda m: f"#{ord(m.group(1))};{m.group(2)}", s, flags=re.IGNORECASE)
    return s or "#32;"


def _verdict_icon(v: dict[str, Any]) -> str:
    return {
        "proved": "✅ proved safe",
        "refuted": "❌ refuted (counterexample)",
        "bounded": "⚠️ bounded only",
        "inconclusive": "⚠️ inconclusive",
    }[v["outcome"]]


def _met(v: dict[str, Any]) -> str:
    if v["expected"] is None:
        return "—"
    return f"{v['expected']} ({'met' if v['expectation_met'] else 'NOT met'})"


def mermaid(cex: dict[str, Any]) -> list[str]:
    """The sequence diagram of the race: the window plus a few steps of context."""
    steps = cex["steps"]
    failing = cex["failing_step"] if cex["failing_step"] is not None else len(steps) - 1
    marked = [s["n"] for s in steps if "window" in s["marks"]]
    start = max(0, (min(marked) if marked else failing) - CONTEXT)
    end_ = min(len(steps) - 1, failing + 1)
    if end_ - start + 1 > MAX_MERMAID_STEPS:
        start = end_ - MAX_MERMAID_STEPS + 1
    lines = ["```mermaid", "sequenceDiagram"]
    for lane in cex["lanes"]:
        lines.append(f"    participant T{lane['id']} as {mermaid_text(lane['name'], alias=True)}")
    lines.append("    participant FS as filesystem")
    if start > 0:
        lines.append(f"    Note over FS: {start} earlier steps omitted (see report.html)")
    in_rect = False
    for s in steps[start : end_ + 1]:
        if "window" in s["marks"] and not in_rect:
            lines.append("    rect rgb(255, 228, 228)")
            in_rect = True
        if "window" not in s["marks"] and in_rect:
            lines.append("    end")
            in_rect = False
        arrow = "-x" if "failing" in s["marks"] else "->>"
        call = f"S{s['n']} {s['op']}({s['path']}{', ' + s['detail'] if s['detail'] else ''}) = {s['result']}"
        lines.append(f"    T{s['lane']}{arrow}FS: {mermaid_text(call)}")
        changes = [f"+ {p}" for p in s["fs"]["added"]] + [f"- {p}" for p in s["fs"]["removed"]]
        if changes:
            shown = changes[:3] + ([f"(+{len(changes) - 3} more)"] if len(changes) > 3 else [])
            lines.append(f"    Note right of FS: {mermaid_text(', '.join(shown))}")
        if "conflict" in s["marks"]:
            lines.append(f"    Note left of T{s['lane']}: {mermaid_text('conflicting step')}")
    if in_rect:
        lines.append("    end")
    if len(steps) - 1 > end_:
        lines.append(f"    Note over FS: {len(steps) - 1 - end_} later steps omitted")
    v = cex["violations"][0]
    lines.append(f"    Note over FS: {mermaid_text('violated: ' + v['check'] + ' - ' + v['message'])}")
    lines.append("```")
    return lines


def _variant(v: dict[str, Any]) -> list[str]:
    sc, ex = v["scenario"], v["exploration"]
    out = [f"### {md_text(v['id'])}: {_verdict_icon(v)}", ""]
    out.append(
        f"Scenario {code(sc['file'])} (digest {code(sc['digest'])}), algorithm **{md_text(sc['algorithm'])}**, "
        f"{sc['workers']} workers, backend {md_text(sc['backend'])}. {md_text(sc['description'])}"
    )
    out.append("")
    out.append(
        "Mounts: "
        + ", ".join(
            f"{code(m['path'])} ({m['entries']} entr{'y' if m['entries'] == 1 else 'ies'})" for m in sc["mounts"]
        )
    )
    out += [
        "",
        f"Expected: **{md_text(_met(v))}**.",
        "",
        "#### Proof size",
        "",
        "| strategy | executions | equivalence classes | naive interleavings | complete | stop reason | wall time |",
        "|---|---:|---:|---:|---|---|---:|",
        f"| {md_text(ex['strategy'])} | {ex['executions']} | "
        f"{ex['equivalence_classes'] if ex['equivalence_classes'] is not None else '— (search stopped)'} | "
        f"{int(ex['naive_interleavings']):.3e} | {'yes' if ex['complete'] else 'no'} | {md_text(ex['stop_reason'])} | "
        f"{ex['wall_time_s']:.2f} s |",
        "",
    ]
    pinned = v.get("pinned")
    if pinned is not None:
        out += ["#### The pinned schedule (the incident as it happened)", ""]
        for st in pinned["failing_steps"]:
            out.append(f"- step {st['n']}: {code(st['thread'])} {code(st['op'] + '(' + st['path'] + ')')} "
                       f"= {code(st['result'])}")
        for viol in pinned["violations"]:
            out.append(f"- {md_text(viol['check'])}: {md_text(viol['message'])}")
        out += ["", f"Verdict of this replay: **{md_text(pinned['verdict'])}** over {pinned['steps']} steps. "
                "Replay it:", "", "```sh", pinned["replay_command"], "```", ""]
    cex = v["counterexample"]
    if cex is not None:
        out += [
            "#### Counterexample",
            "",
            "Replay it (one command):",
            "",
            "```sh",
            cex["replay_command"],
            "```",
            "",
            f"**Mechanism.** {md_text(cex['mechanism'])}",
            "",
            f"**Failure certain.** {md_text(cex['certain_text'])}",
            "",
        ]
        sh = cex["shrunk"]
        before = sh["before_shrinking"]
        out.append(
            f"**Shrunk counterexample.** {sh['threads_before_failure']} threads involved before the failure, "
            f"{sh['preemptions']} preemptions, failure at step {sh['steps_to_failure']} of {sh['total_steps']}"
            + (
                f" (before shrinking: {before['threads_before_failure']} threads, {before['preemptions']} "
                f"preemptions, {before['steps_to_failure']} steps)."
                if before
                else "."
            )
        )
        out += ["", *mermaid(cex), ""]
        out += [
            "<details><summary>Full timeline (" + str(len(cex["steps"])) + " steps)</summary>",
            "",
            "| step | thread | call | result | filesystem change | |",
            "|---:|---|---|---|---|---|",
        ]
        for s in cex["steps"]:
            ch = ", ".join([f"+{p}" for p in s["fs"]["added"]] + [f"-{p}" for p in s["fs"]["removed"]])
            args = s["path"] + (", " + s["detail"] if s["detail"] else "")
            out.append(
                f"| {s['n']} | {md_text(s['thread'])} | {md_text(s['op'] + '(' + args + ')')} | "
                f"{md_text(s['result'])} | {md_text(ch)} | {md_text(' '.join(s['marks']))} |"
            )
        out += [
            "",
            "</details>",
            "",
            "<details><summary>Tree at the steps that matter (under " + md_text(cex["tree_scope"]) + ")</summary>",
            "",
        ]
        for snap in cex["snapshots"]:
            out += [f"**{md_text(snap['label'])}**", "", "```text", *(snap["tree"] or ["(empty)"]), "```", ""]
        out += ["</details>", ""]
        out += ["Violations:", ""] + [f"- {md_text(x['check'])}: {md_text(x['message'])}" for x in cex["violations"]]
        out.append("")
    nv = v["non_vacuity"]
    if nv is not None:
        out += ["#### Non-vacuity", "", md_text(nv["text"]), ""]
    cov = v["coverage"]
    if not cov["computed"]:
        return [*out, "#### Conflict-pair coverage", "", md_text(cov["method"]), ""]
    out += [
        "#### Conflict-pair coverage",
        "",
        f"{cov['pairs_both_orders']} of {cov['pairs_total']} conflict pairs seen in both orders; "
        f"{cov['final_states']} distinct final tree(s) over {cov['executions']} executions.",
        "",
        md_text(cov["method"]),
        "",
        f"<details><summary>All {cov['pairs_total']} pairs</summary>",
        "",
        "| site A | site B | A first | B first |",
        "|---|---|:-:|:-:|",
    ]
    for p in cov["pairs"]:
        out.append(
            f"| {md_text(p['a'])} | {md_text(p['b'])} | {'✓' if p['a_first'] else '✗'} | "
            f"{'✓' if p['b_first'] else '✗'} |"
        )
    out += ["", "</details>", ""]
    return out


def render(report: dict[str, Any]) -> str:
    s = report["summary"]
    out = [
        f"# {md_text(report['title'])}",
        "",
        f"> **{md_text(s['badge'])}**. raceproof {md_text(report['tool']['version'])}, strategy "
        f"{md_text(report['settings']['strategy'])}, report schema_version {report['schema_version']}.",
        "",
        "## Summary",
        "",
        md_text(s["text"]),
        "",
        "| variant | algorithm | expected | result | executions | equivalence classes | complete |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for v in report["variants"]:
        ex = v["exploration"]
        out.append(
            f"| {md_text(v['id'])} | {md_text(v['scenario']['algorithm'])} | {md_text(_met(v))} | "
            f"{_verdict_icon(v)} | {ex['executions']} | "
            f"{ex['equivalence_classes'] if ex['equivalence_classes'] is not None else '—'} | "
            f"{'yes' if ex['complete'] else 'no (' + md_text(ex['stop_reason']) + ')'} |"
        )
    ph = report["placeholders"]
    out += ["", "## Impact", "", f"> {md_text(ph['impact'])}", "", "## Evidence", ""]
    for v in report["variants"]:
        out += _variant(v)
    out += ["## Action items", "", "| item | type | owner | tracking |", "|---|---|---|---|"]
    for a in ph["action_items"]:
        out.append(
            f"| {md_text(a['item'])} | {md_text(a['type'])} | {md_text(a['owner'])} | {md_text(a['tracking'])} |"
        )
    lim = report["limitations"]
    out += [
        "",
        "## Limitations",
        "",
        "Exhaustive relative to the model below, and only for the scenarios above; nothing else is claimed.",
        "",
        "**Modelled:**",
        "",
    ] + [f"- {md_text(x)}" for x in lim["modelled"]]
    out += ["", "**Simplified:**", ""] + [f"- {md_text(x)}" for x in lim["simplified"]]
    out += ["", "**Not modelled:**", ""] + [f"- {md_text(x)}" for x in lim["not_modelled"]]
    env = report["environment"]
    out += [
        "",
        "## Appendix",
        "",
        f"Command: {code(report['command'] or '(library call)')}. "
        f"Python {md_text(env['python'])} on {md_text(env['platform'])}, trio {md_text(env['trio'])}.",
        "",
    ]
    return "\n".join(out)
