"""The two drivers (Trio tasks, and bare coroutines) are one runtime: same executions, same
footprints, same forced steps, same injected faults, and the same errors on every error path.

Machinery errors (a token that does not fit, a program that is not deterministic, a strategy that
picks a thread that is not enabled, a spinning program) leave the run as their own exception on
both drivers: never as a thread's outcome, never as a hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raceproof import explore
from raceproof.errors import InternalError, NondeterminismError, StepBudgetExceeded, TokenError
from raceproof.execution import DRIVERS, Runner
from raceproof.exploration import FunctionProgram
from raceproof.loop import Loop
from raceproof.runs import program_for
from raceproof.scenario import load
from raceproof.strategies import make_strategy
from raceproof.strategies.replay import ReplayChooser

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


def _executions(program: Any, backend: str, driver: str, strategy: str, n: int, **opts: Any) -> list[Any]:
    out: list[Any] = []

    def visit(ex: Any) -> None:
        out.append(([(e.index, e.thread, e.op, e.path, e.result, e.footprint, e.enabled, e.detail)
                     for e in ex.trace], [(v.check, v.step) for v in ex.violations], ex.choices, ex.values,
                    ex.deadlock))

    with Runner(program, backend, driver) as runner:
        loop = Loop(runner, make_strategy(strategy, **opts), budget=n)
        runner.run(lambda r: loop.run(visit))
    return out


def _direct_capable(sc: Any) -> bool:
    return not any(i.get("name") == "slow-download" for i in sc.inject)


@pytest.mark.parametrize("path", [p for p in SCENARIOS if _direct_capable(load(str(p)))], ids=lambda p: p.stem)
def test_both_drivers_give_identical_executions(path: Path) -> None:
    """DPOR (sees forced steps) and a random walk (data choices too) on every scenario that does
    not wait in virtual time: every event, footprint, enabled set, fault decision and verdict."""
    sc = load(str(path))
    # crash+rerun explores its crash placements with its own strategy (see raceproof.runs), so
    # plain DPOR does not apply to it; a random walk still covers its placements on both drivers
    crash = any(i.get("name") == "crash" for i in sc.inject)
    strategies = [("random", {"seed": 7})] + ([] if crash else [("dpor", {})])
    for strategy, opts in strategies:
        runs = {d: _executions(program_for(sc), sc.backend or "memory", d, strategy, 12, **opts) for d in DRIVERS}
        assert runs["trio"] == runs["direct"], (path.name, strategy)
        assert runs["trio"] and all(r[0] for r in runs["trio"])


async def _writer(fs: Any) -> None:
    await fs.write_file("/d/x", b"new")


async def _reader(fs: Any) -> bytes:
    return await fs.read_file("/d/x")


PROGRAM = FunctionProgram([_writer, _reader], {"/d/x": b"old"})


class _BadPick:
    sees_forced = True

    def choose(self, enabled: tuple[int, ...], trace: Any) -> int:
        return 7

    def choose_value(self, thread: int, label: str, n: int) -> int:
        return 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_short_token_is_a_token_error(driver: str) -> None:
    with Runner(PROGRAM, "memory", driver) as runner, pytest.raises(TokenError, match="needed more"):
        runner.run_single(ReplayChooser([]))


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_bad_pick_is_an_internal_error_not_a_counterexample(driver: str) -> None:
    with Runner(PROGRAM, "memory", driver) as runner, pytest.raises(InternalError, match="not enabled"):
        runner.run_single(_BadPick())


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_nondeterministic_program_is_named(driver: str) -> None:
    calls = [0]

    async def flaky(fs: Any) -> None:
        calls[0] += 1
        if calls[0] % 2:
            await fs.exists("/a")
        await fs.exists("/b")

    async def other(fs: Any) -> None:
        await fs.write_file("/a", b"x")
        await fs.write_file("/b", b"x")

    with pytest.raises(NondeterminismError, match="not deterministic"):
        explore([flaky, other], strategy="dpor", driver=driver)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("strategy", ["pct", "random", "dpor"])
def test_a_spinning_program_exceeds_the_step_budget(driver: str, strategy: str) -> None:
    async def spin(fs: Any) -> None:
        while not await fs.exists("/go"):
            pass

    async def never(fs: Any) -> None:
        await fs.mkdir("/elsewhere")

    r = explore([spin, never], strategy=strategy, driver=driver, max_executions=5, max_steps=500)
    assert (r.verdict, r.stop_reason, r.counterexample) == ("inconclusive", "step-budget", None)
    assert r.overrun is not None and r.overrun.steps == 500 and isinstance(r.overrun, StepBudgetExceeded)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_user_error_stays_a_thread_outcome(driver: str) -> None:
    """The other side of the channel: the program's own exception is its result."""
    async def buggy(fs: Any) -> None:
        await fs.mkdir("/a")
        raise KeyError("user bug")

    r = explore([buggy], driver=driver)
    assert r.verdict == "unsafe" and r.counterexample is not None
    assert "KeyError" in r.counterexample.violations[0].message
