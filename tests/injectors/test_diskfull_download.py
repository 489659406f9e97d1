"""Disk full after N bytes; slow and stalled downloads in virtual time."""

from __future__ import annotations

import errno as E

import pytest
from conftest import scenario

from raceproof.execution import Runner
from raceproof.inject import PinnedStrategy
from raceproof.runs import program_for, replay, verify

ONE = [{"path": "/home/user/a", "files": 3}]


def _sizes(sc: object) -> list[int]:
    return [len(m.data) for m in sc.mounts[0].members]  # type: ignore[attr-defined]


def test_disk_full_fails_the_write_past_the_budget(backend: str) -> None:
    sc = scenario(mounts=ONE)
    sizes = _sizes(sc)
    budget = sizes[0] + sizes[1] - 1  # the second file does not fit
    rr = replay(scenario(mounts=ONE, inject=[{"name": "disk-full", "bytes": budget}]), None, backend)
    writes = [e for e in rr.execution.trace if e.op == "write"]
    assert [e.result for e in writes] == [str(sizes[0]), "-1 ENOSPC"]
    assert rr.execution.results[0].error.errno == E.ENOSPC  # type: ignore[union-attr]
    assert rr.verdict == "pass"  # a clean, reported failure
    roomy = replay(scenario(mounts=ONE, inject=[{"name": "disk-full", "bytes": sum(sizes)}]), None, backend)
    assert all(e.result != "-1 ENOSPC" for e in roomy.execution.trace)
    assert roomy.execution.violations == []


def test_disk_full_budget_is_shared_and_explored() -> None:
    sc = scenario(inject=[{"name": "disk-full", "bytes": 40}])
    vr = verify(sc)
    base = verify(scenario())
    assert vr.result.verdict == "safe"
    # writes of different threads now conflict (who fills the disk first): more classes
    assert vr.result.executions > base.result.executions


def test_disk_full_does_not_charge_the_setup(backend: str) -> None:
    sc = scenario(mounts=ONE, inject=[{"name": "disk-full", "bytes": 0}], initial={"dirs": ["/home/user"],
                  "files": {"/home/user/old.txt": "x" * 100}})
    with Runner(program_for(sc), backend) as runner:
        for _ in range(2):  # set-up runs again between executions on the fake backend
            ex = runner.run_single(PinnedStrategy({}).next_execution())
            assert ex.tree["/home/user/old.txt"].startswith("file:")
            assert any(e.result == "-1 ENOSPC" for e in ex.trace)


def test_stalled_download_times_out_in_virtual_time(backend: str) -> None:
    sc = scenario(inject=[{"name": "slow-download", "mount": "1", "speed": 0, "time": 30}])
    ex = replay(sc, None, backend).execution
    [dl] = [e for e in ex.trace if e.op == "download" and e.thread == 1]
    assert dl.result == "-1 ETIMEDOUT"
    assert ex.extra["download_wait_s"] == pytest.approx(30.0)  # virtual seconds, not real ones
    assert ex.violations == [] and ex.results[0].error is None


def test_slow_but_fast_enough_download_completes(backend: str) -> None:
    sc = scenario(inject=[{"name": "slow-download", "mount": "0", "speed": 512, "limit": 100}])
    ex = replay(sc, None, backend).execution
    size = len(sc.mounts[0].archive) if hasattr(sc.mounts[0], "archive") else 0
    assert ex.extra["download_wait_s"] == pytest.approx(size / 512)
    assert ex.violations == [] and all(r.error is None for r in ex.results)


def test_trickle_below_the_limit_is_aborted() -> None:
    sc = scenario(inject=[{"name": "slow-download", "mount": "0", "speed": 10, "limit": 100, "time": 5}])
    ex = replay(sc).execution
    assert ex.extra["download_wait_s"] == pytest.approx(5.0)
    assert ex.results[0].error.errno == E.ETIMEDOUT  # type: ignore[union-attr]
    assert verify(sc).result.verdict == "safe"
