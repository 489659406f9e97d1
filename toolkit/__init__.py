"""raceproof: reproduce concurrency incidents deterministically and prove their fixes.

The public API: ``explore`` for your own programs, ``load_scenario``/``replay``/``verify`` for
scenario files, and the types they return. Names are imported on first use, so importing
``raceproof`` (as pytest does for the plugin) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Check": "raceproof.checks",
    "CheckContext": "raceproof.checks",
    "Execution": "raceproof.execution",
    "ExploreResult": "raceproof.exploration",
    "InputError": "raceproof.errors",
    "NondeterminismError": "raceproof.errors",
    "RaceproofError": "raceproof.errors",
    "SandboxViolation": "raceproof.errors",
    "SchedFS": "raceproof.sfs",
    "ScenarioError": "raceproof.errors",
    "TokenError": "raceproof.errors",
    "UnknownNameError": "raceproof.errors",
    "Violation": "raceproof.execution",
    "explore": "raceproof.exploration",
    "load_scenario": "raceproof.scenario:load",
    "replay": "raceproof.runs",
    "verify": "raceproof.runs",
}

__all__ = [
    "Check",
    "CheckContext",
    "Execution",
    "ExploreResult",
    "InputError",
    "NondeterminismError",
    "RaceproofError",
    "SandboxViolation",
    "ScenarioError",
    "SchedFS",
    "TokenError",
    "UnknownNameError",
    "Violation",
    "__version__",
    "explore",
    "load_scenario",
    "replay",
    "verify",
]

if TYPE_CHECKING:
    from raceproof.checks import Check, CheckContext
    from raceproof.errors import (
        InputError,
        NondeterminismError,
        RaceproofError,
        SandboxViolation,
        ScenarioError,
        TokenError,
        UnknownNameError,
    )
    from raceproof.execution import Execution, Violation
    from raceproof.exploration import ExploreResult, explore
    from raceproof.runs import replay, verify
    from raceproof.scenario import load as load_scenario
    from raceproof.sfs import SchedFS


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'raceproof' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
