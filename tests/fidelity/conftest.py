from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness


@pytest.fixture(scope="session")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = harness.tools_missing()
    if missing:
        pytest.skip(f"fidelity suite needs rustc and strace: {missing}")
    return harness.build(tmp_path_factory.mktemp("fidelity-bin"))
