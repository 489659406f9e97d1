"""The sample project (tests/sample_project: its own installer, not raceproof's model) run through
raceproof's pytest plugin: the buggy version fails with what failed on the first line and the replay
command on the second, the fixed one passes, and that command replays the failure."""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_project"
BUGGY_TEST = "test_installer.py::test_buggy_installer_is_race_free"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("CI", "1")  # pytest then prints the short summary untruncated
    for name in ("installer.py", "test_installer.py"):
        (pytester.path / name).write_text((SAMPLE / name).read_text(encoding="utf-8"), encoding="utf-8")
    pytester.syspathinsert()
    return pytester


def _failure_lines(result: pytest.RunResult, test: str) -> list[str]:
    lines = result.outlines
    header = next(i for i, line in enumerate(lines) if line.startswith("_") and f" {test} " in line)
    return [line for line in lines[header + 1 :] if line.strip()]


def _first_failure_line(result: pytest.RunResult, test: str) -> str:
    """The replay command: the second line of the failure (the first says what failed)."""
    return _failure_lines(result, test)[1]


def test_buggy_fails_with_what_failed_then_the_replay_command_and_fixed_passes(project):
    result = project.runpytest("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=2, failed=1)
    headline = _failure_lines(result, "test_buggy_installer_is_race_free")[0]
    assert headline.startswith("raceproof: unsafe (expected safe): no-worker-error in thread 'install_plugins#1' "
                               "at step "), headline
    first = _first_failure_line(result, "test_buggy_installer_is_race_free")
    assert first.startswith(f"pytest {BUGGY_TEST} --raceproof-replay=rp1."), first
    result.stdout.fnmatch_lines(
        [
            "raceproof: strategy=dpor seed=0 max-executions=default",
            f"FAILED {BUGGY_TEST} - Failed: raceproof: unsafe (expected safe): no-worker-error in thread *",
        ]
    )
    assert not (project.path / ".raceproof").exists(), "a short token is inline: no file is written"


def test_the_replay_command_reproduces_the_failure(project):
    first = _first_failure_line(project.runpytest("-p", "no:cacheprovider"), "test_buggy_installer_is_race_free")
    argv = shlex.split(first)
    assert argv[0] == "pytest"
    replay = project.runpytest(*argv[1:], "-p", "no:cacheprovider", "-s")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(
        [
            "*raceproof: the replayed schedule fails (expected safe): no-worker-error in thread 'install_plugins#1'*",
            f"pytest {BUGGY_TEST} --raceproof-replay=*",
        ]
    )
    assert "replay=on" in replay.stdout.str()
    # the same token against the fixed installer matches no verify call there: a clear error
    other = project.runpytest(
        "test_installer.py::test_fixed_installer_is_race_free", argv[-1], "-p", "no:cacheprovider"
    )
    other.assert_outcomes(passed=1, errors=1)
    other.stdout.fnmatch_lines(["*matched no verify call in this test*"])


def test_junit_properties_carry_verdict_and_counts(project):
    xml = project.path / "junit.xml"
    project.runpytest("-p", "no:cacheprovider", f"--junitxml={xml}").assert_outcomes(passed=2, failed=1)
    cases = {
        c.get("name"): {p.get("name"): p.get("value") for p in c.iterfind("properties/property")}
        for c in ET.parse(xml).iterfind(".//testcase")
    }
    fixed = cases["test_fixed_installer_is_race_free"]
    assert fixed["raceproof.verdict"] == "safe" and fixed["raceproof.expected"] == "safe"
    assert int(fixed["raceproof.executions"]) == int(fixed["raceproof.equivalence_classes"]) > 1
    buggy = cases["test_buggy_installer_is_race_free"]
    assert buggy["raceproof.verdict"] == "unsafe" and buggy["raceproof.token"].startswith("rp1.")
    assert buggy["raceproof.replay"].startswith("pytest ")
    assert cases["test_buggy_installer_race_is_still_detected"]["raceproof.expected"] == "unsafe"


def test_long_tokens_go_to_a_file(project, monkeypatch):
    import raceproof.pytest_plugin as plugin

    monkeypatch.setattr(plugin, "INLINE_TOKEN_MAX", 10)
    result = project.runpytest("-p", "no:cacheprovider", BUGGY_TEST)
    first = _first_failure_line(result, "test_buggy_installer_is_race_free")
    assert first.startswith(f"pytest {BUGGY_TEST} --raceproof-replay=@.raceproof/failures/"), first
    token_files = list((project.path / ".raceproof" / "failures").glob("*.token"))
    assert len(token_files) == 1 and token_files[0].read_text().startswith("rp1.")
    replay = project.runpytest(*shlex.split(first)[1:], "-p", "no:cacheprovider")
    replay.assert_outcomes(failed=1)
    replay.stdout.fnmatch_lines(["*the replayed schedule fails*"])
