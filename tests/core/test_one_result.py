"""One loop, one result: classes are counted, and the report explores nothing of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from raceproof import explore
from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram
from raceproof.loop import Loop
from raceproof.observe import ConflictCoverage, site_of, trace_class
from raceproof.result import Result
from raceproof.steps import dependent
from raceproof.strategies.dfs import Dfs
from raceproof.testing import (
    GeneratedProgram,
    KnownProgram,
    count_traces,
    lastzero,
    programs,
    readers,
    trace_key,
    writers_reader,
)

ROOT = Path(__file__).resolve().parents[2]
KNOWN = [readers(2), writers_reader(2), lastzero(2), lastzero(3)]


def _same_partition(programs: list[Any], setup: Any, budget: int = 5000) -> int:
    """Enumerate every interleaving; the loop's class key (per-resource histories), its 64-bit
    hash and the oracle's pairwise ``trace_key`` must group them the same way. Returns the number
    of classes."""
    seen: list[Execution] = []

    async def driver(r: Runner) -> None:
        await Loop(r, Dfs(), budget=budget, check=False).run(seen.append)

    with Runner(FunctionProgram(programs, setup)) as runner:
        runner.run(driver)
    fast: dict[object, object] = {}
    slow: dict[object, object] = {}
    digest: dict[object, object] = {}
    for ex in seen:
        a, b, c = trace_class(ex), trace_key(ex), hash(trace_class(ex))
        assert fast.setdefault(a, b) == b and slow.setdefault(b, a) == a
        assert digest.setdefault(b, c) == c  # one hash per trace
    assert len(set(digest.values())) == len(digest)  # and distinct traces, distinct hashes
    for ex in seen[:50]:
        assert _coverage(ex) == _pairwise_coverage(ex)
    return len(fast)


def _coverage(ex: Execution) -> dict[tuple[str, str], set[str]]:
    cov = ConflictCoverage()
    cov.visit(ex)
    return cov.pairs


def _pairwise_coverage(ex: Execution) -> dict[tuple[str, str], set[str]]:
    """Conflict-pair coverage by ``dependent`` on every pair of steps (quadratic: the reference)."""
    seen: dict[tuple[int, str, str], int] = {}
    text = []
    for ev in ex.trace:
        k = (ev.thread, ev.op, ev.path)
        seen[k] = seen.get(k, 0) + 1
        text.append(site_of(ex.names, ev.thread, ev.op, ev.path, seen[k]))
    out: dict[tuple[str, str], set[str]] = {}
    for j, b in enumerate(ex.trace):
        for i, a in enumerate(ex.trace[:j]):
            if a.thread != b.thread and dependent(a.footprint, b.footprint):
                key = tuple(sorted((text[i], text[j])))
                out.setdefault(key, set()).add("ab" if key[0] == text[i] else "ba")
    return out


@pytest.mark.parametrize("known", KNOWN, ids=lambda k: k.name)
def test_trace_class_partitions_like_the_oracle(known: KnownProgram) -> None:
    assert _same_partition(known.programs, known.setup) == known.traces


@settings(max_examples=40, deadline=None)
@given(programs())
def test_trace_class_partitions_like_the_oracle_on_generated_programs(program: GeneratedProgram) -> None:
    _same_partition(program.functions(), program.setup, budget=2000)


@pytest.mark.parametrize("known", KNOWN, ids=lambda k: k.name)
@pytest.mark.parametrize("strategy", ["dpor", "dfs"])
def test_equivalence_classes_are_counted_not_copied(known: KnownProgram, strategy: str) -> None:
    """``classes`` is the number of distinct traces among the executions: plain dfs runs many
    executions per trace, and both strategies cover exactly the oracle's traces."""
    r = explore(known.programs, setup=known.setup, strategy=strategy)
    assert r.complete and r.classes == r.equivalence_classes == known.traces
    assert r.classes == count_traces(known.programs, setup=known.setup).classes
    assert r.executions >= r.classes


def test_dfs_runs_several_executions_of_one_class() -> None:
    """readers(2): 6 interleavings (writer before, between or after the two readers, in either
    reader order), 4 traces; the count says 4, not 6."""
    known = readers(2)
    r = explore(known.programs, setup=known.setup, strategy="dfs")
    assert (r.executions, r.classes) == (6, 4)


def test_a_sampling_strategy_claims_no_classes() -> None:
    known = readers(2)
    r = explore(known.programs, setup=known.setup, strategy="random", max_executions=20)
    assert r.classes is None and r.equivalence_classes is None


def test_the_result_is_frozen() -> None:
    known = readers(1)
    r = explore(known.programs, setup=known.setup)
    assert isinstance(r, Result) and r.result is r
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.verdict = "unsafe"  # type: ignore[misc]


def test_the_report_explores_only_inside_its_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every exploration loop of ``build_report`` runs inside one of its ``verify`` calls (one per
    scenario): coverage, snapshots and non-vacuity come from the results."""
    from raceproof.reports import gather, model
    from raceproof.scenario import load

    inside = {"depth": 0, "verifies": 0, "outside": 0}
    plain_verify, plain_run = gather.verify, Loop.run

    def verify(*args: object, **kwargs: object) -> Result:
        inside["depth"] += 1
        inside["verifies"] += 1
        try:
            return plain_verify(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            inside["depth"] -= 1

    async def run(self: Loop, visit: object, summaries: object = None) -> None:
        if not inside["depth"]:
            inside["outside"] += 1
        await plain_run(self, visit, summaries)  # type: ignore[arg-type]

    monkeypatch.setattr(gather, "verify", verify)
    monkeypatch.setattr(Loop, "run", run)
    monkeypatch.chdir(ROOT)
    scenarios = [load(s) for s in ("tests/reports/data/small-buggy.toml", "tests/reports/data/small-fixed.toml")]
    report = model.build_report(scenarios)
    assert inside == {"depth": 0, "verifies": 2, "outside": 0}
    assert report["variants"][1]["coverage"]["executions"] == report["variants"][1]["exploration"]["executions"]
