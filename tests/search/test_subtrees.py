"""One DPOR search on several processes (``raceproof.subtrees``) is the serial search: the same
executions (each one's choices, steps and trace class), in the same order, the same aborted ones
between them, the same verdict and counts, the same first counterexample, and budget stops at the
same execution. Workers start at once here (no warm-up), so even small searches are split.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from raceproof import scenario, subtrees
from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram, run_exploration
from raceproof.loop import Loop
from raceproof.observe import Summary, trace_class
from raceproof.runs import program_for
from raceproof.strategies.dpor import Dpor
from raceproof.strategies.portfolio import Portfolio
from raceproof.subtrees import Subtrees
from raceproof.testing import ALL_OPS, GeneratedProgram, KnownProgram, lastzero, programs, readers

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

Seen = tuple[tuple[int, ...], int, int, int]  # choices, steps, trace class, aborted ones so far


def executions(runner: Runner, make: Callable[[], Any], jobs: int, budget: int | None = None,
               stop_on_failure: bool = False) -> tuple[list[Seen], Loop, Subtrees | None]:
    """The executions the loop shows, in order, with the search split over `jobs` processes."""
    strategy = make()
    loop = Loop(runner, strategy, budget=budget)
    split = Subtrees.attach(runner, strategy, jobs, classes=True, outcomes=False, stop=stop_on_failure, warmup=0)
    seen: list[Seen] = []

    def visit(ex: Execution) -> bool:
        seen.append((tuple(ex.choices), len(ex.trace), trace_class(ex), loop.blocked))
        return stop_on_failure and ex.failed

    def visit_summary(s: Summary) -> bool:
        assert s.klass is not None
        seen.append((s.choices, s.steps, s.klass, loop.blocked))
        return stop_on_failure and s.failing is not None

    async def driver(r: Any) -> None:
        await loop.run(visit, visit_summary)

    try:
        runner.run(driver)
    finally:
        if split is not None:
            split.close()
    return seen, loop, split


def same_search(runner: Runner, make: Callable[[], Any], jobs: int = 2, **kw: Any) -> Subtrees:
    serial, one, _ = executions(runner, make, 1, **kw)
    split_seen, many, split = executions(runner, make, jobs, **kw)
    assert split is not None
    assert split_seen == serial
    assert (many.executions, many.blocked, many.exhausted, many.budget_hit, many.stopped) == \
           (one.executions, one.blocked, one.exhausted, one.budget_hit, one.stopped)
    return split


@pytest.fixture
def steady(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which subtrees go to the workers, and whether the master asks for one unfinished, depends on
    timing (the result never does). For tests that count what the workers did: a subtree occupies
    its worker until the master takes it, and the master waits for whole subtrees."""
    monkeypatch.setattr(Subtrees, "_busy", lambda self: len(self.sent))
    monkeypatch.setattr(Subtrees, "_catch_up", lambda self, sent: None)


def runner_of(program: GeneratedProgram | KnownProgram) -> Runner:
    functions = program.functions() if isinstance(program, GeneratedProgram) else program.programs
    return Runner(FunctionProgram(functions, program.setup), driver="direct")


@SETTINGS
@given(programs(ops=ALL_OPS, max_total_ops=6))
def test_split_dpor_runs_the_serial_executions_on_generated_programs(program: GeneratedProgram) -> None:
    """Every operation (structural races: a branch's footprint known only once it runs, sleep sets
    predicted from footprints that may differ), 2 and 3 processes."""
    with runner_of(program) as runner:
        for jobs in (2, 3):
            same_search(runner, Dpor, jobs)


@SETTINGS
@given(programs(ops=ALL_OPS, max_total_ops=6))
def test_subtrees_handed_over_unfinished_on_generated_programs(program: GeneratedProgram) -> None:
    """The same, with every worker handing its subtree over after two executions."""
    with pytest.MonkeyPatch.context() as monkeypatch, runner_of(program) as runner:
        handing_over_after(monkeypatch, 2)
        same_search(runner, Dpor, 2)


@pytest.mark.parametrize("program", [lastzero(5), readers(7)], ids=lambda p: p.name)
def test_split_dpor_takes_subtrees_from_the_workers(program: KnownProgram, steady: None) -> None:
    """Not a search run by the master alone: subtrees were explored by the workers and taken."""
    with runner_of(program) as runner:
        split = same_search(runner, Dpor)
    assert split.committed > 0, (split.spawned, split.dropped)


