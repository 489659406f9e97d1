"""raceproof: reproduce concurrency incidents deterministically and prove their fixes.

The public API: ``explore`` for your own programs, ``load_scenario``/``replay``/``verify`` for
scenario files, and the types they return. Names are imported on first use, so importing
``toolkit`` (as pytest does for the plugin) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Execution": "toolkit.execution",
    "ExploreResult": "toolkit.exploration",
    "InputError": "toolkit.errors",
    "NondeterminismError": "toolkit.errors",
    "RaceproofError": "toolkit.errors",
    "SandboxViolation": "toolkit.errors",
    "SchedFS": "toolkit.sfs",
    "ScenarioError": "toolkit.errors",
    "TokenError": "toolkit.errors",
    "UnknownNameError": "toolkit.errors",
    "Violation": "toolkit.execution",
    "explore": "toolkit.exploration",
    "load_scenario": "toolkit.scenario:load",
    "replay": "toolkit.runs",
    "verify": "toolkit.runs",
}

__all__ = [
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
    from toolkit.errors import (
        InputError,
        NondeterminismError,
        RaceproofError,
        SandboxViolation,
        ScenarioError,
        TokenError,
        UnknownNameError,
    )
    from toolkit.execution import Execution, Violation
    from toolkit.exploration import ExploreResult, explore
    from toolkit.runs import replay, verify
    from toolkit.scenario import load as load_scenario
    from toolkit.sfs import SchedFS


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
