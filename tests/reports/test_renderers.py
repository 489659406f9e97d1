"""Markdown (Mermaid), HTML (SVG swimlane) and JUnit renderers: structure and escaping."""

from __future__ import annotations

import html as htmllib
import json
import re
import xml.etree.ElementTree as ET

import pytest

from raceproof.reports import html, junit, markdown

HOSTILE = 'evil;#x end <script>alert(1)</script> | *b* & "q"'


def _mermaid_block(md: str) -> str:
    m = re.search(r"```mermaid\n(.*?)\n```", md, re.S)
    assert m, "no mermaid block"
    return m.group(1)


def _hostile(report: dict) -> dict:
    cex = report["variants"][0]["counterexample"]
    for lane in cex["lanes"]:
        lane["name"] = f"{HOSTILE} {lane['id']}"
    for st in cex["steps"]:
        st["thread"] = cex["lanes"][st["lane"]]["name"]
        st["path"] = "/home/user/" + HOSTILE
        st["fs"]["removed"] = ["/home/user/" + HOSTILE] if "conflict" in st["marks"] else st["fs"]["removed"]
    cex["mechanism"] = HOSTILE
    report["variants"][0]["id"] = HOSTILE
    return report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a;b", "a#59;b"),
        ("a#b", "a#35;b"),
        ("end", "#101;nd"),
        ("the END of", "the #69;ND of"),
        ("x<y>z", "x#60;y#62;z"),
        ("legend endless", "legend endless"),
        ("a\nb", "a b"),
        ("", "#32;"),
    ],
)
def test_mermaid_escaping(text, expected):
    assert markdown.mermaid_text(text) == expected


def test_markdown_has_one_mermaid_participant_per_virtual_thread(incident_report):
    md = markdown.render(incident_report)
    block = _mermaid_block(md)
    lanes = incident_report["variants"][0]["counterexample"]["lanes"]
    participants = re.findall(r"^\s*participant (\S+) as ", block, re.M)
    assert participants == [f"T{lane['id']}" for lane in lanes] + ["FS"]
    assert block.startswith("sequenceDiagram")
    assert "-xFS:" in block, "the failing call is drawn with a cross"
    assert block.count("rect rgba(") == block.count("\n    end") == 1


def test_markdown_contains_every_section(incident_report):
    md = markdown.render(incident_report)
    for heading in (
        "## Summary",
        "## Impact",
        "## Evidence",
        "#### Proof size",
        "#### Counterexample",
        "#### Non-vacuity",
        "#### Conflict-pair coverage",
        "## Action items",
        "## Limitations",
    ):
        assert heading in md
    cex = incident_report["variants"][0]["counterexample"]
    assert f"```sh\n{cex['replay_command']}\n```" in md
    assert "TODO (human)" in md


def test_markdown_escapes_hostile_labels(incident_report):
    md = markdown.render(_hostile(incident_report))
    block = _mermaid_block(md)
    for line in block.splitlines()[1:]:
        label = line.split(":", 1)[1] if ":" in line else ""
        assert ";" not in label.replace("#59;", "").replace("#35;", "").replace("#60;", "").replace("#62;", "").replace(
            "#38;", ""
        ).replace("#34;", "").replace("#101;", "").replace("#32;", "")
        assert not re.search(r"\bend\b", label, re.I) and "<" not in label
    body = md.replace(block, "")
    assert "<script>" not in body
    assert "&lt;script&gt;" in body


def test_html_is_self_contained_and_escapes_everything(incident_report):
    page = html.render(_hostile(incident_report))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # no network: no external scripts, stylesheets, images or links
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    # the embedded JSON parses back to the report
    m = re.search(r'<script type="application/json" id="raceproof-data">(.*?)</script>', page, re.S)
    assert m and "</" not in m.group(1)
    assert json.loads(m.group(1)) == incident_report


