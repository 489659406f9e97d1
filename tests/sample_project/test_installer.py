"""The sample project's concurrency regression tests, written against raceproof's pytest plugin.

``test_buggy_installer_is_race_free`` FAILS on purpose (it is the bug): raceproof's own suite runs
this project through pytester (``tests/reports/test_sample_project.py``) and checks that the failure's
first line is the command that replays it.
"""

from __future__ import annotations

import pytest
from installer import SETUP, check_installed, install_buggy, install_fixed, installers


@pytest.mark.raceproof(expect="safe")
def test_fixed_installer_is_race_free(raceproof):
    result = raceproof.verify(installers(install_fixed), setup=SETUP, check=check_installed)
    assert result.verdict == "safe"
    assert result.equivalence_classes is not None and result.equivalence_classes > 1


def test_buggy_installer_is_race_free(raceproof):
    raceproof.verify(installers(install_buggy), setup=SETUP, check=check_installed)


@pytest.mark.raceproof(expect="unsafe")
def test_buggy_installer_race_is_still_detected(raceproof):
    result = raceproof.verify(installers(install_buggy), setup=SETUP, check=check_installed)
    assert result.token is not None and result.token.startswith("rp1.")
