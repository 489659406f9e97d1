"""errno at a step: exhaustive placement, pinned placement, tokens that replay faults exactly."""

from __future__ import annotations

import errno as E

import pytest
from conftest import scenario

from raceproof import token as tokens
from raceproof.errors import TokenError
from raceproof.execution import Runner
from raceproof.inject import PinnedStrategy, explore_placements
from raceproof.runs import program_for, replay, verify
from raceproof.scenario import load

EIO_ANYWHERE = [{"name": "errno", "errno": "EIO", "at_most": 1}]


def test_fixed_with_one_eio_anywhere_every_placement_is_a_clean_failure(backend: str) -> None:
    """Must show: all placements explored and counted; a failing placement is a reported job failure
    (never a silent success), and nothing is written outside the mounts."""
    sc = scenario(inject=EIO_ANYWHERE, mounts=[{"path": "/home/user/.claude", "files": 2},
                                               {"path": "/home/user/.claude/skills/pdf", "files": 1}]
                  if backend == "memory" else [{"path": "/home/user/.claude", "files": 1},
                                               {"path": "/home/user/.claude/skills/pdf", "files": 1}])
    program = program_for(sc)
    outcomes = []

    def check_each(execution):  # wraps the program's check to look at every execution
        out = plain_check(execution, runner.vfs)
        outcomes.append((execution, out))
        return out

    with Runner(program, backend) as runner:
        plain_check = program.check
        program.check = lambda ex, vfs: check_each(ex)  # type: ignore[method-assign]
        res = explore_placements(runner, program.injectors, stop_on_failure=False)
    assert res.complete and res.first is None
    # the number of placements = the fault-free run plus one per (thread, n-th fs step) reached
    reached = {(ev.thread, ev.index) for ex, _ in outcomes for ev in ex.trace}
    assert res.placements > 10 and res.placements == len(res.per_placement)
    assert res.executions == len(outcomes) and reached
    faulted = [ex for ex, _ in outcomes if any(ev.result == "-1 EIO" for ev in ex.trace)]
    failed = [ex for ex in faulted if any(r.error is not None for r in ex.results)]
    assert len(failed) == res.clean_failure_executions > 0
    for ex in faulted:
        if ex not in failed:  # the model tolerated the EIO (e.g. tar-rs swallows its first canonicalize error)
            for path, desc in program.expected.items():
                assert ex.tree.get(path) == desc, f"silent success with {path} wrong after an EIO"
        roots = program.roots
        for path in ex.tree:
            assert path in program.initial or path in program.expected or any(
                path == r or path.startswith(r + "/") for r in roots), f"created outside the mounts: {path}"


def test_cli_verify_reports_the_placement_count() -> None:
    vr = verify(load("scenarios/chaos-eio.toml"))
    assert vr.result.verdict == "safe"
    assert vr.placements.placements == 33
    assert vr.result.strategy == "dpor over 33 fault placements"
    assert vr.result.executions == vr.placements.executions > vr.placements.placements


def test_two_faults_reach_more_placements_than_one() -> None:
    one = verify(scenario(inject=EIO_ANYWHERE, mounts=[{"path": "/home/user/a", "files": 1}]))
    two = verify(scenario(inject=[{"name": "errno", "at_most": 2}], mounts=[{"path": "/home/user/a", "files": 1}]))
    assert two.placements.placements > one.placements.placements > 1
    assert two.result.verdict == one.result.verdict == "safe"


def test_a_swallowing_algorithm_is_caught_as_silent_loss(backend: str) -> None:
    sc = scenario(inject=EIO_ANYWHERE, algorithm="chaos_algos:swallow_errors")
    vr = verify(sc, backend=backend)
    assert vr.result.verdict == "unsafe"
    cex = vr.result.counterexample
    assert cex is not None and cex.violations[0].check == "final-tree"
    assert "silent loss under an injected fault" in cex.violations[0].message
    # the token carries the fault decision: replaying it reproduces the failing execution exactly
    rr = replay(sc, vr.token, backend)
    assert [(e.thread, e.op, e.path, e.result) for e in rr.execution.trace] == \
        [(e.thread, e.op, e.path, e.result) for e in cex.execution.trace]
    assert any(e.result == "-1 EIO" for e in rr.execution.trace)
    assert rr.verdict == "fail"


