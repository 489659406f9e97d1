"""Fixtures for the report tests: one report of the reduced incident (buggy + fixed), built once."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
#: the incident reduced to a parent and a child mount and two workers: fast, and small golden files
SCENARIOS = ["tests/reports/data/small-buggy.toml", "tests/reports/data/small-fixed.toml"]
INCIDENT = ["scenarios/guest-download-2026-04-10.toml", "scenarios/guest-download-fixed.toml"]
COMMAND = "raceproof report " + " ".join(SCENARIOS) + " -o out"


@pytest.fixture(scope="session")
def incident_report_raw() -> dict:
    """The report of the two incident scenarios, loaded by relative path (as the README command does)."""
    from raceproof.reports.model import build_report
    from raceproof.scenario import load

    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)
    try:
        return build_report([load(s) for s in SCENARIOS], command=COMMAND)
    finally:
        mp.undo()


@pytest.fixture
def incident_report(incident_report_raw: dict) -> dict:
    return copy.deepcopy(incident_report_raw)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def full_incident_report_raw() -> dict:
    """The report of the real incident scenarios (4 workers, 4 mounts): what `raceproof report` writes."""
    from raceproof.reports.model import build_report
    from raceproof.scenario import load

    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)
    try:
        return build_report([load(s) for s in INCIDENT], command="raceproof report " + " ".join(INCIDENT) + " -o out")
    finally:
        mp.undo()


@pytest.fixture
def full_incident_report(full_incident_report_raw: dict) -> dict:
    return copy.deepcopy(full_incident_report_raw)
