"""The plugin's failure headline (issue 12, item 3) and its option and marker checks (item 8).

A failure's first line says what failed (violation, thread, step and call), so pytest's ``-ra``
summary and JUnit's ``message`` carry it; the replay command is the second line. A replay token
given without a node id replays only the test it was made for."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET

import pytest

PROJECT = '''
import pytest

async def remover(fs):
    await fs.remove_dir_all("/a")

async def maker(fs):
    await fs.mkdir("/a/b")

async def reader(fs):
    await fs.exists("/c")

def test_race(raceproof):
    raceproof.verify([remover, maker], setup={"/a/": b""})

def test_other(raceproof):
    raceproof.verify([reader, reader], setup={"/c": b"x"})
'''

HEADLINE = re.compile(r"raceproof: unsafe \(expected safe\): no-worker-error in thread 'maker#1' "
                      r"at step \d+ mkdir\(/a/b\) = -1 ENOENT$")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    monkeypatch.setenv("COLUMNS", "240")  # the -ra line is trimmed to the terminal's width
    pytester.makepyfile(test_race=PROJECT)
    return pytester


def _summary_line(result: pytest.RunResult, test: str) -> str:
    return next(line for line in result.outlines if line.startswith(f"FAILED test_race.py::{test} "))


def test_ra_summary_says_what_failed_not_the_command(project):
    result = project.runpytest("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(passed=1, failed=1)
    line = _summary_line(result, "test_race")
    prefix = "FAILED test_race.py::test_race - Failed: "
    assert line.startswith(prefix), line
    assert HEADLINE.match(line[len(prefix):]), line
    assert "--raceproof-replay" not in line


def test_junit_message_is_the_headline_then_the_replay_command(project):
    xml = project.path / "junit.xml"
    project.runpytest("-p", "no:cacheprovider", f"--junitxml={xml}").assert_outcomes(passed=1, failed=1)
    case = next(c for c in ET.parse(xml).iterfind(".//testcase") if c.get("name") == "test_race")
    message = case.find("failure").get("message")
    first, second = message.splitlines()[:2]
    assert first.startswith("Failed: ") and HEADLINE.match(first[len("Failed: "):]), first
    assert second.startswith("pytest test_race.py::test_race --raceproof-replay=rp1."), second
    # each violation once: the headline's is not repeated as a "violation" line
    assert message.count("no-worker-error") == 1, message


def _replay_arg(project: pytest.Pytester) -> str:
    xml = project.path / "first.xml"
    project.runpytest("-p", "no:cacheprovider", f"--junitxml={xml}")
    case = next(c for c in ET.parse(xml).iterfind(".//testcase") if c.get("name") == "test_race")
    return shlex.split(case.find("failure").get("message").splitlines()[1])[-1]


def test_replay_without_a_node_id_applies_only_to_its_test(project):
    arg = _replay_arg(project)
    result = project.runpytest("-p", "no:cacheprovider", arg)
    # test_race replays the schedule (and fails, as it should); test_other explores as usual
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the replayed schedule fails (expected safe): no-worker-error in thread 'maker#1'*"])
    assert "matched no verify call" not in result.stdout.str()


def test_a_replay_token_no_test_used_fails_the_session(project):
    arg = _replay_arg(project)
    result = project.runpytest("-p", "no:cacheprovider", "-k", "test_other", arg)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*matched no raceproof verify call in the tests that ran*"])


def test_a_test_named_with_a_foreign_token_is_an_error(project):
    arg = _replay_arg(project)
    result = project.runpytest("-p", "no:cacheprovider", "test_race.py::test_other", arg)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*matched no verify call in this test*"])


def test_a_bad_strategy_fails_once_at_startup(project):
    result = project.runpytest("-p", "no:cacheprovider", "--raceproof-strategy=bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--raceproof-strategy*invalid choice*'bogus'*dpor*"])
    assert "test_race" not in result.stdout.str()


def test_a_marker_typo_names_the_key_and_the_known_ones(pytester):
    pytester.makepyfile(test_typo='''
import pytest

async def noop(fs):
    await fs.exists("/x")

@pytest.mark.raceproof(max_execution=1)
def test_typo(raceproof):
    raceproof.verify([noop])

@pytest.mark.raceproof(strategy="dpro")
def test_bad_strategy(raceproof):
    raceproof.verify([noop])

@pytest.mark.raceproof(driver="fast")
def test_bad_driver(raceproof):
    raceproof.verify([noop])
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.raceproof: unknown key max_execution; known keys: expect, strategy, max_executions, "
        "backend, seed, driver*",
        "*@pytest.mark.raceproof: unknown strategy 'dpro'; known: dpor, portfolio, dfs, stateful, random, pct, "
        "preemption*",
        "*@pytest.mark.raceproof: unknown driver 'fast'; known: trio, direct*",
    ])


def test_random_sampling_is_not_told_to_raise_the_budget_to_finish(pytester, monkeypatch):
    monkeypatch.setenv("CI", "1")  # the short summary untrimmed
    pytester.makepyfile(test_rand='''
async def w(fs):
    await fs.mkdir("/a")

async def r(fs):
    await fs.exists("/a")

def test_sampled(raceproof):
    raceproof.verify([w, r], strategy="random", max_executions=2)

def test_budget(raceproof):
    raceproof.verify([w, r], strategy="dpor", max_executions=1)
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    sampled = next(line for line in result.outlines if line.startswith("FAILED test_rand.py::test_sampled"))
    assert "never finishes" in sampled and "use a sound strategy" in sampled and "raise" not in sampled, sampled
    budget = next(line for line in result.outlines if line.startswith("FAILED test_rand.py::test_budget"))
    assert "raise --raceproof-max-executions" in budget, budget
    assert "::" not in out.replace("test_rand.py::", ""), "no doubled colons in the messages"


def test_the_plugin_strategy_list_matches_the_registry():
    from raceproof.pytest_plugin import STRATEGIES
    from raceproof.strategies import REGISTRY

    assert set(STRATEGIES) == set(REGISTRY) - {"replay"}


def test_the_fake_backend_works_with_pyfakefs_own_plugin_disabled(pytester):
    """pyfakefs registers its ``fs`` fixture through its own entry point (not raceproof's): the
    documented opt-out, ``-p no:fakefs``, leaves raceproof's fake backend working."""
    pytester.makepyfile(test_fake='''
import pytest

async def w(fs):
    await fs.write_file("/a/x", b"1")

@pytest.mark.raceproof(backend="fake")
def test_fake(raceproof, request):
    assert raceproof.verify([w, w], setup={"/a/": b""}).verdict == "safe"
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("fs")
''')
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:fakefs").assert_outcomes(passed=1)


def test_a_bug_on_every_interleaving_is_headlined_as_a_program_error_with_its_traceback(pytester, monkeypatch):
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(test_bug='''
async def buggy(fs):
    await fs.write_file("/d/x", b"1")
    fs.no_such_method()

async def bystander(fs):
    await fs.write_file("/d/y", b"2")

def not_async(fs):
    pass

def test_bug(raceproof):
    raceproof.verify([buggy, bystander], setup={"/d/": b""})

def test_sync(raceproof):
    raceproof.verify([bystander, not_async])
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=2)
    bug = next(line for line in result.outlines if line.startswith("FAILED test_bug.py::test_bug "))
    assert "raceproof: program error (expected safe): AttributeError:" in bug and "in thread 'buggy#0'" in bug, bug
    out = result.stdout.str()
    assert "why:" not in out, "no invented race"
    assert "traceback of buggy#0:" in out and "fs.no_such_method()" in out
    sync = next(line for line in result.outlines if line.startswith("FAILED test_bug.py::test_sync "))
    assert "is not an async function" in sync, sync
