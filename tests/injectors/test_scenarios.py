"""Every scenario in scenarios/ meets its declared expectation under ``raceproof verify``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from raceproof.cli import main
from raceproof.scenario import load

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))
FAST = {"chaos-eio", "chaos-crash", "chaos-disk-full", "chaos-truncate-nodigest", "chaos-truncate-digest",
        "chaos-corrupt", "chaos-slow-download", "chaos-stale-symlink", "chaos-stale-file", "chaos-stale-files",
        "chaos-writer", "chaos-hostile", "chaos-hostile-huge", "chaos-case-insensitive"}


def _params() -> list[object]:
    return [pytest.param(p, id=p.stem, marks=() if p.stem in FAST else pytest.mark.slow) for p in SCENARIOS]


def test_every_injector_family_has_a_chaos_scenario() -> None:
    names = {p.stem for p in SCENARIOS}
    assert names >= FAST
    injected = {t["name"] for p in SCENARIOS if p.stem.startswith("chaos-") for t in load(p).inject}
    from raceproof.inject import REGISTRY

    assert injected == set(REGISTRY)


@pytest.mark.parametrize("path", _params())
def test_scenario_meets_its_expectation(path: Path) -> None:
    sc = load(path)
    if sc.expect_verify is None:
        pytest.skip("no verify expectation declared")
    res = CliRunner().invoke(main, ["verify", str(path), "--json"])
    assert res.exit_code == 0, f"{path.name}: expected {sc.expect_verify}: {res.output[-800:]}"


@pytest.mark.parametrize("path", [p for p in _params() if p.id.startswith("chaos-")])  # type: ignore[attr-defined]
def test_chaos_scenario_replay_expectation(path: Path) -> None:
    sc = load(path)
    res = CliRunner().invoke(main, ["replay", str(path), "--json"])
    assert res.exit_code == (0 if sc.expect_replay else res.exit_code), res.output[-800:]
