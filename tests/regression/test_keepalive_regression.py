"""The keep-alive scenarios held by the regression suite (the `raceproof` plugin fixture, issue 11).

Each ``scenarios/keepalive-*.toml`` pins a candidate's verdict on the incident's mounts over every
previous-session tree of up to ``stale_states`` entries: ``safe`` means every stale state is proved,
``unsafe`` that at least one is refuted. The recommended candidate (A) must stay safe everywhere,
also with real mount points (``keepalive-A-mounted.toml``), where B fails (``keepalive-B-mounted.toml``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof.keepalive import stale
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("keepalive-*.toml"))


def _cases() -> list[object]:
    out = []
    for path in SCENARIOS:
        sc = load(path)
        for state in stale.states(sc, sc.stale_states):
            out.append(pytest.param(path, state, id=f"{path.stem}-{state}"))
    return out


def test_every_candidate_has_a_scenario() -> None:
    from raceproof.keepalive import CANDIDATES

    assert {p.stem.removeprefix("keepalive-").removesuffix("-mounted") for p in SCENARIOS} == set(CANDIDATES)
    assert load(ROOT / "scenarios" / "keepalive-A.toml").expect_verify == "safe"


@pytest.mark.parametrize(("path", "state"), [c for c in _cases() if load(c.values[0]).expect_verify == "safe"])  # type: ignore[attr-defined]
def test_recommended_candidates_are_proved_on_every_stale_state(raceproof, path: Path, state: str) -> None:  # type: ignore[no-untyped-def]
    raceproof.verify_scenario(stale.apply(load(path), state), expect="safe")


@pytest.mark.parametrize("path", [p for p in SCENARIOS if load(p).expect_verify == "unsafe"], ids=lambda p: p.stem)
def test_refuted_candidates_fail_on_some_stale_state(path: Path) -> None:
    from raceproof.runs import verify

    sc = load(path)
    verdicts = {state: verify(stale.apply(sc, state), shrink=False).result.verdict
                for state in stale.states(sc, sc.stale_states)}
    assert "unsafe" in verdicts.values(), verdicts
