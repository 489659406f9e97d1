"""The pytest plugin's ``raceproof`` fixture takes a user's own ``Check`` (issue 14): it fails a
known-bad program and passes a good one, for user programs and for a scenario."""

from __future__ import annotations

import pytest

PROJECT = '''
from raceproof import Violation

SCENARIO = """name = "two mounts"
algorithm = "{algo}"
workers = 2
[[mounts]]
path = "/home/user/.claude"
files = 1
[[mounts]]
path = "/home/user/.claude/skills/pdf"
files = 1
"""


class NonEmptyRoots:
    name = "non-empty-roots"

    def judge(self, execution, context):
        return [Violation(check=self.name, path=root, message=f"{root} holds no file")
                for root in context.roots
                if not any(p.startswith(root + "/") and d.startswith("file:") for p, d in execution.tree.items())]


class KeepsX:
    name = "keeps-x"

    def judge(self, execution, context):
        return [] if "/d/x" in execution.tree else [Violation(check=self.name, path="/d/x", message="/d/x is gone")]


async def writer(fs):
    await fs.write_file("/d/x", b"new")


async def remover(fs):
    if await fs.exists("/d/x"):
        await fs.unlink("/d/x")


def _scenario(tmp_path, algo):
    path = tmp_path / f"{algo}.toml"
    path.write_text(SCENARIO.format(algo=algo))
    return path


def test_programs_bad(raceproof):
    raceproof.verify([writer, remover], setup={"/d/": b""}, checks=[KeepsX()])


def test_programs_good(raceproof):
    raceproof.verify([writer, writer], setup={"/d/": b""}, checks=[KeepsX()])


def test_scenario_bad(raceproof, tmp_path):
    raceproof.verify_scenario(_scenario(tmp_path, "pre-cleanup"), checks=[NonEmptyRoots()], expect="safe")


def test_scenario_good(raceproof, tmp_path):
    raceproof.verify_scenario(_scenario(tmp_path, "fixed"), checks=[NonEmptyRoots()], expect="safe")


def test_unknown_check(raceproof, tmp_path):
    raceproof.verify_scenario(_scenario(tmp_path, "fixed"), checks=["non-empty-root"])
'''


def test_a_user_check_through_the_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    pytester.makepyfile(test_user_checks=PROJECT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(passed=2, failed=3)
    summary = {line.split(" - ")[0].split("::")[1]: line for line in result.outlines if line.startswith("FAILED ")}
    assert set(summary) == {"test_programs_bad", "test_scenario_bad", "test_unknown_check"}
    assert "raceproof: unsafe (expected safe): keeps-x" in summary["test_programs_bad"]
    assert "raceproof: unsafe (expected safe): non-empty-roots" in summary["test_scenario_bad"]
    assert "checks[0]: unknown check 'non-empty-root'" in summary["test_unknown_check"]
