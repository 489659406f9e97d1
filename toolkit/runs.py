"""Replaying and verifying scenarios: the operations behind the CLI, the plugin and reports."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raceproof import token as tokens
from raceproof.errors import TokenError
from raceproof.execution import Execution, Runner
from raceproof.exploration import ExploreResult, run_exploration
from raceproof.numbers import exact
from raceproof.scenario import IncidentProgram, Scenario
from raceproof.strategies import make_strategy, with_defaults
from raceproof.strategies.random import RandomWalk
from raceproof.strategies.replay import ReplayChooser
from raceproof.trace import trace_json


def replay_command(scenario: Scenario, token: str, backend: str = "memory", inject: Sequence[str] = (),
                   mount_set: str | None = None) -> str:
    parts = ["raceproof", "replay", scenario.file]
    if mount_set:
        parts += ["--mount-set", mount_set]
    parts += ["--token", token]
    if backend != "memory":
        parts += ["--backend", backend]
    for spec in inject:
        parts += ["--inject", spec]
    return shlex.join(parts)


@dataclass
class ReplayResult:
    scenario: Scenario
    backend: str
    token: str
    execution: Execution
    command: str
    schedule_source: str
    inject: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "fail" if self.execution.violations else "pass"

    @property
    def expected(self) -> str | None:
        return self.scenario.expect_replay

    def to_json(self) -> dict[str, Any]:
        ex = self.execution
        return {
            "schema": "raceproof.replay/1",
            "scenario": self.scenario.file, "name": self.scenario.name, "digest": self.scenario.digest,
            "backend": self.backend, "token": self.token, "schedule": self.schedule_source,
            "verdict": self.verdict, "expected": self.expected,
            "violations": [v.to_json() for v in ex.violations],
            "trace": trace_json(ex.trace, ex.names), "threads": ex.names, "replay_command": self.command,
        }


def program_for(scenario: Scenario, inject: Sequence[str] = ()) -> IncidentProgram:
    injectors = []
    specs = list(inject)
    if scenario.inject or specs:
        from raceproof.inject import build_injectors

        injectors = build_injectors(scenario, specs)
    program = scenario.program(injectors)
    if specs:  # command-line injectors change the program: tokens must say so
        from raceproof.inject import specs_digest

        program.digest = specs_digest(program.digest, specs)
    return program


def replay(scenario: Scenario, token: str | None = None, backend: str | None = None,
           inject: Sequence[str] = (), mount_set: str | None = None,
           token_source: str | None = None) -> ReplayResult:
    """Run one execution: the given token, else the scenario's pinned token, else a seeded walk."""
    backend = backend or scenario.backend
    program = program_for(scenario, inject)
    source_file = scenario.file
    if token_source is None:
        token_source = "--token" if token is not None else f"{scenario.file}: token"
    if token is None and scenario.token:
        token, source = scenario.token, "pinned token (scenario 'token')"
    elif token is not None:
        source = "token"
    else:
        source = f"seeded random walk (seed {scenario.seed})"
    choices: list[int] = []
    if token is not None:  # decoded before any sandbox exists
        try:
            choices = tokens.decode(token, program.digest, source_file)
        except TokenError as exc:
            raise TokenError(f"{token_source}: {str(exc).removeprefix('token: ')}") from None
    with Runner(program, backend) as runner:
        if token is not None:
            # a misfit never raises inside the scheduler: the run completes on the first enabled
            # thread, and the misfit (or leftover choices) is a TokenError here (exit 2)
            chooser: Any = ReplayChooser(choices, collect=True)
        else:
            chooser = RandomWalk(seed=scenario.seed).next_execution()
        execution = runner.run_single(chooser)
        if token is not None and (misfit := chooser.leftover()) is not None:
            raise TokenError(f"{token_source}: {misfit.removeprefix('token: ')}")
    tok = tokens.encode(program.digest, execution.choices)
    command = replay_command(scenario, tok, backend, inject, mount_set)
    return ReplayResult(scenario, backend, tok, execution, command, source, list(inject))


@dataclass
class VerifyResult:
    scenario: Scenario
    result: ExploreResult
    backend: str
    token: str | None = None
    command: str | None = None
    inject: list[str] = field(default_factory=list)
    placements: Any = None  # raceproof.inject.PlacementResult when fault placements were enumerated

    @property
    def expected(self) -> str | None:
        return self.scenario.expect_verify


#: executions explored by ``verify`` in this process: finished calls, and the running one (the
#: one-line summary of an interrupted command reports them)
EXPLORED = {"finished": 0, "current": 0, "failing": 0}


def _counting(progress: Callable[[int, int, int], None] | None) -> Callable[[int, int, int], None]:
    def note(done: int, failing: int, pending: int = -1) -> None:
        EXPLORED["current"] = done
        EXPLORED["failing"] = failing
        if progress is not None:
            progress(done, failing, pending)

    return note


def verify(scenario: Scenario, strategy: str = "dpor", max_executions: int | None = None, seed: int = 0,
           backend: str | None = None, inject: Sequence[str] = (), shrink: bool = True,
           progress: Callable[[int, int, int], None] | None = None, driver: str = "trio",
           **options: Any) -> VerifyResult:
    EXPLORED["current"] = 0
    vr = _verify(scenario, strategy, max_executions, seed, backend, inject, shrink, _counting(progress), driver,
                 **options)
    EXPLORED["finished"] += vr.result.executions
    EXPLORED["current"] = 0
    return vr


