"""``raceproof report --keepalive FILE``: an already computed compare matrix embedded as a section.

Goldens: the reduced incident's report with a small matrix (A and C, one mount, one stale entry)
in every format (``tests/golden/keepalive/``; regenerate with ``--update-golden``). Without the
option the report is the one of ``test_golden.py``, byte for byte.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from raceproof.cli import main
from raceproof.reports import html, junit, markdown, model
from raceproof.reports.keepalive import load_compare
from raceproof.reports.schema_io import ReportError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "keepalive"
BASE = "scenarios/keepalive.toml"
RENDERERS = {"report.json": model.dumps, "report.md": markdown.render, "report.html": html.render,
             "junit.xml": junit.render}


@pytest.fixture(scope="module")
def matrix_doc() -> dict:
    from raceproof.keepalive.compare import compare
    from raceproof.scenario import load

    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)
    try:
        return compare(load(BASE), ["A", "C"], 1, 1, False).to_json()
    finally:
        mp.undo()


@pytest.fixture
def matrix_file(matrix_doc: dict, tmp_path: Path) -> Path:
    path = tmp_path / "keepalive.json"
    path.write_text(json.dumps(matrix_doc))
    return path


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_golden_with_keepalive(name, incident_report, matrix_doc, update_golden) -> None:  # type: ignore[no-untyped-def]
    doc = model.normalize({**incident_report, "keepalive": matrix_doc})
    model.validate(doc, "report with keep-alive")
    text = RENDERERS[name](doc)
    path = GOLDEN / name
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"rewrote {path}")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from {path} (rerun with --update-golden)"


def test_the_section_holds_matrix_recommendation_pseudocode_and_preconditions(incident_report, matrix_doc) -> None:  # type: ignore[no-untyped-def]
    plain = {name: render(incident_report) for name, render in RENDERERS.items()}
    doc = {**incident_report, "keepalive": matrix_doc}
    md, page, xml = markdown.render(doc), html.render(doc), junit.render(doc)
    rec = matrix_doc["recommendation"]
    assert matrix_doc["winner"] == "A"
    for text in (md, page):
        assert "Recommendation: A" in text and "Preconditions" in text
        assert rec["preconditions"][0].split(":")[0] in text
        assert "C" in text and "refuted" in text
    assert "```rust\n" + rec["pseudocode"] + "\n```" in md
    c_p3 = next(c for row in matrix_doc["rows"] for c in row["cells"] if c["verdict"] == "refuted")
    assert c_p3["replay_command"] in md and c_p3["replay_command"] in xml
    # the rest of the report is unchanged: the section sits before the appendix
    head, _, tail = md.partition("## Keep-alive")
    assert plain["report.md"].startswith(head.rstrip("\n")) and "## Appendix" in tail
    assert 'name="raceproof.keepalive"' in xml and 'name="recommendation"' in xml and "<failure" not in xml.split(
        'name="raceproof.keepalive"')[1]


def test_no_winner_fails_the_junit_recommendation(incident_report, matrix_doc) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(matrix_doc)
    doc["winner"], doc["recommendation"] = None, None
    xml = junit.render({**incident_report, "keepalive": doc})
    assert "no keep-alive candidate is proved on every cell" in xml
    assert "No candidate is proved on every cell" in markdown.render({**incident_report, "keepalive": doc})


def _bad(doc: dict, path: Path) -> str:
    path.write_text(json.dumps(doc))
    with pytest.raises(ReportError) as info:
        load_compare(str(path))
    return str(info.value)


def test_malformed_or_foreign_matrices_are_one_line_errors(matrix_doc, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    f = tmp_path / "m.json"
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(matrix_doc))
    assert load_compare(str(ok)) == matrix_doc
    f.write_text("{nope")
    with pytest.raises(ReportError, match="not JSON"):
        load_compare(str(f))
    assert "schema" in _bad({"schema": "raceproof.verify/1"}, f)
    cells = copy.deepcopy(matrix_doc)
    cells["rows"][0]["cells"][0]["verdict"] = "maybe"
    assert "rows/0/cells/0/verdict" in _bad(cells, f)
    foreign = {**matrix_doc, "base_digest": "0123456789ab"}
    msg = _bad(foreign, f)
    assert "base_digest: computed for another scenario" in msg and "\n" not in msg
    wrong_winner = {**matrix_doc, "winner": "C"}
    assert "winner" in _bad(wrong_winner, f)
    missing = {**matrix_doc, "base": "scenarios/nope.toml"}
    assert "base: cannot load" in _bad(missing, f)


def test_report_cli_embeds_the_matrix_and_refuses_a_bad_one(matrix_file: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    scen = ["tests/reports/data/small-buggy.toml", "tests/reports/data/small-fixed.toml"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(matrix_file.read_text()), "base_digest": "0123456789ab"}))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["report", *scen, "-o", str(out), "--keepalive", str(bad)])
    assert res.exit_code == 2 and "computed for another scenario" in res.output and res.output.count("\n") == 1
    assert not out.exists()
    res = CliRunner().invoke(main, ["report", *scen, "-o", str(out), "--keepalive", str(matrix_file)])
    assert res.exit_code == 0, res.output
    assert "keep-alive: recommended A" in res.output
    data = model.load(str(out / "report.json"))
    assert data["keepalive"] == json.loads(matrix_file.read_text())
    assert "--keepalive" in data["command"]
    assert "## Keep-alive" in (out / "report.md").read_text()


def test_from_json_can_take_a_matrix_too(matrix_file: Path, tmp_path: Path, monkeypatch, incident_report) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    saved = tmp_path / "report.json"
    saved.write_text(model.dumps(incident_report))
    out = tmp_path / "again"
    res = CliRunner().invoke(main, ["report", "--from-json", str(saved), "-o", str(out),
                                    "--keepalive", str(matrix_file)])
    assert res.exit_code == 0, res.output
    assert model.load(str(out / "report.json"))["keepalive"]["winner"] == "A"
    assert "## Keep-alive" in (out / "report.md").read_text()
