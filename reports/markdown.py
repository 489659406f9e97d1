"""GitHub-flavoured Markdown from the report JSON, with a Mermaid sequence diagram per counterexample.

Escaping: Markdown text and table cells go through ``md_text`` (Markdown punctuation backslash-escaped,
``<``/``>``/``&`` as entities, ``|`` escaped, newlines flattened); Mermaid labels go through
``mermaid_text`` (``;``, ``#``, ``<``, ``>``, ``&``, ``"``, ``:`` and ``%`` as ``#NN;`` entity codes, the
word ``end`` as ``#101;nd``), because a bare ``;`` or ``end`` breaks Mermaid's parser.
"""

from __future__ import annotations

import re
from typing import Any

from raceproof.numbers import format_count

MERMAID_SPECIAL = set(';#<>&"%{}')
MAX_MERMAID_STEPS = 40
CONTEXT = 3
#: the race window's background: translucent red, readable under GitHub's light and dark themes
#: (an opaque light fill behind the dark theme's light text made the window unreadable)
WINDOW_FILL = "rgba(255, 80, 80, 0.18)"
#: GitHub renders at most 65,536 characters of a Markdown file; stay well below
MAX_CHARS = 60_000
#: a coverage list up to this many pairs is shown in full (with the per-thread summary)
MAX_LISTED_PAIRS = 50
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
            lines.append(f"    rect {WINDOW_FILL}")
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


def _story(drawn: dict[str, Any], full: bool, what: str, violations: bool = True) -> list[str]:
    """Mechanism, certainty, the Mermaid diagram, the timeline and the trees of one drawn execution."""
    out = [
        f"**Mechanism.** {md_text(drawn['mechanism'])}",
        "",
        f"**Failure certain.** {md_text(drawn['certain_text'])}",
        "",
        *mermaid(drawn),
        "",
    ]
    if full:
        out += [
            f"<details><summary>Full timeline of {what} ({len(drawn['steps'])} steps)</summary>",
            "",
            "| step | thread | call | result | filesystem change | |",
            "|---:|---|---|---|---|---|",
        ]
        for s in drawn["steps"]:
            ch = ", ".join([f"+{p}" for p in s["fs"]["added"]] + [f"-{p}" for p in s["fs"]["removed"]])
            args = s["path"] + (", " + s["detail"] if s["detail"] else "")
            out.append(
                f"| {s['n']} | {md_text(s['thread'])} | {md_text(s['op'] + '(' + args + ')')} | "
                f"{md_text(s['result'])} | {md_text(ch)} | {md_text(' '.join(s['marks']))} |"
            )
        out += ["", "</details>", ""]
    else:
        out += [f"The full timeline of {what} ({len(drawn['steps'])} steps) is in report.html and report.json.", ""]
    out += [
        "<details><summary>Tree at the steps that matter (under " + md_text(drawn["tree_scope"]) + ")</summary>",
        "",
    ]
    for snap in drawn["snapshots"]:
        out += [f"**{md_text(snap['label'])}**", "", "```text", *(snap["tree"] or ["(empty)"]), "```", ""]
    out += ["</details>", ""]
    if violations:
        out += ["Violations:", ""]
        out += [f"- {md_text(x['check'])}: {md_text(x['message'])}" for x in drawn["violations"]]
        out.append("")
    return out