@pytest.fixture(scope="module")
def fixed_runner() -> Any:
    with Runner(program_for(scenario.load("scenarios/guest-download-fixed.toml")), "memory", "direct") as r:
        yield r


def test_the_incident_proof_split_is_the_serial_proof(fixed_runner: Runner, steady: None) -> None:
    """The fixed incident's plain DPOR proof (264 executions): subtrees are taken from the workers
    (how many, and how many are sent again or handed over, depends on timing: the result does not)."""
    split = same_search(fixed_runner, Dpor)
    assert split.committed > 0, split.split()


def handing_over_after(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Every worker hands its subtree over after `k` executions, as if the master had caught up
    with it then: the master goes on from the worker's stack (deterministic, unlike the real
    request, which depends on timing)."""
    original = subtrees._Subtree.next_execution

    def after_k(self: Any) -> Any:
        self.k = getattr(self, "k", 0) + 1
        if self.k > k:
            self.handed = True
            return None
        return original(self)

    monkeypatch.setattr(subtrees._Subtree, "next_execution", after_k)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("program", [lastzero(5), readers(7)], ids=lambda p: p.name)
def test_a_subtree_handed_over_unfinished_is_finished_by_the_master(program: KnownProgram, k: int, steady: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    handing_over_after(monkeypatch, k)
    with runner_of(program) as runner:
        split = same_search(runner, Dpor)
    assert split.handed > 0, split.split()


def test_the_incident_proof_with_every_subtree_handed_over(fixed_runner: Runner, steady: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    handing_over_after(monkeypatch, 2)
    split = same_search(fixed_runner, Dpor)
    assert split.handed > 0, split.split()


def test_a_subtree_whose_branch_grew_unnoticed_would_miss_traces(monkeypatch: pytest.MonkeyPatch,
                                                                   steady: None) -> None:
    """What keeps the split search serial: a branch that grew after it was sent is sent again,
    and a commit checks the branch and the sleep set. Without them, readers(7)'s split search
    misses traces (a worker explored a branch before the serial search had grown it)."""
    program = readers(7)
    with runner_of(program) as runner:
        serial, _, _ = executions(runner, Dpor, 1)
        monkeypatch.setattr(Subtrees, "grown", lambda self, br: None)
        monkeypatch.setattr(subtrees, "branch_key", lambda br: [br.tid])
        monkeypatch.setattr(Subtrees, "_sleep_matches", staticmethod(lambda node, sent: True))
        wrong, _, split = executions(runner, Dpor, 2)
    assert split is not None and split.committed > 0
    assert len({klass for _, _, klass, _ in serial}) == program.traces
    assert len({klass for _, _, klass, _ in wrong}) < program.traces


def test_the_commit_checks_alone_keep_the_search_serial(steady: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the resending, the commit's branch check drops what grew: still the serial search."""
    monkeypatch.setattr(Subtrees, "grown", lambda self, br: None)
    for program in (readers(7), lastzero(5)):
        with runner_of(program) as runner:
            split = same_search(runner, Dpor)
        assert split.dropped > 0, (program.name, split.split())


def test_a_branch_that_grew_after_it_was_sent_is_sent_again(steady: None) -> None:
    with runner_of(readers(7)) as runner:
        split = same_search(runner, Dpor)
    assert split.resent > 0 and split.committed > 0, split.split()


@pytest.mark.parametrize("budget", [1, 7, 263, 1000])
def test_a_budget_stops_the_split_search_where_it_stops_the_serial_one(fixed_runner: Runner, budget: int) -> None:
    same_search(fixed_runner, Dpor, budget=budget)


def test_the_first_counterexample_is_the_serial_one() -> None:
    """The buggy incident, stopping at the first failure: the same executions up to it, the same
    failing execution."""
    sc = scenario.load("scenarios/guest-download-2026-04-10.toml")
    with Runner(program_for(sc), "memory", "direct") as runner:
        serial = run_exploration(runner, Dpor(), shrink=False, certain=False)
        split = run_exploration(runner, Dpor(), shrink=False, certain=False, jobs=2)
        same_search(runner, Dpor, budget=400, stop_on_failure=True)
    assert split.counterexample is not None and serial.counterexample is not None
    assert split.counterexample.execution.choices == serial.counterexample.execution.choices
    assert split.counterexample.token == serial.counterexample.token
    assert (split.verdict, split.executions, split.blocked, split.steps, split.naive_interleavings, split.classes) == \
           (serial.verdict, serial.executions, serial.blocked, serial.steps, serial.naive_interleavings,
            serial.classes)