def test_token_without_the_fault_decision_does_not_fault() -> None:
    sc = scenario(inject=EIO_ANYWHERE)
    program = program_for(sc)
    with Runner(program) as runner:
        strat = PinnedStrategy({("errno#0", 1, 2): 1})

        async def one(r):
            return await r.run_one(strat.next_execution())

        ex = runner.run(one)
        unpinned = PinnedStrategy({})
        no_fault = runner.run(lambda r: r.run_one(unpinned.next_execution()))
    assert [e.result for e in ex.trace].count("-1 EIO") == 1
    failing = next(e for e in ex.trace if e.result == "-1 EIO")
    assert failing.thread == 1
    tok = tokens.encode(program.digest, ex.choices)
    again = replay(sc, tok)
    assert [e.result for e in again.execution.trace] == [e.result for e in ex.trace]
    plain = replay(sc, tokens.encode(program.digest, no_fault.choices))
    decisions = [v for _, label, v in plain.execution.values if label.startswith("errno")]
    assert decisions and set(decisions) == {0}  # the fault decisions are in the token: "no fault"
    assert "-1 EIO" not in [e.result for e in plain.execution.trace]
    with pytest.raises(TokenError, match="another program"):  # a token that does not fit is refused
        replay(sc, tokens.encode(program.digest, [0] * len(ex.choices)))


@pytest.mark.parametrize("name", ["ENOENT", "EEXIST", "EIO", "ENOSPC", "EACCES", "EMFILE", "EXDEV"])
def test_pinned_errno_on_a_thread(name: str, backend: str) -> None:
    sc = scenario()
    rr = replay(sc, None, backend, [f"errno:errno={name},thread=1,nth=0,op=mkdir"])
    ev = next(e for e in rr.execution.trace if e.errno is not None and e.thread == 1)
    first_mkdir = next(e.index for e in rr.execution.trace if e.thread == 1 and e.op == "mkdir")
    assert ev.op == "mkdir" and ev.errno == getattr(E, name) and ev.index == first_mkdir
    # create_dir_all answers ENOENT by creating the parent and retrying (Rust std); the rest fail the job
    assert (rr.execution.results[1].error is None) == (name == "ENOENT")
    assert "--inject" in rr.command and name in rr.command


def test_pinned_global_step(backend: str) -> None:
    rr = replay(scenario(), None, backend, ["errno:errno=EACCES,step=3"])
    assert rr.execution.trace[3].result == "-1 EACCES"
    assert sum(1 for e in rr.execution.trace if e.errno == E.EACCES) == 1


def test_pinned_global_step_verify_stays_sound() -> None:
    # the fault at global step 2 depends on the interleaving: the steps up to it are made dependent,
    # so the reduction explores which thread's step lands at index 2
    from raceproof.exploration import run_exploration
    from raceproof.strategies import make_strategy

    program = program_for(scenario(inject=[{"name": "errno", "errno": "EIO", "step": 2}]))
    hit = set()
    with Runner(program) as runner:
        plain = program.check

        def check(ex, vfs):
            hit.add((ex.trace[2].thread, ex.trace[2].op, ex.trace[2].result))
            return plain(ex, vfs)

        program.check = check  # type: ignore[method-assign]
        res = run_exploration(runner, make_strategy("dpor"), stop_on_failure=False)
    assert res.verdict == "safe"
    assert {t for t, _, _ in hit} == {0, 1}
    assert all(r == "-1 EIO" or op == "download" for _, op, r in hit)  # download is not a filesystem op
    assert any(r == "-1 EIO" and t == 1 for t, _, r in hit)


def test_filters_restrict_placements() -> None:
    everything = verify(scenario(inject=EIO_ANYWHERE))
    writes = verify(scenario(inject=[{"name": "errno", "op": "write"}]))
    pdf = verify(scenario(inject=[{"name": "errno", "path": "/home/user/.claude/skills/*"}]))
    assert 1 < writes.placements.placements < pdf.placements.placements < everything.placements.placements
