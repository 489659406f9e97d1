""""Failure was certain after step k" is true: checked against plain enumeration.

The old search stopped each continuation at the first thread error and counted it as a failure;
with a check that does not treat every thread error as a violation that claimed certainty where
a passing continuation exists."""

from __future__ import annotations

from raceproof.execution import Execution, Runner, Violation
from raceproof.exploration import FunctionProgram
from raceproof.shrink import certain_after
from raceproof.strategies import make_strategy


async def always_fails_after_writing(fs):  # type: ignore[no-untyped-def]
    await fs.write_file("/x", b"a")
    raise RuntimeError("this thread always raises; the check does not care")


async def other_writer(fs):  # type: ignore[no-untyped-def]
    await fs.write_file("/x", b"b")


def last_writer_must_be_b(ex: Execution) -> list[Violation]:
    """Fails only when /x ends as b"a" (thread errors are not violations here)."""
    if ex.tree.get("/x") == "file:" + b"a".hex():
        return [Violation(check="last-writer", message="/x ends as 'a'")]
    return []


def _all_executions(runner: Runner) -> list[Execution]:
    strat = make_strategy("dfs")
    out: list[Execution] = []

    async def driver(r: Runner) -> None:
        while (chooser := strat.next_execution()) is not None:
            ex = await r.run_one(chooser)
            strat.observe(ex)
            out.append(ex)

    runner.run(driver)
    return out


def _brute_certain_after(executions: list[Execution], failing: Execution) -> int:
    seq = [e.thread for e in failing.trace]
    for k in range(len(seq) + 1):
        cont = [ex for ex in executions if [e.thread for e in ex.trace][:k] == seq[:k]]
        if cont and all(ex.violations for ex in cont):
            return k
    raise AssertionError("the failing execution itself must fail")


def test_certain_after_agrees_with_enumeration_under_a_user_check() -> None:
    program = FunctionProgram([always_fails_after_writing, other_writer], {"/x": b"0"}, last_writer_must_be_b)
    with Runner(program) as runner:
        executions = _all_executions(runner)
        assert any(not ex.violations for ex in executions), "the program has passing executions"
        failing = [ex for ex in executions if ex.violations]
        assert failing
        for ex in failing:
            k = certain_after(runner, ex)
            assert k == _brute_certain_after(executions, ex)
            assert k is not None and k > 0  # at step 0 a passing continuation exists
