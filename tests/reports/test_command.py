"""``raceproof report``: the four files, exit codes, one-line errors for bad input."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from raceproof.cli import main
from raceproof.reports import model

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["tests/reports/data/small-buggy.toml", "tests/reports/data/small-fixed.toml"]
INCIDENT = ["scenarios/guest-download-2026-04-10.toml", "scenarios/guest-download-fixed.toml"]


def _run(args, monkeypatch):
    monkeypatch.chdir(ROOT)
    return CliRunner().invoke(main, args)


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raceproof: error: "), result.stderr
    for n in needles:
        assert n in lines[0]


def test_report_writes_all_four_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    result = _run(["report", *SCENARIOS, "-o", str(out)], monkeypatch)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.json", "report.md"]
    data = json.loads((out / "report.json").read_text())
    model.validate(data)
    assert data["command"].startswith("raceproof report tests/reports/data/small-buggy.toml")
    assert "```mermaid" in (out / "report.md").read_text()
    assert '<svg class="swimlane"' in (out / "report.html").read_text()
    outcomes = [
        p.get("value")
        for p in ET.parse(out / "junit.xml").iterfind(".//testcase/properties/property")
        if p.get("name") == "raceproof.outcome"
    ]
    assert outcomes == ["refuted", "proved"]
    assert f"wrote {out / 'report.md'}" in result.output


def test_format_selection_and_from_json(tmp_path, monkeypatch):
    first = tmp_path / "a"
    assert _run(["report", *SCENARIOS, "-o", str(first), "--format", "json"], monkeypatch).exit_code == 0
    assert [p.name for p in first.iterdir()] == ["report.json"]
    second = tmp_path / "b"
    result = _run(
        ["report", "--from-json", str(first / "report.json"), "-o", str(second), "--format", "md,junit"], monkeypatch
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in second.iterdir()) == ["junit.xml", "report.md"]


def test_exit_code_1_when_an_expectation_is_not_met(tmp_path, monkeypatch):
    bad = tmp_path / "fixed-expected-unsafe.toml"
    bad.write_text((ROOT / SCENARIOS[1]).read_text().replace('verify = "safe"', 'verify = "unsafe"'))
    result = _run(["report", str(bad), "-o", str(tmp_path / "out"), "--format", "json"], monkeypatch)
    assert result.exit_code == 1
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["summary"]["badge"] == "EXPECTATION NOT MET"


def test_exit_code_3_when_the_budget_stops_the_search(tmp_path, monkeypatch):
    result = _run(
        ["report", SCENARIOS[1], "-o", str(tmp_path / "out"), "--max-executions", "1", "--format", "json"], monkeypatch
    )
    assert result.exit_code == 3
    v = json.loads((tmp_path / "out" / "report.json").read_text())["variants"][0]
    assert v["verdict"] == "inconclusive" and v["exploration"]["stop_reason"] == "budget"


def test_unknown_format_is_a_one_line_error(tmp_path, monkeypatch):
    result = _run(["report", *SCENARIOS, "-o", str(tmp_path / "o"), "--format", "md,pdf"], monkeypatch)
    _one_line_error(result, "unknown format 'pdf'", "md")
    assert not (tmp_path / "o").exists(), "nothing is written on bad input"


def test_unwritable_output_is_a_one_line_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error(_run(["report", *SCENARIOS, "-o", str(blocker)], monkeypatch), "not a directory")
    _one_line_error(_run(["report", *SCENARIOS, "-o", str(blocker / "sub")], monkeypatch), "not writable")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({"schema_version": 2, "kind": "raceproof-report"}, "schema_version 2 is not supported"),
        ({"schema_version": 0}, "schema_version 0 is not supported"),
        ({"verdict": "safe", "executions": 3}, "not a raceproof report"),
    ],
)
def test_from_json_of_another_schema_version_is_a_one_line_error(tmp_path, monkeypatch, content, needle):
    src = tmp_path / "old.json"
    src.write_text(json.dumps(content))
    _one_line_error(_run(["report", "--from-json", str(src), "-o", str(tmp_path / "o")], monkeypatch), needle)


def test_other_bad_input(tmp_path, monkeypatch):
    _one_line_error(_run(["report", "-o", str(tmp_path)], monkeypatch), "at least one scenario")
    _one_line_error(_run(["report", "nope.toml", "-o", str(tmp_path)], monkeypatch), "nope.toml")
    _one_line_error(
        _run(["report", *SCENARIOS, "-o", str(tmp_path), "--strategy", "dpro"], monkeypatch),
        "unknown strategy 'dpro'",
        "Did you mean 'dpor'?",
    )


@pytest.mark.slow
def test_the_readme_command_on_the_incident(tmp_path, monkeypatch):
    """The issue's main command: buggy refuted, fixed proved, four files, a Mermaid block per thread."""
    out = tmp_path / "out"
    result = _run(["report", *INCIDENT, "-o", str(out)], monkeypatch)
    assert result.exit_code == 0, result.output
    data = model.load(str(out / "report.json"))
    assert [v["outcome"] for v in data["variants"]] == ["refuted", "proved"]
    md = (out / "report.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", md, re.S).group(1)
    assert len(re.findall(r"^\s*participant T\d+ as ", block, re.M)) == 4


def test_report_in_two_processes_is_the_report_of_one(tmp_path, monkeypatch):
    """``--jobs 2`` verifies the scenarios in two processes: the same document (up to wall times and
    the command line), the same files."""
    from raceproof.reports.schema_io import normalize

    docs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        result = _run(["report", *SCENARIOS, "-o", str(out), "--jobs", jobs], monkeypatch)
        assert result.exit_code == 0, result.output
        doc = normalize(json.loads((out / "report.json").read_text()))
        doc.pop("command")
        docs.append(doc)
    assert docs[0] == docs[1]
    assert docs[0]["variants"][0]["exploration"]["executions"] > 0