def test_a_portfolio_takes_subtrees_only_once_its_probes_are_done(fixed_runner: Runner, steady: None) -> None:
    """The portfolio's probes take turns with DPOR's executions: a subtree taken whole before the
    probes are spent would change that order, so it is dropped; afterwards they are taken."""
    split = same_search(fixed_runner, Portfolio)
    assert split.committed > 0


def test_run_exploration_results_are_the_serial_ones(fixed_runner: Runner) -> None:
    """Through ``run_exploration``: verdict, counts, classes and the outcome set."""
    def result(jobs: int) -> tuple[Any, ...]:
        r = run_exploration(fixed_runner, Dpor(), stop_on_failure=False, collect_outcomes=True, jobs=jobs)
        return r.verdict, r.executions, r.blocked, r.steps, r.naive_interleavings, r.classes, r.outcomes

    assert result(2) == result(1)


def test_what_cannot_be_split_runs_alone(fixed_runner: Runner) -> None:
    """One job, another strategy, pinned fault decisions, or another backend: no workers."""
    from raceproof.strategies.dfs import Dfs

    assert Subtrees.attach(fixed_runner, Dpor(), 1, classes=True, outcomes=False, stop=True) is None
    assert Subtrees.attach(fixed_runner, Dfs(), 2, classes=True, outcomes=False, stop=True) is None
    assert Subtrees.attach(fixed_runner, Dpor(values=[(0, "x", 1)]), 2, classes=True, outcomes=False,
                           stop=True) is None
    with Runner(program_for(scenario.load("scenarios/guest-download-fixed.toml")), "fake", "direct") as fake:
        assert Subtrees.attach(fake, Dpor(), 2, classes=True, outcomes=False, stop=True) is None
    assert Subtrees.attach(fixed_runner, Dpor(), 2, classes=True, outcomes=False, stop=True) is not None


def test_the_command_splits_a_long_search_and_prints_the_serial_result() -> None:
    """``raceproof verify --jobs 2`` on a search past the warm-up (the buggy incident, plain DPOR,
    919 executions): the JSON document is the serial one but for the time and the split, which
    says what the worker did, and it validates against the schema; the text has a split line."""
    from raceproof.reports import cli_schemas

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "raceproof", "verify", "scenarios/guest-download-2026-04-10.toml",
                               "--strategy", "dpor", "--no-symmetry", *extra],
                              capture_output=True, text=True, timeout=300)

    one, two = (cli("--json", "--jobs", str(n)) for n in (1, 2))
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr  # unsafe, as the scenario expects
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    cli_schemas.validate(b, "verify --jobs 2 --json")
    assert a["split"] is None and b["split"] is not None and b["split"]["workers"] == 1
    for doc in (a, b):
        del doc["wall_time_s"], doc["split"]
    assert a == b
    text = cli("--jobs", "2")
    assert text.returncode == 0
    assert any(line.startswith("split ") and "run by 1 worker process" in line for line in text.stdout.splitlines())


def test_the_trio_driver_splits_too(steady: None) -> None:
    """With the Trio driver the workers are forked from inside the master's ``trio.run``: each
    explores its subtree in a fresh thread (Trio's run state is per thread) and the search is the
    serial one."""
    sc = scenario.load("scenarios/guest-download-fixed.toml")
    with Runner(program_for(sc), "memory", "trio") as runner:
        split = same_search(runner, Dpor)
    assert split.committed > 0, split.split()


def in_subtree_1(monkeypatch: pytest.MonkeyPatch, act: Callable[[int], object]) -> None:
    """`act(k)` before the k-th execution the worker exploring subtree 1 starts; the master waits
    for whole subtrees (as for a slow worker: no handover)."""
    original = subtrees._Subtree.next_execution

    def acting(self: Any) -> Any:
        self.k = getattr(self, "k", 0) + 1
        if self.task == 1:
            act(self.k)
        return original(self)

    monkeypatch.setattr(subtrees._Subtree, "next_execution", acting)
    monkeypatch.setattr(Subtrees, "_catch_up", lambda self, sent: None)


