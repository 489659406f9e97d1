"""The failure timeline shows the failure's causal cone (issue 12, item 4), and shrinking drops
steps independent of the failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from raceproof.execution import Runner, Violation
from raceproof.exploration import FunctionProgram, run_exploration
from raceproof.shrink import conflict_pair, cost, explain, shrink_execution
from raceproof.steps import Footprint, StepEvent
from raceproof.strategies import make_strategy
from raceproof.trace import causal_past, cone_targets, render_timeline

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "sample_project"


def _ev(i: int, t: int, reads=(), writes=(), lists=(), touches=()) -> StepEvent:
    fp = Footprint(frozenset(reads), frozenset(writes), frozenset(lists), frozenset(touches))
    return StepEvent(index=i, thread=t, op="op", path=f"/p{i}", result="ok", footprint=fp)


def test_causal_past_is_program_order_plus_dependent_steps_transitively():
    trace = [
        _ev(0, 0, writes={"e:/a"}),          # A creates /a
        _ev(1, 2, writes={"e:/z"}),          # C, unrelated
        _ev(2, 1, reads={"e:/a"}),           # B looks /a up: depends on step 0
        _ev(3, 2, writes={"e:/y"}),          # C, unrelated
        _ev(4, 1, writes={"e:/a/b"}),        # B's next step: the target
        _ev(5, 0, writes={"e:/a"}),          # A, after the target
    ]
    assert causal_past(trace, {4}) == {0, 2, 4}
    assert causal_past(trace, {5}) == {0, 2, 5}  # B's lookup reads what A's last step writes
    assert causal_past(trace, {3}) == {1, 3}


def _explore(programs, setup=None, check=None):
    program = FunctionProgram(programs, setup, check, None)
    with Runner(program, "memory") as runner:
        r = run_exploration(runner, make_strategy("dpor"), max_executions=None)
        ex = r.counterexample.execution
        shrunk = shrink_execution(runner, ex)
        return ex, shrunk, explain(runner, shrunk)


async def remover(fs):
    await fs.remove_dir_all("/a")


async def maker(fs):
    await fs.mkdir("/a/b")


async def bystander(fs):
    for i in range(4):
        await fs.write_file(f"/c/f{i}", b"x")


def test_independent_steps_are_elided_and_counted():
    _ex, shrunk, expl = _explore([bystander, remover, maker], setup={"/a/": b"", "/c/": b""})
    conflict = expl["conflict"]["first"]["index"]
    lines, elided = render_timeline(shrunk, conflict)
    shown = [line for line in lines if not line.lstrip().startswith("...")]
    assert elided == len(shrunk.trace) - len(shown) > 0
    assert not any("bystander#0" in line for line in shown), lines
    notes = [line for line in lines if line.lstrip().startswith("...")]
    assert notes and all("bystander#0" in n for n in notes), notes
    assert sum(int(n.split()[1]) for n in notes) == elided
    assert any(line.startswith(">>") and "mkdir(\"/a/b\") = -1 ENOENT" in line and "fails here" in line
               for line in shown), lines


def test_shrinking_moves_an_independent_thread_after_the_failure():
    ex, shrunk, _ = _explore([bystander, remover, maker], setup={"/a/": b"", "/c/": b""})
    bystander_before = {e.thread for e in shrunk.trace[: cost(shrunk)[2]]}
    assert 0 not in bystander_before, "the bystander's steps come after the failure"
    assert cost(shrunk) <= cost(ex)


async def stager(fs):
    await fs.write_file("/s/a", b"1")
    await fs.rename("/s/a", "/data/x")


async def cleaner(fs):
    if await fs.exists("/data/x"):
        await fs.unlink("/data/x")


def kept(execution):
    if "/data/x" not in execution.tree:
        return [Violation(check="kept", path="/data/x", message="/data/x is gone")]
    return []


def test_a_user_check_marks_the_step_it_is_about():
    _ex, shrunk, expl = _explore([stager, cleaner], setup={"/s/": b"", "/data/": b""}, check=kept)
    first, second = conflict_pair(shrunk)
    assert (first.op, second.op) == ("rename", "unlink"), (first, second)
    lines, _ = render_timeline(shrunk, expl["conflict"]["first"]["index"])
    unlink = next(line for line in lines if 'unlink("/data/x")' in line)
    assert unlink.startswith(">>") and "kept: the step on /data/x" in unlink, lines
    rename = next(line for line in lines if "rename(" in line)
    assert "conflicting step" in rename, lines


@pytest.fixture
def sample(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("CI", "1")
    for name in ("installer.py", "test_installer.py"):
        (pytester.path / name).write_text((SAMPLE / name).read_text(encoding="utf-8"), encoding="utf-8")
    pytester.syspathinsert()
    return pytester


def test_the_timeline_does_not_cut_at_the_failing_step_when_the_mechanism_is_later(sample):
    """The sample installer fails at create_dir_all's mkdir (EEXIST), but the mechanism is the
    other installer's rmdir after it, which makes the is_dir check false: both are shown."""
    result = sample.runpytest("-p", "no:cacheprovider", "test_installer.py::test_buggy_installer_is_race_free")
    result.assert_outcomes(failed=1)
    lines = result.outlines
    fails = next(i for i, line in enumerate(lines) if line.startswith(">>") and "fails here" in line)
    after = lines[fails + 1 : fails + 3]
    assert 'rmdir("/srv/app/.staging") = ok' in after[0] and "conflicting step" in after[0], after
    assert "is_dir(" in after[1] and "raises here" in after[1], after
    assert not any("later steps" in line for line in lines)
    text = result.stdout.str()
    assert "why: install_bin#0 ran rmdir(/srv/app/.staging)" in text


def test_shrinking_the_incident_is_strictly_smaller():
    """The incident as it happened (the scenario's pinned schedule: four threads, the skills
    worker's canonicalize ENOENT) shrinks to a strictly smaller counterexample with the same
    violations, all of whose steps before the failure are in its causal past."""
    from raceproof.runs import program_for, replay
    from raceproof.scenario import load
    from raceproof.shrink import _signature

    sc = load(ROOT / "scenarios" / "guest-download-2026-04-10.toml")
    pinned = replay(sc, None).execution
    with Runner(program_for(sc), sc.backend) as runner:
        shrunk = shrink_execution(runner, pinned)
    u, s = cost(pinned), cost(shrunk)
    assert _signature(shrunk) == _signature(pinned)
    assert s[0] < u[0] and s[1] < u[1] and s[2] < u[2], (u, s)  # threads, preemptions, steps to the failure
    cone_u = causal_past(pinned.trace, cone_targets(pinned))
    cone_s = causal_past(shrunk.trace, cone_targets(shrunk))
    assert len(cone_s) < len(cone_u), (len(cone_u), len(cone_s))
    end = s[2] - 1
    assert causal_past(shrunk.trace, {t for t in cone_targets(shrunk) if t <= end}) == set(range(s[2]))
    # the shrunk token replays exactly (re-recorded): the same trace again
    again = replay(sc, _token(sc, shrunk)).execution
    assert [(e.thread, e.op, e.path, e.result) for e in again.trace] == \
        [(e.thread, e.op, e.path, e.result) for e in shrunk.trace]


def _token(sc, ex) -> str:
    from raceproof import token as tokens
    from raceproof.runs import program_for

    return tokens.encode(program_for(sc).digest, ex.choices)
