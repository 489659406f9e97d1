"""The candidate matrix: every candidate against every property, over mount sets x stale states.

A *run* is one candidate on one mount set, one worker count, one stale state, with or without the
crash-and-rerun injector. Each run is explored exhaustively by optimal DPOR (with ``--crash``: one
DPOR per crash placement) *without* stopping at the first failure, and keeps the first failing
execution of each property. A matrix *cell* (candidate, property) is proved when every run
exhausted its search with no violation of that property, and refuted by the first run that
violated it: its counterexample is shrunk (when the shrunk run still violates that property),
confirmed by replay, and comes with the one ``raceproof replay`` command that reproduces it.

Worker counts above the number of mounts give the same program (one thread per job), so each mount
set is run with ``1..min(4, mounts)`` workers. A candidate whose five cells are all refuted stops
early (its other runs cannot change the row).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raceproof import token as tokens
from raceproof.execution import Execution, Runner
from raceproof.keepalive import stale
from raceproof.loop import Loop
from raceproof.mountsets import all_mount_sets, scenario_for
from raceproof.properties import PROPERTIES, note_first
from raceproof.runs import program_for
from raceproof.scenario import Scenario
from raceproof.strategies.dpor import Dpor

SCHEMA = "raceproof.compare/1"
CRASH = "crash"


@dataclass
class Cell:
    algorithm: str
    prop: str
    verdict: str = "proved"  # proved | refuted | inconclusive | not-run (P5 without --crash)
    runs: int = 0
    executions: int = 0
    where: str = ""  # the run that refuted it
    message: str = ""
    token: str = ""
    replay_command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "property": self.prop, "verdict": self.verdict, "runs": self.runs,
                "executions": self.executions, "where": self.where, "message": self.message,
                "token": self.token or None, "replay_command": self.replay_command or None}


@dataclass
class Matrix:
    algorithms: list[str]
    max_mounts: int
    max_stale: int
    crash: bool
    base: str
    #: the base scenario's digest: a report embedding this matrix checks it names the same scenario
    base_digest: str = ""
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def row(self, algorithm: str) -> list[Cell]:
        return [self.cells[(algorithm, p)] for p in PROPERTIES]

    def proved_everywhere(self, algorithm: str) -> bool:
        return all(c.verdict in ("proved", "not-run") for c in self.row(algorithm))

    @property
    def winner(self) -> str | None:
        """The first candidate (in the order given) proved on every cell, else None."""
        return next((a for a in self.algorithms if self.proved_everywhere(a)), None)

    def to_json(self) -> dict[str, Any]:
        from raceproof.keepalive.candidates import CANDIDATES

        win = self.winner
        return {"schema": SCHEMA, "base": self.base, "base_digest": self.base_digest,
                "algorithms": self.algorithms, "max_mounts": self.max_mounts,
                "max_stale": self.max_stale, "crash": self.crash, "properties": dict(PROPERTIES),
                "rows": [{"algorithm": a, "runs": self.runs.get(a, 0), "executions": self.executions.get(a, 0),
                          "seconds": round(self.seconds.get(a, 0.0), 3),
                          "cells": [c.to_json() for c in self.row(a)]} for a in self.algorithms],
                "winner": win,
                "recommendation": None if win is None or win not in CANDIDATES else recommendation(win)}


def recommendation(name: str) -> dict[str, Any]:
    from raceproof.keepalive.candidates import CANDIDATES

    c = CANDIDATES[name]
    return {"candidate": name, "title": c.title, "why": c.summary, "pseudocode": c.pseudocode,
            "preconditions": list(c.preconditions)}


@dataclass(frozen=True)
class RunSpec:
    algorithm: str
    mount_set: str
    workers: int
    state: str
    crash: bool

    @property
    def label(self) -> str:
        return f"{self.mount_set}:w{self.workers} stale={self.state}" + (" +crash" if self.crash else "")


def runs_for(base: Scenario, algorithm: str, k: int, max_stale: int, crash: bool) -> list[tuple[RunSpec, Scenario]]:
    out = []
    for ms in all_mount_sets(k):
        for w in range(1, min(4, len(ms.paths)) + 1):
            sc = scenario_for(base, ms, w).with_changes(algorithm=algorithm)
            for state in stale.states(sc, max_stale):
                sc2 = stale.apply(sc, state)
                for c in ((False, True) if crash else (False,)):
                    out.append((RunSpec(algorithm, ms.name, w, state, c), sc2))
    return out


def cell_scenario(base: Scenario, algorithm: str, mount_set: str | None, state: str | None) -> Scenario:
    """The scenario a cell's replay command names (``--algorithm``, ``--mount-set``, ``--stale-state``)."""
    from raceproof.mountsets import scenario_for_name

    sc = base.with_changes(algorithm=algorithm, token=None) if algorithm else base
    if mount_set:
        sc = scenario_for_name(sc, mount_set)
    if state:
        sc = stale.apply(sc, state)
    return sc


