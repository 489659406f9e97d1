"""The fixture's ``jobs`` (``--raceproof-jobs``, the marker, the call): a long DPOR search shared
with worker processes (``raceproof.subtrees``) gives the serial result, and says it split."""

from __future__ import annotations

import pytest

PROJECT = '''
import pytest
from raceproof.testing import readers

P = readers(10)  # 1,024 traces: past the 500 executions before the workers start


def test_split(raceproof):
    split = raceproof.verify(P.programs, setup=P.setup)
    serial = raceproof.verify(P.programs, setup=P.setup, jobs=1)
    assert serial.split is None
    assert split.split is not None and split.split.workers == 1, split.split
    assert (split.verdict, split.executions, split.classes, split.steps) == \\
           (serial.verdict, serial.executions, serial.classes, serial.steps)
    assert split.classes == P.traces


@pytest.mark.raceproof(jobs=1)
def test_marker_wins_over_the_option(raceproof):
    assert raceproof.verify(P.programs, setup=P.setup).split is None


@pytest.mark.raceproof(jobs=0)
def test_bad_marker(raceproof):
    raceproof.verify(P.programs, setup=P.setup)
'''


def test_jobs_from_the_command_line_the_marker_and_the_call(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_jobs=PROJECT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-ra", "--raceproof-jobs", "2")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["raceproof: strategy=dpor * jobs=2*",
                                 "raceproof: @pytest.mark.raceproof: jobs must be an integer of at least 1 (got 0)"])


def test_jobs_below_one_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_jobs="def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--raceproof-jobs", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--raceproof-jobs must be at least 1 (got 0)*"])
