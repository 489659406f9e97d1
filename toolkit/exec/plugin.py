"""``raceproof.exec_verify`` in the pytest plugin: a real program as a concurrency regression test."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from raceproof.exec.driver import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from raceproof.pytest_plugin import RaceproofFixture
    from raceproof.result import Result


def exec_verify(fx: RaceproofFixture, argv: list[str], scenario: Any, sandbox: list[str], expect: str | None,
                strategy: str | None, max_executions: int | None, seed: int | None,
                timeout: float | None) -> Result:
    """See ``RaceproofFixture.exec_verify``."""
    __tracebackhide__ = True
    from raceproof import token as tokens
    from raceproof.errors import InputError
    from raceproof.exec import ptrace
    from raceproof.exec.runner import ExecRunner, argv_program, scenario_program
    from raceproof.exploration import run_exploration
    from raceproof.scenario import load
    from raceproof.strategies import make_strategy
    from raceproof.strategies.replay import ReplayChooser

    why = ptrace.unavailable()
    if why:
        pytest.skip(why)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        if scenario is not None:
            sc = load(scenario) if isinstance(scenario, str | os.PathLike) else scenario
            program = scenario_program(sc, argv, timeout=timeout)
            default_expect = sc.expect_verify
        else:
            program = argv_program(argv, sandbox, timeout=timeout)
            default_expect = None
    except InputError as exc:
        pytest.fail(f"raceproof.exec_verify: {exc}", pytrace=False)
    expect = fx._expect(expect if expect is not None else fx._marker.get("expect", default_expect))
    strategy = fx._setting("strategy", strategy, "--raceproof-strategy", "dpor")
    max_executions = fx._setting("max_executions", max_executions, "--raceproof-max-executions")
    seed = fx._setting("seed", seed, "--raceproof-seed", 0)
    fx._digests.append(program.digest)
    try:
        with ExecRunner(program) as runner:
            token = fx._replay_token
            if token is not None and fx._claims(token, program.digest):
                try:
                    choices = tokens.decode(token, program.digest, "this raceproof.exec_verify call")
                except InputError as exc:
                    pytest.fail(f"raceproof: {exc}", pytrace=False)
                return fx._judge_replay(runner.execute(ReplayChooser(choices)), token, expect)
            options: dict[str, Any] = {}
            if strategy in ("random", "pct"):
                options["seed"] = seed
                if max_executions is None:
                    max_executions = 200
            try:
                strat = make_strategy(strategy, **options)
            except InputError as exc:
                pytest.fail(f"raceproof: {exc}", pytrace=False)
            r = run_exploration(runner, strat, max_executions=max_executions)
    finally:
        program.close()
    cex = r.counterexample
    if cex is None:
        return fx._judge(replace(r, expected=expect))
    token = cex.token or tokens.encode(program.digest, cex.execution.choices)
    return fx._judge(replace(r, expected=expect, token=token, execution=cex.execution))