def replay_command(base: Scenario, spec: RunSpec, token: str) -> str:
    parts = ["raceproof", "replay", base.file, "--algorithm", spec.algorithm, "--mount-set",
             f"{spec.mount_set}:w{spec.workers}", "--stale-state", spec.state]
    if spec.crash:
        parts += ["--inject", CRASH]
    return shlex.join([*parts, "--token", token])


def explore_run(sc: Scenario, crash: bool, wanted: set[str], budget: int | None = None,
                stop_at_first: bool = False,
                split: bool = False) -> tuple[dict[str, Execution], int, bool, Runner | None, Any]:
    """Explore one run; return the first failing execution per property in `wanted`, the number of
    executions, whether the search was exhausted, the runner (None when split) and the program
    (for replays). P5 is ``raceproof.properties.p5_violations``, as in ``verify --inject crash``.
    With `split`, a crash run is explored in two stages (``raceproof.keepalive.crashsplit``: each
    distinct crash tree's rerun once) when it can be."""
    if crash and split and not stop_at_first:
        from raceproof.keepalive.crashsplit import explore_split

        done = explore_split(sc, wanted, budget)
        if done is not None:
            first_s, n_s, complete_s, program_s = done
            return first_s, n_s, complete_s, None, program_s
    inject = [CRASH] if crash else []
    program = program_for(sc, inject)
    first: dict[str, Execution] = {}

    def observe(ex: Execution) -> bool:
        note_first(first, wanted, ex)
        return wanted <= set(first) or (stop_at_first and bool(first))

    with Runner(program, sc.backend, "direct") as runner:
        if crash:
            from raceproof.placements import explore_placements

            pr = explore_placements(runner, program.injectors, max_executions=budget, stop_on_failure=False,
                                    observe=observe)
            return first, pr.executions, pr.complete or pr.stop_reason == "observer", runner, program
        state = {"n": 0}

        async def driver(r: Runner) -> bool:
            loop = Loop(r, Dpor(), budget=budget)

            def visit(ex: Execution) -> bool:
                state["n"] += 1
                return observe(ex)

            await loop.run(visit)
            return loop.exhausted or loop.stopped

        finished = runner.run(driver)
    return first, state["n"], finished, runner, program


