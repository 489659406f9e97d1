"""Shared test configuration: --run-slow enables the full proofs (CI passes it)."""

from __future__ import annotations

import pytest
from hypothesis import settings

# pytester (used by tests/reports to run sample projects through raceproof's plugin) must be
# enabled here: pytest refuses `pytest_plugins` in a conftest below the top level.
pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the golden files under tests/golden instead of comparing against them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --run-slow (the default run, kept under 10 minutes on 2 cores): tests marked slow are
    skipped, and a Hypothesis proof marked ``quick(n)`` runs its first n examples (derandomized:
    the same ones every time; the full run starts with them too)."""
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
        quick = item.get_closest_marker("quick")
        if quick is not None:
            test = getattr(item, "obj", None)
            current = getattr(test, "_hypothesis_internal_use_settings", None)
            if current is None:
                raise pytest.UsageError(f"{item.nodeid}: quick(n) is for Hypothesis tests (@given)")
            # read by Hypothesis when the test runs (its own settings object, kept per test)
            test._hypothesis_internal_use_settings = settings(current, max_examples=quick.args[0])  # type: ignore[union-attr]
