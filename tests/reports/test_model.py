"""The report JSON: verdicts, evidence, schema validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raceproof.reports import model

ROOT = Path(__file__).resolve().parents[2]


def test_the_report_validates_against_its_schema(incident_report):
    model.validate(incident_report)
    assert incident_report["schema_version"] == model.SCHEMA_VERSION == 1


def test_buggy_is_refuted_and_fixed_is_proved(incident_report):
    buggy, fixed = incident_report["variants"]
    assert (buggy["verdict"], buggy["outcome"], buggy["expectation_met"]) == ("unsafe", "refuted", True)
    assert (fixed["verdict"], fixed["outcome"], fixed["expectation_met"]) == ("safe", "proved", True)
    assert incident_report["summary"]["badge"] == "FIX VERIFIED"
    assert fixed["exploration"]["complete"] and fixed["exploration"]["equivalence_classes"] >= 1
    assert buggy["exploration"]["equivalence_classes"] is None  # the search stopped at the counterexample
    assert int(fixed["exploration"]["naive_interleavings"]) > fixed["exploration"]["executions"]


def test_the_counterexample_carries_timeline_mechanism_and_replay(incident_report):
    cex = incident_report["variants"][0]["counterexample"]
    assert cex["replay_command"].startswith("raceproof replay tests/reports/data/small-buggy.toml --token rp1.")
    assert cex["token"] in cex["replay_command"]
    assert len(cex["lanes"]) == 2
    failing = cex["steps"][cex["failing_step"]]
    conflict = cex["steps"][cex["conflict_step"]]
    assert "failing" in failing["marks"] and failing["errno"] == "ENOENT"
    assert "conflict" in conflict["marks"] and conflict["lane"] != failing["lane"]
    # Since issue 9 (Rust 1.95's iterative create_dir_all) the first counterexample is the child's
    # top-down mkdir failing with ENOENT; the conflict named is the latest dependent step, which
    # may re-create (not delete) an ancestor.
    touched = conflict["fs"]["removed"] or conflict["fs"]["added"]
    assert touched, "the conflicting step changes what the failing step needs"
    # the mechanism names the conflicting step, the failing step and the path it changed
    for s in (f"S{conflict['n']}", f"S{failing['n']}", touched[0]):
        assert s in cex["mechanism"]
    assert cex["shrunk"]["threads_before_failure"] == 2
    labels = [s["label"] for s in cex["snapshots"]]
    assert labels[0] == "initial tree" and labels[-1] == "final tree"
    assert any("failing step" in label for label in labels)


def test_the_replay_command_reproduces_the_counterexample(incident_report, monkeypatch):
    from click.testing import CliRunner

    from raceproof.cli import main

    monkeypatch.chdir(ROOT)
    cex = incident_report["variants"][0]["counterexample"]
    args = cex["replay_command"].split()[1:]
    result = CliRunner().invoke(main, [*args, "--json"])
    out = json.loads(result.output)
    assert out["verdict"] == "fail"
    assert [t["op"] for t in out["trace"]] == [s["op"] for s in cex["steps"]]


def test_coverage_and_non_vacuity(incident_report):
    buggy, fixed = incident_report["variants"]
    cov = fixed["coverage"]
    assert cov["executions"] == fixed["exploration"]["executions"]
    assert cov["pairs_total"] == len(cov["pairs"]) > 0
    assert cov["pairs_both_orders"] == sum(p["both_orders"] for p in cov["pairs"]) > 0
    assert all(p["a_first"] or p["b_first"] for p in cov["pairs"])
    assert cov["final_states"] == 1, "the fixed variant ends in one tree whatever the interleaving"
    assert buggy["coverage"]["final_states"] >= 1
    assert "explored executions" in cov["method"]
    nv = fixed["non_vacuity"]
    assert nv["status"] == "refuted-by-sibling" and nv["variant"] == buggy["id"]
    assert buggy["non_vacuity"] is None


def test_non_vacuity_runs_the_counterpart_when_the_fixed_variant_is_alone(monkeypatch):
    from raceproof.scenario import load

    monkeypatch.chdir(ROOT)
    report = model.build_report([load("tests/reports/data/small-fixed.toml")])
    nv = report["variants"][0]["non_vacuity"]
    assert nv["status"] == "refuted-by-counterpart" and nv["algorithm"] == "pre-cleanup"
    assert nv["executions_to_counterexample"] >= 1
    model.validate(report)


def test_limitations_and_placeholders_are_present(incident_report):
    lim = incident_report["limitations"]
    text = " ".join(lim["modelled"] + lim["simplified"] + lim["not_modelled"])
    for word in ("realpath", "readdir", "fsync", "root"):
        assert word in text
    ph = incident_report["placeholders"]
    assert ph["impact"].startswith("TODO")
    assert ph["action_items"] and all(a["item"].startswith("TODO") for a in ph["action_items"])


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema_version",), 2, "schema_version 2 is not supported"),
        (("variants", 0, "verdict"), "maybe", "invalid report at variants/0/verdict"),
        (("variants", 1, "exploration", "naive_interleavings"), 12, "invalid report at variants/1/exploration"),
        (("placeholders", "impact"), "It was fine.", "invalid report at placeholders/impact"),
    ],
)
def test_invalid_reports_are_rejected_in_one_line(incident_report, path, value, message):
    node = incident_report
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(model.ReportError) as info:
        model.validate(incident_report, "r.json")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_not_a_report_is_rejected(tmp_path):
    p = tmp_path / "verify.json"
    p.write_text(json.dumps({"verdict": "safe"}))
    with pytest.raises(model.ReportError, match="not a raceproof report"):
        model.load(str(p))
    p.write_text("{not json")
    with pytest.raises(model.ReportError, match="not JSON"):
        model.load(str(p))


def test_normalize_fixes_only_volatile_fields(incident_report):
    norm = model.normalize(incident_report)
    assert all(v["exploration"]["wall_time_s"] == 0.0 for v in norm["variants"])
    assert norm["environment"]["python"] == "X"
    assert norm["variants"][0]["counterexample"] == incident_report["variants"][0]["counterexample"]
    model.validate(norm)
