"""The keep-alive candidate matrix (``raceproof compare -o DIR``) as Markdown, HTML, JSON and JUnit.

All four are rendered from ``Matrix.to_json()`` in memory, then written as temporary files renamed
into place at the end: all four files or none.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from typing import Any
from xml.sax.saxutils import quoteattr

FILES = {"md": "keepalive.md", "html": "keepalive.html", "json": "keepalive.json", "junit": "keepalive.xml"}


def _cell(c: dict[str, Any]) -> str:
    if c["verdict"] == "proved":
        return f"proved ({c['executions']} executions)"
    if c["verdict"] == "refuted":
        return f"**refuted** at `{c['where']}`"
    return str(c["verdict"])


def markdown(doc: dict[str, Any]) -> str:
    props = doc["properties"]
    out = ["## Keep-alive: stale-file cleanup candidates (issue 11)", "",
           f"Every candidate against every property, over every mount set up to {doc['max_mounts']} mounts "
           f"(workers 1..min(4, mounts)), every previous-session tree of up to {doc['max_stale']} stale entries"
           + (", with and without a crash at every step followed by a rerun" if doc["crash"] else
              " (no crash runs: P5 not run)") + ".", ""]
    out.append("| candidate | " + " | ".join(f"{p} {t}" for p, t in props.items()) + " | runs | executions |")
    out.append("|---|" + "---|" * (len(props) + 2))
    for row in doc["rows"]:
        out.append(f"| {row['algorithm']} | " + " | ".join(_cell(c) for c in row["cells"])
                   + f" | {row['runs']} | {row['executions']} |")
    out.append("")
    refuted = [c for row in doc["rows"] for c in row["cells"] if c["replay_command"]]
    if refuted:
        out += ["Each refuted cell replays with:", ""]
        for c in refuted:
            out.append(f"- {c['algorithm']} {c['property']}: {c['message']}  ")
            out.append(f"  `{c['replay_command']}`")
        out.append("")
    rec = doc.get("recommendation")
    if rec is None:
        out += ["**No candidate is proved on every cell.**", ""]
        return "\n".join(out)
    out += [f"### Recommendation: {rec['candidate']} ({rec['title']})", "", rec["why"], "",
            "```rust", rec["pseudocode"], "```", "", "Preconditions:", ""]
    out += [f"- {p}" for p in rec["preconditions"]]
    out.append("")
    return "\n".join(out)


def html_page(doc: dict[str, Any]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(p)}<br><small>{e(t)}</small></th>" for p, t in doc["properties"].items())
    rows = []
    for row in doc["rows"]:
        cells = "".join(
            f"<td class='{e(c['verdict'])}' title='{e(c['replay_command'] or '')}'>{e(c['verdict'])}"
            + (f"<br><small>{e(c['where'])}</small>" if c["where"] else f"<br><small>{c['executions']} ex</small>")
            + "</td>" for c in row["cells"])
        rows.append(f"<tr><th>{e(row['algorithm'])}</th>{cells}<td>{row['runs']}</td><td>{row['executions']}</td></tr>")
    rec = doc.get("recommendation")
    rec_html = "<p><b>No candidate is proved on every cell.</b></p>" if rec is None else (
        f"<h2>Recommendation: {e(rec['candidate'])}</h2><p>{e(rec['why'])}</p><pre>{e(rec['pseudocode'])}</pre>"
        "<ul>" + "".join(f"<li>{e(p)}</li>" for p in rec["preconditions"]) + "</ul>")
    replays = "".join(f"<li>{e(c['algorithm'])} {e(c['property'])}: <code>{e(c['replay_command'])}</code></li>"
                      for row in doc["rows"] for c in row["cells"] if c["replay_command"])
    return ("<!doctype html><html><head><meta charset='utf-8'><title>raceproof keep-alive matrix</title><style>"
            "body{font-family:sans-serif}td,th{border:1px solid #999;padding:4px}.proved{background:#cfc}"
            ".refuted{background:#fcc}.inconclusive{background:#ffc}</style></head><body>"
            "<h1>Keep-alive cleanup candidates</h1><table><tr><th>candidate</th>" + head
            + "<th>runs</th><th>executions</th></tr>" + "".join(rows) + "</table>"
            + (f"<h2>Replay commands</h2><ul>{replays}</ul>" if replays else "") + rec_html + "</body></html>\n")


def junit(doc: dict[str, Any]) -> str:
    cases = []
    for row in doc["rows"]:
        for c in row["cells"]:
            name = quoteattr(f"{c['property']}")
            body = ""
            if c["verdict"] == "refuted":
                body = f"<failure message={quoteattr(c['message'])}>{html.escape(c['replay_command'] or '')}</failure>"
            elif c["verdict"] != "proved":
                body = f"<skipped message={quoteattr(c['verdict'])}/>"
            cases.append(f"  <testcase classname={quoteattr('keepalive.' + row['algorithm'])} name={name}>"
                         f"{body}</testcase>")
    failures = sum(1 for row in doc["rows"] for c in row["cells"] if c["verdict"] == "refuted")
    return (f"<?xml version='1.0' encoding='utf-8'?>\n<testsuite name='raceproof.keepalive' tests='{len(cases)}' "
            f"failures='{failures}'>\n" + "\n".join(cases) + "\n</testsuite>\n")


def render_all(doc: dict[str, Any]) -> dict[str, str]:
    return {FILES["md"]: markdown(doc), FILES["html"]: html_page(doc),
            FILES["json"]: json.dumps(doc, indent=2) + "\n", FILES["junit"]: junit(doc)}


def write_all(matrix: Any, directory: str) -> list[str]:
    """Render everything first, then write temporaries and rename them into place."""
    texts = render_all(matrix.to_json())
    os.makedirs(directory, exist_ok=True)
    temps = []
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix="." + name, dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            temps.append((tmp, os.path.join(directory, name)))
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return [final for _, final in temps]
