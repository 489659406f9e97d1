"""Golden files: every format of the reduced incident's report, byte for byte.

Volatile fields (wall times, environment, raceproof version) are normalized first. Regenerate
with ``pytest tests/reports/test_golden.py --update-golden`` and review the diff: a change here is
a change of what users read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raceproof.reports import html, junit, markdown, model

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

RENDERERS = {
    "report.json": model.dumps,
    "report.md": markdown.render,
    "report.html": html.render,
    "junit.xml": junit.render,
}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_golden(name, incident_report, update_golden):
    text = RENDERERS[name](model.normalize(incident_report))
    path = GOLDEN / name
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"rewrote {path}")
    assert path.exists(), f"{path} is missing: run pytest {__file__} --update-golden"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from {path}; if the change is intended, rerun with --update-golden"


def test_golden_json_is_valid_and_renders_the_other_goldens():
    """The recorded JSON is a valid report and is the single source of the other recorded files."""
    data = json.loads((GOLDEN / "report.json").read_text(encoding="utf-8"))
    model.validate(data, "tests/golden/report.json")
    for name, render in RENDERERS.items():
        assert render(data) == (GOLDEN / name).read_text(encoding="utf-8"), name
