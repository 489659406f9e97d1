"""One self-contained HTML file from the report JSON: no network, an inline hand-written SVG swimlane.

The layout (coordinates) is computed here; ``templates/report.html.j2`` draws it with autoescaping
on, so every label (thread names, paths, results) is escaped. The report JSON itself is embedded
in a ``<script type="application/json" id="raceproof-data">`` element with ``<``, ``>`` and ``&``
written as JSON unicode escapes, so no ``</script>`` can end it early.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup

GUTTER = 64
LANE_W = 264
FS_W = 340
ROW_H = 26
LINE_H = 14
HEAD_H = 44
CHAR_W = 7.0
MAX_STEPS = 500


def _fit(text: str, width: float) -> str:
    n = max(4, int((width - 14) / CHAR_W))
    return text if len(text) <= n else text[: n - 1] + "…"


def _rel(path: str, scope: str) -> str:
    """A path relative to the tree scope for box labels (the full path is in the box's tooltip)."""
    prefix = scope.rstrip("/") + "/"
    return path[len(prefix) :] if scope != "/" and path.startswith(prefix) else path


def swimlane(cex: dict[str, Any]) -> dict[str, Any]:
    """Boxes, lanes and filesystem notes with their coordinates."""
    lanes = cex["lanes"]
    scope = cex["tree_scope"]
    steps = cex["steps"][:MAX_STEPS]
    snaps = {s["after_step"]: s for s in cex["snapshots"] if s["after_step"] is not None}
    fs_x = GUTTER + LANE_W * len(lanes) + 16
    width = fs_x + FS_W + 8
    rows = []
    y = HEAD_H + 8
    initial = next((s for s in cex["snapshots"] if s["after_step"] is None), None)
    init_lines = [initial["label"] + ":", *(initial["tree"] or ["(empty)"])] if initial else []
    init_block: dict[str, Any] = {
        "y": y,
        "h": LINE_H * len(init_lines) + 8,
        "lines": [{"y": y + 14 + i * LINE_H, "text": _fit(t, FS_W), "title": t} for i, t in enumerate(init_lines)],
    }
    y += init_block["h"] + 6
    for s in steps:
        full = f"{s['op']}({s['path']}{', ' + s['detail'] if s['detail'] else ''}) = {s['result']}"
        label = f"{s['op']}({_rel(s['path'], scope)}{', ' + s['detail'] if s['detail'] else ''}) = {s['result']}"
        fs_lines = (
            [("add", "+ " + p) for p in s["fs"]["added"]]
            + [("del", p) for p in s["fs"]["removed"]]
            + [("chg", "~ " + p) for p in s["fs"]["changed"]]
        )
        snap = (
            snaps.get(s["n"]) if any(m in s["marks"] for m in ("created", "conflict", "failing", "certain")) else None
        )
        snap_lines = [snap["label"] + ":", *(snap["tree"] or ["(empty)"])] if snap else []
        h = max(ROW_H, LINE_H * (len(fs_lines) + len(snap_lines)) + (16 if snap_lines else 8))
        cls = "box"
        for m in ("failing", "conflict", "created", "window"):
            if m in s["marks"]:
                cls += " " + m
        lines = []
        ly = y + 15
        for kind, text in fs_lines:
            lines.append({"y": ly, "cls": "fs-" + kind, "text": _fit(text, FS_W), "title": text})
            ly += LINE_H
        snap_block = None
        if snap_lines:
            top = ly - 8
            snap_block = {
                "y": top,
                "h": LINE_H * len(snap_lines) + 6,
                "lines": [
                    {"y": top + 13 + i * LINE_H, "text": _fit(t, FS_W - 8), "title": t}
                    for i, t in enumerate(snap_lines)
                ],
            }
        rows.append(
            {
                "n": s["n"],
                "y": y,
                "h": h,
                "x": GUTTER + LANE_W * s["lane"] + 6,
                "w": LANE_W - 12,
                "bh": ROW_H - 6,
                "label": _fit(label, LANE_W - 12),
                "title": f"S{s['n']} {s['thread']}: {full}" + (f" [{', '.join(s['marks'])}]" if s["marks"] else ""),
                "cls": cls,
                "marks": s["marks"],
                "fs": lines,
                "snap": snap_block,
            }
        )
        y += h
    height = y + 12
    return {
        "width": width,
        "height": height,
        "fs_x": fs_x,
        "fs_w": FS_W - 8,
        "gutter": GUTTER,
        "lane_w": LANE_W,
        "head_h": HEAD_H,
        "lanes": [
            {
                "x": GUTTER + LANE_W * i,
                "cx": GUTTER + LANE_W * i + LANE_W / 2,
                "name": _fit(ln["name"], LANE_W),
                "title": ln["name"],
            }
            for i, ln in enumerate(lanes)
        ],
        "rows": rows,
        "init": init_block,
        "truncated": max(0, len(cex["steps"]) - MAX_STEPS),
    }


def embedded_json(report: dict[str, Any]) -> Markup:
    text = json.dumps(report, ensure_ascii=False, sort_keys=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def render(report: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sci"] = lambda s: f"{int(s):.3e}"
    template = env.get_template("report.html.j2")
    lanes = {v["id"]: swimlane(v["counterexample"]) for v in report["variants"] if v["counterexample"] is not None}
    return template.render(report=report, lanes=lanes, data=embedded_json(report))