def _coverage_summary(cov: dict[str, Any], index: int) -> list[str]:
    """Conflict pairs per pair of threads (the full list stays in report.json and report.html)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for p in cov["pairs"]:
        ta, tb = p["a"].split(": ", 1)[0], p["b"].split(": ", 1)[0]
        key = (ta, tb) if ta <= tb else (tb, ta)
        g = groups.setdefault(key, [0, 0])
        g[0] += 1
        g[1] += 1 if p["both_orders"] else 0
    out = [
        "| thread | thread | conflict pairs | seen in both orders | in one order only |",
        "|---|---|---:|---:|---:|",
    ]
    for (ta, tb), (n, both) in sorted(groups.items()):
        out.append(f"| {md_text(ta)} | {md_text(tb)} | {n} | {both} | {n - both} |")
    out += [
        "",
        f"Every pair (site A, site B, which orders were seen) is in report.json "
        f"(`variants[{index}].coverage.pairs`, {cov['pairs_total']} pairs) and in report.html.",
        "",
    ]
    if cov["pairs_total"] <= MAX_LISTED_PAIRS:
        out += [
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


def _on_buggy_schedules(v: dict[str, Any]) -> list[str]:
    runs = v.get("on_buggy_schedules") or []
    if not runs:
        return []
    out = ["#### On the schedules that break the buggy variant", ""]
    for run in runs:
        icon = "✅" if run["verdict"] == "pass" else "❌"
        out += [
            f"**{md_text(run['label'])}**: {icon} {md_text(run['text'])}.",
            "",
            f"Schedule: {md_text(run['rule'])}. Replay this run of {md_text(v['id'])}:",
            "",
            "```sh",
            run["replay_command"],
            "```",
            "",
            "| buggy step | thread | buggy call | result | fixed run |",
            "|---:|---|---|---|---|",
        ]
        for a in run["aligned"]:
            then = a["then"]
            fixed = (
                f"S{then['n']} {md_text(then['call'])} = {md_text(then['result'])}" if then else md_text(a["note"])
            )
            mark = ""
            if "failing" in a["marks"]:
                mark = " **(failed)**"
            elif "conflict" in a["marks"]:
                mark = " (conflicting)"
            out.append(
                f"| {a['n']} | {md_text(a['thread'])} | {md_text(a['call'])}{mark} | {md_text(a['result'])} | {fixed} |"
            )
        out.append("")
    return out


def _variant(v: dict[str, Any], index: int, full: bool) -> list[str]:
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
        f"{format_count(ex['naive_interleavings'])} | {'yes' if ex['complete'] else 'no'} | "
        f"{md_text(ex['stop_reason'])} | "
        f"{ex['wall_time_s']:.2f} s |",
        "",
    ]
    pinned = v.get("pinned")
    if pinned is not None:
        out += ["#### The incident as it happened (the scenario's pinned schedule)", ""]
        for st in pinned["failing_steps"]:
            out.append(
                f"- step {st['n']}: {code(st['thread'])} {code(st['op'] + '(' + st['path'] + ')')} "
                f"= {code(st['result'])}"
            )
        for viol in pinned["violations"]:
            out.append(f"- {md_text(viol['check'])}: {md_text(viol['message'])}")
        out += [
            "",
            f"Verdict of this replay: **{md_text(pinned['verdict'])}** over {pinned['steps']} steps. Replay it:",
            "",
            "```sh",
            pinned["replay_command"],
            "```",
            "",
        ]
        if pinned.get("timeline"):
            out += _story(pinned["timeline"], full, "the pinned schedule", violations=False)  # listed above
    cex = v["counterexample"]
    if cex is not None:
        sh = cex["shrunk"]
        before = sh["before_shrinking"]
        out += [
            "#### Counterexample (shrunk)",
            "",
            "Replay it (one command):",
            "",
            "```sh",
            cex["replay_command"],
            "```",
            "",
            f"**Shrunk counterexample.** {sh['threads_before_failure']} threads involved before the failure, "
            f"{sh['preemptions']} preemptions, failure at step {sh['steps_to_failure']} of {sh['total_steps']}"
            + (
                f" (before shrinking: {before['threads_before_failure']} threads, {before['preemptions']} "
                f"preemptions, {before['steps_to_failure']} steps)."
                if before
                else "."
            ),
            "",
        ]
        out += _story(cex, full, "the counterexample")
    out += _on_buggy_schedules(v)
    nv = v["non_vacuity"]
    if nv is not None:
        out += ["#### Non-vacuity", "", md_text(nv["text"]), ""]
    cov = v["coverage"]
    out += ["#### Conflict-pair coverage", ""]
    if not cov["computed"]:
        return [*out, md_text(cov["method"]), ""]
    out += [
        f"{cov['pairs_both_orders']} of {cov['pairs_total']} conflict pairs seen in both orders; "
        f"{cov['final_states']} distinct final tree(s) over {cov['executions']} executions.",
        "",
        md_text(cov["method"]),
        "",
        *_coverage_summary(cov, index),
    ]
    return out


def _scope(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for sc in report["summary"].get("proof_scope") or []:
        out += [f"**What the proof of {md_text(sc['variant'])} covers:**", ""]
        out += [f"- {_md_with_code(x)}" for x in sc["covers"]]
        out += ["", "**What it does not cover:**", ""]
        out += [f"- {_md_with_code(x)}" for x in sc["not_covered"]]
        out.append("")
    return out


def _md_with_code(text: str) -> str:
    """Plain text with `backticked` spans kept as inline code."""
    out = []
    for i, part in enumerate(str(text).split("`")):
        if i % 2:
            out.append(code(part))
        elif part.strip():
            lead = " " if part[:1].isspace() else ""
            trail = " " if part[-1:].isspace() else ""
            out.append(lead + md_text(part) + trail)
        else:
            out.append(" " if part else "")
    return "".join(out)


def _render(report: dict[str, Any], full: bool) -> str:
    s = report["summary"]
    out = [
        f"# {md_text(report['title'])}",
        "",
        f"> **{md_text(s['badge'])}**. raceproof {md_text(report['tool']['version'])}, strategy "
        f"{md_text(report['settings']['strategy'])}, report schema_version {report['schema_version']}.",
        "",
        *_scope(report),
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
    for i, v in enumerate(report["variants"]):
        out += _variant(v, i, full)
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
    if report.get("keepalive") is not None:  # the embedded keep-alive matrix (raceproof report --keepalive)
        from raceproof.reports.keepalive import markdown as keepalive_markdown

        out += ["", *keepalive_markdown(report["keepalive"]).rstrip("\n").split("\n")]
    out += [
        "",
        "## Appendix",
        "",
        f"Command: {code(report['command'] or '(library call)')}. "
        f"Python {md_text(env['python'])} on {md_text(env['platform'])}, trio {md_text(env['trio'])}.",
        "",
    ]
    return "\n".join(out)


def render(report: dict[str, Any]) -> str:
    """The Markdown report, kept under GitHub's 65,536-character limit (``MAX_CHARS``).

    Conflict pairs are summarised per pair of threads (the full list is in report.json and
    report.html). When the full step-by-step timelines would still exceed the limit they are left
    out (the diagrams, mechanisms and trees stay); a report that is still too long is cut at the
    limit with a note, so GitHub never refuses to render it."""
    text = _render(report, full=True)
    if len(text) > MAX_CHARS:
        text = _render(report, full=False)
    if len(text) > MAX_CHARS:
        note = (
            "\n\n> **Report cut here**: it exceeds GitHub's size limit; the rest is in report.html and "
            "report.json.\n"
        )
        cut = text.rfind("\n", 0, MAX_CHARS - len(note) - 40)
        head = text[:cut]
        if head.count("```") % 2:
            head += "\n```"
        head += "\n</details>" * max(0, head.count("<details>") - head.count("</details>"))
        text = head + note
    return text
