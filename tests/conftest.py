"""Shared test configuration: --run-slow enables the full proofs (CI passes it)."""

from __future__ import annotations

import pytest

# pytester (used by tests/reports to run sample projects through raceproof's plugin) must be
# enabled here: pytest refuses `pytest_plugins` in a conftest below the top level.
pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the golden files under tests/golden instead of comparing against them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
