"""The public surface is exactly what is intended, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import toolkit

PUBLIC = {"Execution", "ExploreResult", "InputError", "NondeterminismError", "RaceproofError", "SandboxViolation",
          "SchedFS", "ScenarioError", "TokenError", "UnknownNameError", "Violation", "__version__", "explore",
          "load_scenario", "replay", "verify"}


def test_all_is_the_intended_surface() -> None:
    assert set(toolkit.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(toolkit, name) is not None


def test_importing_toolkit_does_not_import_trio() -> None:
    code = "import sys, toolkit, toolkit.pytest_plugin; print('trio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_explore_is_the_function_whatever_was_imported_first() -> None:
    code = ("import toolkit.runs, toolkit.exploration\nfrom toolkit import explore\n"
            "print(callable(explore) and explore.__name__ == 'explore' and not hasattr(explore, '__path__'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