def test_a_worker_that_dies_leaves_the_search_to_the_master(fixed_runner: Runner,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed mid-subtree (the OOM killer, a crash in native code): its task never ends.
    The master notices that the pool replaced a worker, drops the subtree and explores the rest
    alone: the serial search, no hang."""
    import os

    in_subtree_1(monkeypatch, lambda k: os._exit(9) if k == 3 else None)
    split = same_search(fixed_runner, Dpor)
    assert split.lost and split.split().worker_lost  # type: ignore[union-attr]


def test_a_worker_that_hangs_leaves_the_search_to_the_master(fixed_runner: Runner,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that stops starting executions (deadlocked on a lock the fork copied, stopped by a
    debugger) is alive, so the pool never replaces it: the master, waiting for its subtree, sees
    no heartbeat for ``HUNG_S`` seconds, stops the pool and explores the rest alone."""
    import time

    in_subtree_1(monkeypatch, lambda k: time.sleep(3600) if k == 3 else None)
    monkeypatch.setattr(subtrees, "HUNG_S", 1.0)
    split = same_search(fixed_runner, Dpor)
    assert split.lost and split.split().worker_lost  # type: ignore[union-attr]
    assert split.committed == 0 or split.spawned > 1  # the hung subtree (task 1) was not taken


def test_a_slow_worker_is_waited_for(fixed_runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The liveness check counts executions, not time: a worker whose executions each take longer
    than the master's poll but that keeps starting them is not lost."""
    import time

    # 1.5 s in all, each execution within HUNG_S of the last
    in_subtree_1(monkeypatch, lambda k: time.sleep(0.3) if k <= 5 else None)
    monkeypatch.setattr(subtrees, "HUNG_S", 0.5)
    monkeypatch.setattr(subtrees, "LOST_CHECK_S", 0.1)
    split = same_search(fixed_runner, Dpor)
    assert not split.lost
    assert split.committed >= 1, split.split()


def test_explore_takes_jobs_and_gives_the_serial_result() -> None:
    """The public API: ``explore(..., jobs=2)`` on a search past the warm-up (readers(10): 1,024
    traces) has the serial verdict, counts, classes and outcome set, and says it split."""
    from raceproof import explore

    program = readers(10)
    one = explore(program.programs, setup=program.setup, driver="direct")
    two = explore(program.programs, setup=program.setup, driver="direct", jobs=2)
    assert one.split is None and two.split is not None and two.split.workers == 1
    assert (two.verdict, two.executions, two.blocked, two.classes, two.steps, two.outcomes) == \
           (one.verdict, one.executions, one.blocked, one.classes, one.steps, one.outcomes)
    assert one.classes == program.traces


def test_a_counterexample_a_worker_found_goes_through_the_pipeline(steady: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The first failing execution comes from a worker (whole, in its summary): it is shrunk,
    explained and confirmed by replay like one the master ran, and its token is the serial one."""
    from raceproof import observe
    from raceproof.execution import Violation

    from_workers: list[tuple[int, ...]] = []
    add = observe.Tally.add

    def noting(self: observe.Tally, s: Summary) -> None:
        if s.failing is not None:
            from_workers.append(s.choices)
        add(self, s)

    monkeypatch.setattr(observe.Tally, "add", noting)
    monkeypatch.setattr(subtrees, "WARMUP", 0)
    program = readers(7)

    def late(ex: Execution) -> list[Violation]:
        """Fails when the last three readers read before the write and the first after it: a
        subtree late in DPOR's order."""
        before = all(r.value == b"0" for r in ex.results[5:]) and ex.results[1].value == b"1"
        return [Violation("late-readers", "the last readers ran before the write")] if before else []

    with Runner(FunctionProgram(program.programs, program.setup, check=late), driver="direct") as runner:
        serial = run_exploration(runner, Dpor(), certain=False, shrink=True, explain=True)
        split = run_exploration(runner, Dpor(), certain=False, shrink=True, explain=True, jobs=2)
    assert from_workers, split.split
    assert serial.counterexample is not None and split.counterexample is not None
    assert split.counterexample.token == serial.counterexample.token
    assert (split.verdict, split.executions, split.failing) == (serial.verdict, serial.executions, serial.failing)