def test_html_swimlane_has_a_lane_per_thread_and_highlights(incident_report):
    page = html.render(incident_report)
    cex = incident_report["variants"][0]["counterexample"]
    svgs = re.findall(r'<svg class="swimlane".*?</svg>', page, re.S)
    assert svgs and all('viewBox="0 0 ' in s for s in svgs)
    for chunk in svgs:  # every chunk repeats the lane headers
        heads = re.findall(r'<text class="lane-head"[^>]*><title>(.*?)</title>', chunk)
        assert [htmllib.unescape(h) for h in heads] == [lane["name"] for lane in cex["lanes"]]
    svg = "".join(svgs)
    assert len(re.findall(r'<g id="step-1-\d+" class="step"', svg)) == len(cex["steps"])
    assert re.search(rf'data-step="{cex["failing_step"]}" data-marks="[^"]*failing', svg)
    assert re.search(rf'data-step="{cex["conflict_step"]}" data-marks="[^"]*conflict', svg)
    assert 'class="box window failing"' in svg or 'class="box failing window"' in svg
    assert "after S" in svg, "the tree is shown at the steps that matter"
    assert 'class="fs-del"' in svg, "the deleted directory is shown struck through"


def test_junit_marks_buggy_refuted_and_fixed_proved(incident_report):
    root = ET.fromstring(junit.render(incident_report))
    cases = root.findall(".//testcase")
    assert len(cases) == 2
    props = [{p.get("name"): p.get("value") for p in c.findall("properties/property")} for c in cases]
    assert props[0]["raceproof.outcome"] == "refuted" and props[1]["raceproof.outcome"] == "proved"
    assert props[1]["raceproof.equivalence_classes"] == str(incident_report["variants"][1]["exploration"]["executions"])
    assert all(c.find("failure") is None for c in cases), "both expectations are met: both pass"
    assert root.get("failures") == "0" and root.get("tests") == "2"
    assert "replay: raceproof replay" in cases[0].find("system-out").text


def test_junit_fails_a_variant_whose_expectation_is_not_met(incident_report):
    v = incident_report["variants"][0]
    v["expected"], v["expectation_met"] = "safe", False
    root = ET.fromstring(junit.render(incident_report))
    failure = root.find(".//testcase/failure")
    assert failure is not None and v["counterexample"]["replay_command"] in failure.get("message")
    assert root.get("failures") == "1"
    # what failed comes first (CI widgets show the message's start), the replay command second
    msg = failure.get("message")
    cex = v["counterexample"]
    failing = cex["steps"][cex["failing_step"]]
    assert msg.index(cex["violations"][0]["check"]) < msg.index(failing["result"]) < msg.index("replay:")


def test_junit_reports_the_fix_on_the_buggy_schedules(incident_report):
    root = ET.fromstring(junit.render(incident_report))
    fixed = root.findall(".//testcase")[1]
    props = {p.get("name"): p.get("value") for p in fixed.findall("properties/property")}
    runs = incident_report["variants"][1]["on_buggy_schedules"]
    assert runs and props["raceproof.on_buggy_schedules"].startswith(f"pass {len(runs)}/{len(runs)}")
    runs[0]["verdict"] = "fail"
    fixed = ET.fromstring(junit.render(incident_report)).findall(".//testcase")[1]
    props = {p.get("name"): p.get("value") for p in fixed.findall("properties/property")}
    assert props["raceproof.on_buggy_schedules"].startswith(f"fail {len(runs) - 1}/{len(runs)}")


def test_html_wraps_long_labels_instead_of_cutting_them():
    text = "realpath(/home/user/.claude/skills/some-very-long-skill-name/deeper/still) = /home/user/.claude/x"
    lines = html.wrap(text, html.LANE_W - 12)
    assert len(lines) > 1 and "".join(lines) == text
    assert all(len(line) * html.CHAR_W <= html.LANE_W - 12 for line in lines)
    assert html.wrap("short = ok", html.LANE_W) == ["short = ok"]
    # a piece longer than a line is split, nothing is dropped
    assert "".join(html.wrap("x" * 100, 80)) == "x" * 100


def test_html_swimlane_is_cut_into_chunks_that_fit_a_page(incident_report):
    cex = incident_report["variants"][0]["counterexample"]
    cex["steps"] = cex["steps"] * 4
    for i, s in enumerate(cex["steps"]):
        s["n"] = i
    L = html.swimlane(cex)
    assert len(L["chunks"]) > 1
    assert sum(len(c["rows"]) for c in L["chunks"]) == len(cex["steps"])
    assert all(c["h"] <= html.CHUNK_H + 8 for c in L["chunks"] if len(c["rows"]) > 1)
