"""The portfolio strategy: seeded PCT probes first, then the complete DPOR search it rests on."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from raceproof import explore
from raceproof.runs import verify
from raceproof.scenario import load
from raceproof.testing import ALL_OPS, GeneratedProgram, lastzero, programs

BUGGY = "scenarios/guest-download-2026-04-10.toml"
FIXED = "scenarios/guest-download-fixed.toml"


def test_probes_find_the_incident_at_once_and_the_same_seed_gives_the_same_counterexample() -> None:
    sc = load(BUGGY)
    runs = [verify(sc, "portfolio", seed=seed, certain=False) for seed in (0, 0, 5)]
    for r in runs:
        assert r.verdict == "unsafe" and r.counterexample is not None
        assert r.probes == r.executions <= 3  # found by a probe, DPOR never started
        assert r.counterexample.explanation["certain_searched"] is False
    assert runs[0].token == runs[1].token
    dpor = verify(sc, "dpor", certain=False)
    assert dpor.executions > 100 and dpor.probes == 0  # what the probes save
    # with no probes the strategy is plain DPOR: the same search, the same counterexample
    bare = verify(sc, "portfolio", probes=0, certain=False)
    assert (bare.executions, bare.token, bare.probes) == (dpor.executions, dpor.token, 0)


def test_a_safe_verdict_rests_on_the_whole_dpor_search_and_counts_probes_apart() -> None:
    sc = load(FIXED)
    port = verify(sc, "portfolio", confluence=False)
    dpor = verify(sc, "dpor", confluence=False)
    assert port.verdict == dpor.verdict == "safe" and port.complete
    assert port.probes == 32 and port.executions == port.probes + dpor.executions
    assert port.classes == dpor.classes == dpor.executions


def test_probes_only_add_executions_to_the_dpor_search() -> None:
    """A known program: the probes add their own executions, the DPOR phase is unchanged."""
    known = lastzero(3)
    for probes in (0, 2):
        r = explore(known.programs, setup=known.setup, strategy="portfolio", probes=probes)
        d = explore(known.programs, setup=known.setup, strategy="dpor")
        assert r.verdict == d.verdict and r.outcomes == d.outcomes
        assert r.executions == d.executions + probes and r.probes == probes


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(ops=ALL_OPS, max_total_ops=5))
def test_portfolio_has_dpor_outcomes_and_classes(program: GeneratedProgram) -> None:
    """The probes add executions, never a class DPOR lacks, and the verdict is DPOR's."""
    fns = program.functions()
    p = explore(fns, setup=program.setup, strategy="portfolio", probes=4, seed=1)
    d = explore(fns, setup=program.setup, strategy="dpor")
    assert p.verdict == d.verdict and p.outcomes == d.outcomes and p.classes == d.classes
    assert p.executions == d.executions + 4


def test_a_small_proof_does_not_wait_for_every_probe() -> None:
    """After the first probes, DPOR and the probes take turns: a proof shorter than the probe budget
    ends with its DPOR search (same verdict, classes and outcomes as plain DPOR)."""
    known = lastzero(2)
    d = explore(known.programs, setup=known.setup, strategy="dpor")
    r = explore(known.programs, setup=known.setup, strategy="portfolio", probes=32, upfront=4)
    assert d.executions < 28  # short enough that the turns end before the probes do
    assert r.verdict == d.verdict and r.outcomes == d.outcomes and r.classes == d.classes
    assert r.executions == d.executions + r.probes
    assert 4 + d.executions - 1 <= r.probes <= 4 + d.executions  # one probe per DPOR turn, no more
