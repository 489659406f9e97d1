"""One self-contained HTML file from the report JSON: no network, an inline hand-written SVG swimlane.

The layout (coordinates) is computed here; ``templates/report.html.j2`` draws it with autoescaping
on, so every label (thread names, paths, results) is escaped. The report JSON itself is embedded
in a ``<script type="application/json" id="raceproof-data">`` element with ``<``, ``>`` and ``&``
written as JSON unicode escapes, so no ``</script>`` can end it early.

The swimlane reads on any screen and on paper:

- it is cut into *chunks* of at most ``CHUNK_H`` px, each its own ``<svg>`` with the lane headers
  repeated, so the headers are never far away and a printed page never cuts a lane;
- each SVG has a ``viewBox`` and scales to the width of the page (CSS ``width: 100%``), down to
  ``MIN_SCALE`` on screen (then the chunk scrolls sideways inside its frame) and without limit in print;
- no label is ever cut: box labels, filesystem changes, trees and lane names wrap onto as many lines
  as they need (at ``CHAR_W`` px per monospace character, measured in Chromium: 7.2 px at 12 px), and
  every box grows to hold its lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from raceproof.numbers import format_count

GUTTER = 44
LANE_W = 232
FS_W = 300
LINE_H = 15
PAD = 6
CHAR_W = 7.4  # a little more than DejaVu/Liberation Mono's 7.2 px at 12 px, so lines never overflow
HEAD_LINE_H = 16
HEAD_CHAR_W = 8.0  # lane names: 13 px bold sans-serif, generous
CHUNK_H = 720
MIN_SCALE = 0.72
MAX_STEPS = 500
_BREAK = re.compile(r"(?<=[/ ,(=\]\[-])")


def wrap(text: str, width: float, char_w: float = CHAR_W) -> list[str]:
    """`text` in lines of at most `width` px: broken after ``/``, spaces, ``,``, ``(``, ``=``, else hard.

    Every character of `text` is kept (a line may start or end with a space)."""
    n = max(4, int((width - 2 * PAD) / char_w))
    if len(text) <= n:
        return [text]
    lines: list[str] = []
    cur = ""
    for piece in (p for p in _BREAK.split(text) if p):
        if len(cur) + len(piece) <= n:
            cur += piece
            continue
        if cur:
            lines.append(cur)
            cur = ""
        while len(piece) > n:
            lines.append(piece[:n])
            piece = piece[n:]
        cur = piece
    if cur:
        lines.append(cur)
    return lines


def _rel(path: str, scope: str) -> str:
    """A path relative to the tree scope for box labels (the full path is in the box's tooltip)."""
    prefix = scope.rstrip("/") + "/"
    return path[len(prefix) :] if scope != "/" and path.startswith(prefix) else path


def _text_block(lines: list[tuple[str, str]], width: float, y: float) -> tuple[list[dict[str, Any]], float]:
    """(class, text) lines wrapped to `width`, from baseline `y`; returns the SVG lines and the next y."""
    out = []
    for cls, text in lines:
        for k, part in enumerate(wrap(text, width)):
            out.append({"y": y, "cls": cls, "text": part, "title": text, "cont": k > 0})
            y += LINE_H
    return out, y


def swimlane(drawn: dict[str, Any]) -> dict[str, Any]:
    """Chunks of rows (one per step), lanes and filesystem notes, with their coordinates."""
    lanes = drawn["lanes"]
    scope = drawn["tree_scope"]
    steps = drawn["steps"][:MAX_STEPS]
    snaps = {s["after_step"]: s for s in drawn["snapshots"] if s["after_step"] is not None}
    fs_x = GUTTER + LANE_W * len(lanes) + 12
    width = fs_x + FS_W + 6
    lane_heads = []
    for i, ln in enumerate(lanes):
        lane_heads.append({"x": GUTTER + LANE_W * i, "cx": GUTTER + LANE_W * i + LANE_W / 2,
                           "lines": wrap(ln["name"], LANE_W, HEAD_CHAR_W), "title": ln["name"]})
    fs_head = wrap("filesystem after the step", FS_W, HEAD_CHAR_W)
    head_lines = max([len(h["lines"]) for h in lane_heads] + [len(fs_head)])
    head_h = 12 + HEAD_LINE_H * head_lines
    top = head_h + 6

    # the initial tree (first chunk only)
    initial = next((s for s in drawn["snapshots"] if s["after_step"] is None), None)
    init_block: dict[str, Any] | None = None
    if initial:
        lines, end = _text_block(
            [("", initial["label"] + ":"), *(("", t) for t in (initial["tree"] or ["(empty)"]))], FS_W - 8, top + 14
        )
        h = end - LINE_H + 6 - top
        init_block = {"y": top, "h": h, "lines": lines, "end": top + h + 6}

    rows: list[dict[str, Any]] = []
    for s in steps:
        detail = ", " + s["detail"] if s["detail"] else ""
        full = f"{s['op']}({s['path']}{detail}) = {s['result']}"
        label = f"{s['op']}({_rel(s['path'], scope)}{detail}) = {s['result']}"
        label_lines = wrap(label, LANE_W - 12)
        box_h = 2 * PAD + LINE_H * len(label_lines) - 2
        fs_lines = (
            [("fs-add", "+ " + p) for p in s["fs"]["added"]]
            + [("fs-del", p) for p in s["fs"]["removed"]]
            + [("fs-chg", "~ " + p) for p in s["fs"]["changed"]]
        )
        snap = (
            snaps.get(s["n"]) if any(m in s["marks"] for m in ("created", "conflict", "failing", "certain")) else None
        )
        fs, fy = _text_block(fs_lines, FS_W - 8, 16)
        bottom = fy - LINE_H + 8  # below the last filesystem line
        snap_block = None
        if snap:
            sy = fy - 10
            slines, send = _text_block(
                [("", snap["label"] + ":"), *(("", t) for t in (snap["tree"] or ["(empty)"]))], FS_W - 16, sy + 14
            )
            snap_h = send - LINE_H + 6 - sy
            snap_block = {"y": sy, "h": snap_h, "lines": slines}
            bottom = sy + snap_h + 6
        h = max(box_h + 6, bottom)
        cls = "box"
        for m in ("failing", "conflict", "created", "window"):
            if m in s["marks"]:
                cls += " " + m
        rows.append(
            {
                "n": s["n"],
                "h": h,
                "x": GUTTER + LANE_W * s["lane"] + 6,
                "w": LANE_W - 12,
                "bh": box_h,
                "label": [{"dy": 13 + PAD + LINE_H * k, "text": t} for k, t in enumerate(label_lines)],
                "title": f"S{s['n']} {s['thread']}: {full}" + (f" [{', '.join(s['marks'])}]" if s["marks"] else ""),
                "cls": cls,
                "marks": s["marks"],
                "fs": fs,
                "snap": snap_block,
            }
        )

    # cut into chunks: each starts with the lane headers; rows keep their relative offsets
    chunks: list[dict[str, Any]] = []
    cur: dict[str, Any] = {"rows": [], "init": init_block}
    y = init_block["end"] if init_block else top
    for r in rows:
        if cur["rows"] and y + r["h"] > CHUNK_H:
            cur["h"] = y + 8
            chunks.append(cur)
            cur = {"rows": [], "init": None}
            y = top
        r = dict(r, y=y)
        r["fs"] = [dict(t, y=t["y"] + y) for t in r["fs"]]
        if r["snap"]:
            r["snap"] = dict(
                r["snap"], y=r["snap"]["y"] + y, lines=[dict(t, y=t["y"] + y) for t in r["snap"]["lines"]]
            )
        cur["rows"].append(r)
        y += r["h"]
    cur["h"] = y + 8
    chunks.append(cur)
    for i, c in enumerate(chunks):
        c["index"] = i
        c["first_step"] = c["rows"][0]["n"] if c["rows"] else None
        c["last_step"] = c["rows"][-1]["n"] if c["rows"] else None
    return {
        "width": width,
        "min_width": int(width * MIN_SCALE),
        "fs_x": fs_x,
        "fs_w": FS_W - 8,
        "fs_head": fs_head,
        "gutter": GUTTER,
        "lane_w": LANE_W,
        "head_h": head_h,
        "lanes": lane_heads,
        "chunks": chunks,
        "truncated": max(0, len(drawn["steps"]) - MAX_STEPS),
    }


def embedded_json(report: dict[str, Any]) -> Markup:
    text = json.dumps(report, ensure_ascii=False, sort_keys=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _code_spans(text: str) -> Markup:
    """Plain text with `backticked` spans as <code> (everything escaped)."""
    from markupsafe import escape

    parts = str(text).split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


def render(report: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sci"] = format_count
    env.filters["code_spans"] = _code_spans
    template = env.get_template("report.html.j2")
    lanes = {v["id"]: swimlane(v["counterexample"]) for v in report["variants"] if v["counterexample"] is not None}
    pinned = {
        v["id"]: swimlane(v["pinned"]["timeline"])
        for v in report["variants"]
        if v.get("pinned") and v["pinned"].get("timeline")
    }
    keepalive = report.get("keepalive")
    keepalive_html = ""
    if keepalive is not None:  # the embedded keep-alive matrix, an escaped fragment
        from markupsafe import Markup

        from raceproof.reports.keepalive import html_section

        keepalive_html = Markup(html_section(keepalive))  # every text in it is escaped
    return template.render(report=report, lanes=lanes, pinned_lanes=pinned, data=embedded_json(report),
                           keepalive_html=keepalive_html)
