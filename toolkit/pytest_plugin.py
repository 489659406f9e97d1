"""raceproof's pytest plugin (entry point ``pytest11``): options for concurrency regression tests.

Imported lazily by pytest; it imports nothing heavy at load time.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("raceproof")
    group.addoption("--raceproof-strategy", default="dpor", help="raceproof exploration strategy (default dpor)")
    group.addoption("--raceproof-max-executions", type=int, default=None, help="raceproof execution budget")
    group.addoption("--raceproof-seed", type=int, default=0, help="seed for raceproof's random and pct strategies")


def pytest_report_header(config: Any) -> str:
    return (f"raceproof: strategy={config.getoption('--raceproof-strategy')} "
            f"seed={config.getoption('--raceproof-seed')}")
