"""The report shows the scenario's pinned schedule: the incident as it happened."""

from __future__ import annotations

from pathlib import Path

from raceproof.reports import markdown
from raceproof.reports.model import _pinned, validate
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[2]


def test_pinned_replay_is_the_postmortems_canonicalize_enoent() -> None:
    sc = load(str(ROOT / "scenarios" / "guest-download-2026-04-10.toml"))
    pinned = _pinned(sc)
    assert pinned is not None and pinned["verdict"] == "fail"
    first = pinned["failing_steps"][0]
    assert (first["op"], first["errno"]) == ("realpath", "ENOENT")
    assert first["thread"].startswith(".claude/skills/")
    assert pinned["replay_command"].endswith(sc.token or "")


def test_scenarios_without_a_token_have_no_pinned_section() -> None:
    assert _pinned(load(str(ROOT / "scenarios" / "guest-download-fixed.toml"))) is None


def test_markdown_renders_the_pinned_section() -> None:
    import json

    report = json.loads((ROOT / "tests" / "golden" / "report.json").read_text())
    validate(report)
    sc = load(str(ROOT / "scenarios" / "guest-download-2026-04-10.toml"))
    report["variants"][0]["pinned"] = _pinned(sc)
    text = markdown.render(report)
    assert "The incident as it happened (the scenario's pinned schedule)" in text
    assert "realpath(/home/user/.claude/skills/" in text and "-1 ENOENT" in text
