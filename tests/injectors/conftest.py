"""Helpers for the injector tests: small scenarios built in memory, run through raceproof.runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from raceproof.scenario import parse

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # chaos_algos is referenced as 'chaos_algos:function'
    sys.path.insert(0, str(HERE))

BACKENDS = ["memory", "fake"]


def scenario(*, inject: list[dict[str, Any]] | None = None, mounts: list[dict[str, Any]] | None = None,
             **top: Any) -> Any:
    raw: dict[str, Any] = {
        "name": "t", "algorithm": "fixed", "workers": 4, "seed": 3,
        "initial": {"dirs": ["/home/user"]},
        "mounts": mounts or [{"path": "/home/user/.claude", "files": 2},
                             {"path": "/home/user/.claude/skills/pdf", "files": 1}],
        "inject": inject or [],
    }
    raw.update(top)
    algo = str(raw.get("algorithm", ""))
    return parse(raw, "<test>", allow_import=["chaos_algos"] if ":" in algo else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
