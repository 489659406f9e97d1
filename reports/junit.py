"""JUnit XML from the report JSON (standard library ``xml.etree``).

One ``<testcase>`` per variant. A testcase passes when the verdict meets the scenario's
expectation: the buggy variant is expected to be *refuted* (a counterexample is the pass), the fixed
one to be *proved*. Properties carry the verdict, the outcome and the counts; ``<system-out>``
carries the replay command.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def _props(parent: ET.Element, items: list[tuple[str, Any]]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        ET.SubElement(props, "property", name=name, value="" if value is None else str(value))


def _what_failed(cex: dict[str, Any]) -> str:
    """The first violation and the step it happened at, in one line."""
    viol = cex["violations"][0] if cex["violations"] else None
    text = f"{viol['check']}: {viol['message']}" if viol else "a check failed"
    n = cex.get("failing_step")
    if n is not None and 0 <= n < len(cex["steps"]):
        st = cex["steps"][n]
        text += f" at step {n} ({st['thread']}: {st['op']}({st['path']}) = {st['result']})"
    return " ".join(text.split())


def _on_buggy(runs: list[dict[str, Any]]) -> str:
    """How the variant did on the schedules that break its buggy sibling, e.g. ``pass 2/2``."""
    passed = sum(1 for r in runs if r["verdict"] == "pass")
    return f"{'pass' if passed == len(runs) else 'fail'} {passed}/{len(runs)}: " + ", ".join(
        f"{r['source']} {r['verdict']}" for r in runs
    )


def render(report: dict[str, Any]) -> str:
    variants = report["variants"]
    failures = sum(
        1 for v in variants if v["expectation_met"] is False or (v["expected"] is None and v["verdict"] != "safe")
    )
    total_time = sum(v["exploration"]["wall_time_s"] for v in variants)
    suites = ET.Element(
        "testsuites",
        name="raceproof",
        tests=str(len(variants)),
        failures=str(failures),
        errors="0",
        time=f"{total_time:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="raceproof.report",
        tests=str(len(variants)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total_time:.3f}",
    )
    _props(
        suite,
        [
            ("raceproof.schema_version", report["schema_version"]),
            ("raceproof.strategy", report["settings"]["strategy"]),
            ("raceproof.max_executions", report["settings"]["max_executions"]),
            ("raceproof.seed", report["settings"]["seed"]),
            ("raceproof.badge", report["summary"]["badge"]),
        ],
    )
    for v in variants:
        ex = v["exploration"]
        expect = v["expected"] or "safe"
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"raceproof.{v['scenario']['algorithm']}",
            name=f"{v['id']} [expect {expect}]",
            file=v["scenario"]["file"],
            time=f"{ex['wall_time_s']:.3f}",
        )
        cex = v["counterexample"]
        _props(
            case,
            [
                ("raceproof.verdict", v["verdict"]),
                ("raceproof.outcome", v["outcome"]),
                ("raceproof.expected", v["expected"]),
                ("raceproof.executions", ex["executions"]),
                ("raceproof.equivalence_classes", ex["equivalence_classes"]),
                ("raceproof.naive_interleavings", ex["naive_interleavings"]),
                ("raceproof.complete", str(ex["complete"]).lower()),
                ("raceproof.stop_reason", ex["stop_reason"]),
                ("raceproof.conflict_pairs", v["coverage"]["pairs_total"]),
                ("raceproof.conflict_pairs_both_orders", v["coverage"]["pairs_both_orders"]),
                ("raceproof.token", cex["token"] if cex else None),
                *(
                    [("raceproof.on_buggy_schedules", _on_buggy(v["on_buggy_schedules"]))]
                    if v.get("on_buggy_schedules")
                    else []
                ),
            ],
        )
        ok = v["verdict"] == expect
        if not ok:
            if cex is not None:
                # what failed first (CI widgets show only this attribute), the replay command second
                msg = f"{v['verdict']} (expected {expect}): {_what_failed(cex)}; replay: {cex['replay_command']}"
                body = cex["mechanism"]
            else:
                msg = (
                    f"{v['verdict']} (expected {expect}) after {ex['executions']} executions, "
                    f"stopped: {ex['stop_reason']}"
                )
                body = (
                    "No counterexample was found, so the harness no longer reproduces the bug."
                    if expect == "unsafe"
                    else "The search did not complete."
                )
            fail = ET.SubElement(case, "failure", message=msg, type=f"raceproof.{v['verdict']}")
            fail.text = body
        out = [
            f"{v['outcome']}: {ex['executions']} executions, "
            f"{ex['equivalence_classes'] if ex['equivalence_classes'] is not None else 'no'} equivalence classes"
        ]
        if cex is not None:
            out.append(f"replay: {cex['replay_command']}")
            out.append(f"mechanism: {cex['mechanism']}")
        if v["non_vacuity"]:
            out.append(f"non-vacuity: {v['non_vacuity']['text']}")
        for run in v.get("on_buggy_schedules") or []:
            out.append(f"on {run['label']}: {run['text']}; replay: {run['replay_command']}")
        ET.SubElement(case, "system-out").text = "\n".join(out)
    keepalive = report.get("keepalive")
    if keepalive is not None:  # the embedded keep-alive matrix (raceproof report --keepalive)
        from raceproof.reports.keepalive import junit_suite

        tests, fails = junit_suite(suites, keepalive)
        suites.set("tests", str(len(variants) + tests))
        suites.set("failures", str(failures + fails))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
