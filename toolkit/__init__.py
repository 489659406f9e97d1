"""raceproof: reproduce concurrency incidents deterministically and prove their fixes.

The public API: ``explore`` for your own programs, ``load_scenario``/``replay``/``verify`` for
scenario files, and the types they return.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from toolkit.explore import ExploreResult, explore
from toolkit.runs import replay, verify
from toolkit.scenario import load as load_scenario
from toolkit.sfs import SchedFS

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
