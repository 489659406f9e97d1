"""The keep-alive candidate matrix (``raceproof compare -o DIR``) as Markdown, HTML, JSON and JUnit.

All four are rendered from ``Matrix.to_json()`` in memory, then written as temporary files renamed
into place at the end: all four files or none. The same document, already computed, is embedded in
the main report by ``raceproof report --keepalive FILE`` (``load_compare`` checks it against the
report schema's ``$defs/keepalive`` and against its base scenario; ``markdown_section`` and
``html_section`` are the report's section; nothing here explores).
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from typing import Any
from xml.sax.saxutils import quoteattr

FILES = {"md": "keepalive.md", "html": "keepalive.html", "json": "keepalive.json", "junit": "keepalive.xml"}


def load_compare(path: str) -> dict[str, Any]:
    """A ``raceproof compare --json`` document from `path`, or a one-line ReportError naming the file
    and field: valid against ``$defs/keepalive``, consistent (rows = algorithms, winner proved), and
    computed for the base scenario as it is now (its digest)."""
    from raceproof.errors import InputError
    from raceproof.reports.schema_io import ReportError, first_error, schema
    from raceproof.scenario import load, read_input

    text = read_input(path, "keep-alive matrix", 1 << 26)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict) or doc.get("schema") != "raceproof.compare/1":
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ReportError(f"{path}: schema: not a raceproof compare document (want 'raceproof.compare/1', got {got!r})")
    full = schema()
    found = first_error({"$defs": full["$defs"], "$ref": "#/$defs/keepalive"}, doc)
    if found is not None:
        where, message, _others = found
        raise ReportError(f"{path}: {where}: {message}")
    rows = [row["algorithm"] for row in doc["rows"]]
    if rows != doc["algorithms"]:
        raise ReportError(f"{path}: rows: the rows {rows} are not the algorithms {doc['algorithms']}")
    for i, row in enumerate(doc["rows"]):
        props = [c["property"] for c in row["cells"]]
        if props != list(doc["properties"]) or any(c["algorithm"] != row["algorithm"] for c in row["cells"]):
            raise ReportError(f"{path}: rows/{i}/cells: not the cells of {row['algorithm']} "
                              f"for {list(doc['properties'])}")
    win = doc["winner"]
    if win is not None:
        row = doc["rows"][rows.index(win)] if win in rows else None
        if row is None or any(c["verdict"] not in ("proved", "not-run") for c in row["cells"]):
            raise ReportError(f"{path}: winner: {win!r} is not a candidate proved on every cell")
    rec = doc["recommendation"]
    if rec is not None and rec["candidate"] != win:
        raise ReportError(f"{path}: recommendation/candidate: {rec['candidate']!r} is not the winner {win!r}")
    try:
        base = load(doc["base"])
    except InputError as exc:
        raise ReportError(f"{path}: base: cannot load the base scenario ({exc})") from None
    if base.digest != doc["base_digest"]:
        raise ReportError(f"{path}: base_digest: computed for another scenario ({doc['base_digest']}; "
                          f"{doc['base']} is now {base.digest}): run raceproof compare again")
    return doc  # type: ignore[no-any-return]


def _cell(c: dict[str, Any]) -> str:
    from raceproof.reports.markdown import code, md_text

    if c["verdict"] == "proved":
        return f"proved ({c['executions']} executions)"
    if c["verdict"] == "refuted":
        return f"**refuted** at {code(c['where'])}"
    return md_text(c["verdict"])


def markdown(doc: dict[str, Any]) -> str:
    """The matrix section (``## Keep-alive ...``): the standalone keepalive.md and the report's section."""
    from raceproof.reports.markdown import code, md_text

    props = doc["properties"]
    out = ["## Keep-alive: stale-file cleanup candidates (issue 11)", "",
           f"Every candidate against every property, over every mount set up to {doc['max_mounts']} mounts "
           f"(workers 1..min(4, mounts)), every previous-session tree of up to {doc['max_stale']} stale entries"
           + (", with and without a crash at every step followed by a rerun" if doc["crash"] else
              " (no crash runs: P5 not run)")
           + f". Base scenario {code(doc['base'])} (digest {code(doc['base_digest'])}).", ""]
    out.append("| candidate | " + " | ".join(f"{p} {md_text(t)}" for p, t in props.items()) + " | runs | executions |")
    out.append("|---|" + "---|" * (len(props) + 2))
    for row in doc["rows"]:
        out.append(f"| {md_text(row['algorithm'])} | " + " | ".join(_cell(c) for c in row["cells"])
                   + f" | {row['runs']} | {row['executions']} |")
    out.append("")
    refuted = [c for row in doc["rows"] for c in row["cells"] if c["replay_command"]]
    if refuted:
        out += ["Each refuted cell replays with:", ""]
        for c in refuted:
            out.append(f"- {md_text(c['algorithm'])} {c['property']}: {md_text(c['message'])}  ")
            out.append(f"  {code(c['replay_command'])}")
        out.append("")
    rec = doc.get("recommendation")
    if rec is None:
        out += ["**No candidate is proved on every cell.**", ""]
        return "\n".join(out)
    out += [f"### Recommendation: {md_text(rec['candidate'])} ({md_text(rec['title'])})", "", md_text(rec["why"]), "",
            "```rust", rec["pseudocode"].replace("```", "` ` `"), "```", "", "Preconditions:", ""]
    out += [f"- {md_text(p)}" for p in rec["preconditions"]]
    out.append("")
    return "\n".join(out)


def html_section(doc: dict[str, Any], level: int = 2) -> str:
    """The matrix, replay commands and recommendation as an HTML fragment (every text escaped)."""
    e = html.escape
    h, h2 = f"h{level}", f"h{level + 1}"
    head = "".join(f"<th>{e(p)}<br><small>{e(t)}</small></th>" for p, t in doc["properties"].items())
    rows = []
    for row in doc["rows"]:
        cells = "".join(
            f"<td class='ka-{e(c['verdict'])}' title='{e(c['replay_command'] or '')}'>{e(c['verdict'])}"
            + (f"<br><small>{e(c['where'])}</small>" if c["where"] else f"<br><small>{c['executions']} ex</small>")
            + "</td>" for c in row["cells"])
        rows.append(f"<tr data-candidate='{e(row['algorithm'])}'><th>{e(row['algorithm'])}</th>{cells}"
                    f"<td>{row['runs']}</td><td>{row['executions']}</td></tr>")
    rec = doc.get("recommendation")
    rec_html = "<p><b>No candidate is proved on every cell.</b></p>" if rec is None else (
        f"<{h2} id='keepalive-recommendation'>Recommendation: {e(rec['candidate'])} ({e(rec['title'])})</{h2}>"
        f"<p>{e(rec['why'])}</p><pre class='pseudocode'>{e(rec['pseudocode'])}</pre><p>Preconditions:</p>"
        "<ul>" + "".join(f"<li>{e(p)}</li>" for p in rec["preconditions"]) + "</ul>")
    replays = "".join(f"<li>{e(c['algorithm'])} {e(c['property'])}: {e(c['message'])}<br>"
                      f"<code>{e(c['replay_command'])}</code></li>"
                      for row in doc["rows"] for c in row["cells"] if c["replay_command"])
    scope = (f"Every candidate against every property, over every mount set up to {doc['max_mounts']} mounts "
             f"(workers 1..min(4, mounts)), every previous-session tree of up to {doc['max_stale']} stale entries"
             + (", with and without a crash at every step followed by a rerun" if doc["crash"]
                else " (no crash runs: P5 not run)") + f". Base scenario <code>{e(doc['base'])}</code> "
             f"(digest <code>{e(doc['base_digest'])}</code>).")
    return ("<style>table.keepalive td,table.keepalive th{border:1px solid #999;padding:4px}"
            ".ka-proved{background:rgba(40,167,69,.2)}.ka-refuted{background:rgba(255,80,80,.2)}.ka-inconclusive{background:rgba(255,200,0,.2)}</style>"
            f"<section id='keepalive'><{h}>Keep-alive: stale-file cleanup candidates (issue 11)</{h}><p>{scope}</p>"
            "<table class='keepalive'><tr><th>candidate</th>" + head + "<th>runs</th><th>executions</th></tr>"
            + "".join(rows) + "</table>"
            + (f"<{h2}>Replay commands</{h2}><ul>{replays}</ul>" if replays else "") + rec_html + "</section>\n")


def html_page(doc: dict[str, Any]) -> str:
    return ("<!doctype html><html><head><meta charset='utf-8'><title>raceproof keep-alive matrix</title><style>"
            "body{font-family:sans-serif}</style></head><body>"
            "<h1>Keep-alive cleanup candidates</h1>" + html_section(doc) + "</body></html>\n")


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


def junit_suite(parent: Any, doc: dict[str, Any]) -> tuple[int, int]:
    """The report's ``raceproof.keepalive`` testsuite under `parent` (an ElementTree element): one
    testcase per candidate (its cells as properties, its refuted cells' replay commands as output;
    a refuted candidate is evidence, not a failure) and one ``recommendation`` testcase that fails
    when no candidate is proved on every cell. Returns (tests, failures)."""
    import xml.etree.ElementTree as ET

    win = doc["winner"]
    failures = 0 if win is not None else 1
    tests = len(doc["rows"]) + 1
    suite = ET.SubElement(parent, "testsuite", name="raceproof.keepalive", tests=str(tests),
                          failures=str(failures), errors="0", skipped="0", time="0.000")
    for row in doc["rows"]:
        name = f"candidate {row['algorithm']}" + (" [recommended]" if row["algorithm"] == win else "")
        case = ET.SubElement(suite, "testcase", classname="raceproof.keepalive", name=name, file=doc["base"],
                             time="0.000")
        props = ET.SubElement(case, "properties")
        for c in row["cells"]:
            ET.SubElement(props, "property", name=f"raceproof.{c['property']}", value=c["verdict"])
        lines = [f"{c['property']} {c['verdict']}"
                 + (f" ({c['executions']} executions)" if c["verdict"] == "proved" else "")
                 + (f" at {c['where']}: {c['message']}; replay: {c['replay_command']}" if c["replay_command"] else "")
                 for c in row["cells"]]
        ET.SubElement(case, "system-out").text = "\n".join(lines)
    case = ET.SubElement(suite, "testcase", classname="raceproof.keepalive", name="recommendation", file=doc["base"],
                         time="0.000")
    if win is None:
        fail = ET.SubElement(case, "failure", message="no keep-alive candidate is proved on every cell",
                             type="raceproof.keepalive")
        fail.text = ", ".join(doc["algorithms"])
    else:
        ET.SubElement(case, "system-out").text = f"recommended: {win}"
    return tests, failures