def _verify(scenario: Scenario, strategy: str, max_executions: int | None, seed: int, backend: str | None,
            inject: Sequence[str], shrink: bool, progress: Callable[[int, int, int], None], driver: str,
            **options: Any) -> VerifyResult:
    backend = backend or scenario.backend
    program = program_for(scenario, inject)
    max_executions = with_defaults(strategy, max_executions, seed, options, scenario.max_executions)
    if any(getattr(inj, "needs_trio", False) for inj in program.injectors):
        driver = "trio"  # e.g. slow downloads wait in Trio's virtual time
    if strategy == "dpor" and any(getattr(inj, "explores", False) for inj in program.injectors):
        return _verify_placements(scenario, program, backend, max_executions, inject, progress, driver)
    strat = make_strategy(strategy, **options)
    with Runner(program, backend, driver) as runner:
        result = run_exploration(runner, strat, max_executions=max_executions, progress=progress)
        vr = VerifyResult(scenario, result, backend, inject=list(inject))
        cex = result.counterexample
        if cex is not None:
            if shrink:
                from raceproof.shrink import explain, shrink_execution

                cex.execution = shrink_execution(runner, cex.execution)
                cex.explanation = explain(runner, cex.execution)
                cex.explanation["shrunk"] = True
            cex.token = tokens.encode(program.digest, cex.execution.choices)
            cex.replay_command = replay_command(scenario, cex.token, backend, inject)
            vr.token, vr.command = cex.token, cex.replay_command
    return vr


def _verify_placements(scenario: Scenario, program: IncidentProgram, backend: str, max_executions: int | None,
                       inject: Sequence[str], progress: Callable[[int, int, int], None] | None,
                       driver: str = "trio") -> VerifyResult:
    """Every placement of the injected faults, one optimal DPOR each (``raceproof.inject``)."""
    from raceproof.exploration import Counterexample, confirm
    from raceproof.inject import explore_placements

    with Runner(program, backend, driver) as runner:
        pr = explore_placements(runner, program.injectors, max_executions=max_executions, progress=progress)
        cex = None
        if pr.first is not None:
            confirm(runner, pr.first)  # the fault decisions are in the choices: it must replay exactly
            cex = Counterexample(pr.first)
            cex.explanation = {"fault_placement": [list(p) for p in pr.first_pins]}
            cex.token = tokens.encode(program.digest, cex.execution.choices)
            cex.replay_command = replay_command(scenario, cex.token, backend, inject)
    verdict = "unsafe" if cex is not None else ("safe" if pr.complete else "inconclusive")
    result = ExploreResult(
        verdict=verdict, complete=pr.complete, stop_reason=pr.stop_reason, executions=pr.executions,
        blocked=pr.blocked, strategy=f"dpor over {pr.placements} fault placements", naive_interleavings=pr.naive,
        counterexample=cex, outcomes=set(), failing=1 if cex is not None else 0, steps=pr.steps,
        wall_time=pr.wall_time, classes=pr.executions if pr.complete else 0)
    vr = VerifyResult(scenario, result, backend, inject=list(inject), placements=pr)
    if cex is not None:
        vr.token, vr.command = cex.token, cex.replay_command
    return vr


def verify_exit_code(verdict: str, expected: str | None) -> int:
    if verdict == "inconclusive":
        return 3
    if expected is None:
        return {"safe": 0, "unsafe": 1, "bounded": 3}[verdict]
    if verdict == "bounded":
        return 3
    return 0 if verdict == expected else 1


def verify_json(vr: VerifyResult) -> dict[str, Any]:
    r = vr.result
    cex = r.counterexample
    out: dict[str, Any] = {
        "schema": "raceproof.verify/1",
        "scenario": vr.scenario.file, "name": vr.scenario.name, "digest": vr.scenario.digest,
        "backend": vr.backend, "strategy": r.strategy, "verdict": r.verdict, "expected": vr.expected,
        "complete": r.complete, "stop_reason": r.stop_reason, "executions": r.executions,
        "blocked": r.blocked, "equivalence_classes": r.classes if r.complete else None,
        "naive_interleavings": exact(r.naive_interleavings), "failing_executions": r.failing,
        "steps": r.steps, "wall_time_s": round(r.wall_time, 4), "counterexample": None,
    }
    if vr.placements is not None:
        pr = vr.placements
        out["fault_placements"] = {"placements": pr.placements, "executions": pr.executions,
                                   "failing_placements": pr.failing_placements,
                                   "clean_failure_executions": pr.clean_failure_executions,
                                   "pruned_crash_states": pr.pruned}
    if cex is not None:
        ex = cex.execution
        out["counterexample"] = {
            "token": cex.token, "replay_command": cex.replay_command,
            "violations": [v.to_json() for v in ex.violations], "trace": trace_json(ex.trace, ex.names),
            "threads": ex.names, "explanation": cex.explanation,
        }
    return out