def compare(base: Scenario, algorithms: Sequence[str], k: int, max_stale: int, crash: bool, *,
            shrink: bool = True, budget: int | None = None,
            on_run: Callable[[str, int, int], None] | None = None, jobs: int = 1, split: bool = True) -> Matrix:
    """The matrix. With `jobs` > 1 the runs of every candidate are explored in that many forked
    processes (``raceproof.mountsets.parallel_map``) and collected in plan order: the verdicts,
    the proved cells' executions, the refuting runs, tokens and replay commands are those of a
    serial compare. Only a refuted row's totals may be larger: a serial run stops exploring once
    its open properties are all refuted, and a serial row stops once all its cells are, while the
    processes explore every run for every property. `seconds` is CPU time summed over the runs.
    With `split` (the default) a crash run is explored in two stages (``raceproof.keepalive.crashsplit``:
    the same verdicts, fewer executions); ``split=False`` explores every crash run in full."""
    m = Matrix(list(algorithms), k, max_stale, crash, base.file, base.digest)
    plans = {a: runs_for(base, a, k, max_stale, crash) for a in algorithms}
    results: Any = None
    if jobs > 1:
        from raceproof.mountsets import parallel_map

        units = [(spec, sc, _all_wanted(spec), budget, split) for a in algorithms for spec, sc in plans[a]]
        results = parallel_map(_run_unit, units, jobs)
    try:
        for a in algorithms:
            for p in PROPERTIES:
                m.cells[(a, p)] = Cell(a, p, "proved" if crash or p != "P5" else "not-run")
            plan = plans[a]
            m.seconds[a] = 0.0
            for i, (spec, sc) in enumerate(plan):
                open_props = {p for p in PROPERTIES if m.cells[(a, p)].verdict not in ("refuted", "not-run")}
                if not open_props:  # the whole row is refuted: its other runs cannot change it
                    if results is None:
                        break
                    next(results)  # computed anyway, in plan order
                    continue
                if on_run is not None:
                    on_run(f"{a} {spec.label}", i, len(plan))
                if results is not None:
                    first, n, complete, program, cpu = _unit_result(next(results), sc, spec.crash)
                else:
                    t0 = time.process_time()
                    wanted = set(PROPERTIES) - {"P5"} if not spec.crash else open_props
                    first, n, complete, _runner, program = explore_run(sc, spec.crash, wanted, budget, split=split)
                    cpu = time.process_time() - t0
                wanted = _all_wanted(spec)
                m.runs[a] = m.runs.get(a, 0) + 1
                m.executions[a] = m.executions.get(a, 0) + n
                m.seconds[a] += cpu
                for p in open_props & wanted:
                    cell = m.cells[(a, p)]
                    cell.runs += 1
                    cell.executions += n
                    if p in first:
                        _refute(cell, base, spec, sc, first[p], program, shrink)
                    elif not complete and cell.verdict == "proved":
                        cell.verdict, cell.where = "inconclusive", spec.label
    finally:
        if results is not None:
            results.close()  # stops the processes at once (an interrupt, an error); else a no-op
    return m


def _all_wanted(spec: RunSpec) -> set[str]:
    return set(PROPERTIES) - {"P5"} if not spec.crash else set(PROPERTIES)


def _run_unit(unit: tuple[RunSpec, Scenario, set[str], int | None, bool]) -> dict[str, Any]:
    """One run in a worker process: what the parent needs, picklable (the first failing execution
    of each property as its choices; the crash-free breaks P5 was judged against)."""
    spec, sc, wanted, budget, split = unit
    t0 = time.process_time()
    first, n, complete, _runner, program = explore_run(sc, spec.crash, wanted, budget, split=split)
    return {"first": {p: list(ex.choices) for p, ex in first.items()}, "n": n, "complete": complete,
            "broken": sorted(program.crash_free_broken), "cpu": time.process_time() - t0}


def _unit_result(unit: dict[str, Any], sc: Scenario, crash: bool) -> tuple[dict[str, Execution], int, bool, Any, float]:
    """A worker's run in the parent: each first failing execution replayed from its choices on a
    program that knows the same crash-free breaks (so P5 is judged as it was in the worker)."""
    from raceproof.strategies.replay import ReplayChooser

    program = program_for(sc, [CRASH] if crash else [])
    program.crash_free_broken.update(unit["broken"])
    first: dict[str, Execution] = {}
    if unit["first"]:
        with Runner(program, sc.backend, "direct") as runner:
            for p, choices in unit["first"].items():
                first[p] = runner.run_single(ReplayChooser(choices))
    return first, int(unit["n"]), bool(unit["complete"]), program, float(unit["cpu"])


def _refute(cell: Cell, base: Scenario, spec: RunSpec, sc: Scenario, ex: Execution, program: Any,
            shrink: bool) -> None:
    if shrink and not spec.crash:
        from raceproof.shrink import shrink_execution

        with Runner(program, sc.backend) as runner:
            small = shrink_execution(runner, ex)
        if any(v.check == cell.prop for v in small.violations):
            ex = small
    v = next(v for v in ex.violations if v.check == cell.prop)
    cell.verdict = "refuted"
    cell.where = spec.label
    cell.message = v.message
    cell.token = tokens.encode(program.digest, ex.choices)
    cell.replay_command = replay_command(base, spec, cell.token)
