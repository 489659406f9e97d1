"""raceproof's pytest plugin: scenarios, expectations, budgets, replay, fingerprints."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = ROOT / "tests" / "sample_project"

SCENARIO_TESTS = f"""
import pytest
from raceproof.mountsets import all_mount_sets, scenario_for
from raceproof.scenario import load

BUGGY = {str(ROOT / "tests/reports/data/small-buggy.toml")!r}
FIXED = {str(ROOT / "tests/reports/data/small-fixed.toml")!r}

def test_buggy_claimed_safe(raceproof):
    raceproof.verify_scenario(BUGGY, expect="safe")

def test_mount_set_claimed_safe(raceproof):
    ms = next(m for m in all_mount_sets(2) if m.nested)
    raceproof.verify_scenario(scenario_for(load(BUGGY), ms, 2), expect="safe")

@pytest.mark.raceproof(expect="unsafe")
def test_fixed_claimed_unsafe(raceproof):
    raceproof.verify_scenario(FIXED)

def test_budget(raceproof):
    # the default checks named: no reduction applies (one execution would prove it: raceproof.confluence)
    raceproof.verify_scenario(FIXED, expect="safe", max_executions=1,
                              checks=["no-worker-error", "no-deadlock", "final-tree", "confinement"])

@pytest.mark.xfail(strict=True, reason="pre-cleanup must keep failing")
def test_strict_xfail(raceproof):
    raceproof.verify_scenario(BUGGY, expect="safe")

def test_bad_expect(raceproof):
    raceproof.verify_scenario(FIXED, expect="maybe")
"""


def _lines_after_header(result: pytest.RunResult, test: str) -> list[str]:
    lines = result.outlines
    i = next(i for i, line in enumerate(lines) if line.startswith("_") and f" {test} " in line)
    return [line for line in lines[i + 1 :] if line.strip()]


def _first_line_after_header(result: pytest.RunResult, test: str) -> str:
    return _lines_after_header(result, test)[0]


def _replay_line(result: pytest.RunResult, test: str) -> str:
    """A counterexample's message: what failed first, the replay command second."""
    return _lines_after_header(result, test)[1]


@pytest.fixture
def scenario_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(test_scen=SCENARIO_TESTS)
    return pytester


def test_scenario_verdicts_and_messages(scenario_suite):
    result = scenario_suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=5, xfailed=1)
    first = _first_line_after_header(result, "test_buggy_claimed_safe")
    assert first.startswith("raceproof: unsafe (expected safe): no-worker-error in thread '.claude/skills/"), first
    second = _replay_line(result, "test_buggy_claimed_safe")
    assert second.startswith("pytest test_scen.py::test_buggy_claimed_safe --raceproof-replay=rp1."), second
    second = _replay_line(result, "test_mount_set_claimed_safe")
    assert second.startswith("pytest test_scen.py::test_mount_set_claimed_safe --raceproof-replay=rp1."), second
    assert "no longer reproduces the bug" in _first_line_after_header(result, "test_fixed_claimed_unsafe")
    budget = _first_line_after_header(result, "test_budget")
    assert budget.startswith("raceproof: inconclusive") and "1 executions" in budget
    assert "expect must be 'safe' or 'unsafe'" in _first_line_after_header(result, "test_bad_expect")
    result.stdout.fnmatch_lines(["*raceproof: replay commands*", "pytest test_scen.py::test_buggy_claimed_safe *"])


def test_a_generated_mount_set_failure_replays_through_pytest(scenario_suite):
    result = scenario_suite.runpytest("-p", "no:cacheprovider", "test_scen.py::test_mount_set_claimed_safe")
    argv = shlex.split(_replay_line(result, "test_mount_set_claimed_safe"))
    replay = scenario_suite.runpytest(*argv[1:], "-p", "no:cacheprovider")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(["*the replayed schedule fails (expected safe): no-worker-error in thread *",
                                 "pytest test_scen.py::test_mount_set_claimed_safe --raceproof-replay=*"])


def test_options_reach_the_header_and_the_strategy(scenario_suite):
    result = scenario_suite.runpytest(
        "-p",
        "no:cacheprovider",
        "--raceproof-strategy=random",
        "--raceproof-seed=5",
        "--raceproof-max-executions=7",
        "test_scen.py::test_budget",
    )
    result.stdout.fnmatch_lines(["raceproof: strategy=random seed=5 max-executions=7"])
    # the call's own max_executions=1 wins over the option; the random strategy is never a proof
    assert "strategy random" in _first_line_after_header(result, "test_budget")


def _fingerprint(expr: str) -> str:
    code = (
        f"import sys; sys.path.insert(0, {str(SAMPLE)!r})\n"
        + "from installer import *\nfrom raceproof.fingerprint import fingerprint\n"
        + f"print(fingerprint(installers({expr}), SETUP, None))"
    )
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_fingerprints_are_stable_across_processes_and_tell_programs_apart():
    buggy = _fingerprint("install_buggy")
    assert buggy == _fingerprint("install_buggy")
    assert buggy != _fingerprint("install_fixed")


def test_fingerprint_sees_closure_constants_and_setup():
    from raceproof.fingerprint import fingerprint

    def make(path: str):
        async def prog(fs):
            await fs.mkdir(path)

        return prog

    a, b = make("/a"), make("/b")
    assert fingerprint([a], None, None) != fingerprint([b], None, None)
    assert fingerprint([a], {"/x": b""}, None) != fingerprint([a], {"/y": b""}, None)
    assert fingerprint([a], None, None) == fingerprint([make("/a")], None, None)


def test_plugin_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "raceproof"]
    assert [ep.value for ep in eps] == ["raceproof.pytest_plugin"]
    assert Path(eps[0].load().__file__).name == "pytest_plugin.py"
