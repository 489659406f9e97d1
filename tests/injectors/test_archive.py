"""Truncated and corrupted downloads (Job.delivered), with and without the digest check."""

from __future__ import annotations

import pytest
from conftest import scenario

from raceproof.runs import replay, verify

CUT = [{"name": "truncate", "mount": "0", "at": "entry"}]


def test_entry_boundary_cut_without_digest_is_silent_success_the_check_catches(backend: str) -> None:
    """Must show: tar-rs returns success with the last entry missing; the final-tree check says so."""
    sc = scenario(inject=CUT, verify_digest=False)
    rr = replay(sc, None, backend)
    ex = rr.execution
    assert all(r.error is None for r in ex.results), "every worker reports success"
    [v] = ex.violations
    assert v.check == "final-tree" and "silent loss under an injected fault (truncate)" in v.message
    assert v.path.startswith("/home/user/.claude/") and v.path not in ex.tree
    vr = verify(sc, backend=backend)
    assert vr.result.verdict == "unsafe"


def test_entry_boundary_cut_with_digest_fails_the_job_cleanly(backend: str) -> None:
    sc = scenario(inject=CUT)
    rr = replay(sc, None, backend)
    ex = rr.execution
    assert rr.verdict == "pass" and ex.violations == []
    bad = [e for e in ex.trace if e.op == "download" and e.result == "-1 EIO"]
    assert len(bad) == 1 and bad[0].path == "/home/user/.claude"
    assert isinstance(ex.results[0].error, OSError) and "digest mismatch" in str(ex.results[0].error)
    assert not any(e.op == "open" and e.thread == 0 for e in ex.trace), "nothing extracted before the check"
    assert verify(sc, backend=backend).result.verdict == "safe"


@pytest.mark.parametrize(("at", "message"), [("header", "failed to read entire block"),
                                             ("data", "failed to write entire file")])
def test_cut_inside_header_or_data_fails(at: str, message: str, backend: str) -> None:
    sc = scenario(inject=[{"name": "truncate", "mount": "0", "at": at, "keep": 0}], verify_digest=False)
    ex = replay(sc, None, backend).execution
    err = ex.results[0].error
    assert err is not None and message in str(err)
    assert ex.violations == []  # a reported failure under a fault is the correct outcome
    first = sc.mounts[0].members[0]
    path = "/home/user/.claude/" + first.name
    if at == "data":  # tar-rs leaves the partial file on disk
        assert ex.tree[path] == "file:" + first.data[: len(first.data) // 2].hex()
    else:
        assert path not in ex.tree


def test_corrupt_checksum_fails_with_or_without_digest(backend: str) -> None:
    inj = [{"name": "corrupt", "mount": "1", "how": "checksum"}]
    ex = replay(scenario(inject=inj, verify_digest=False), None, backend).execution
    assert "checksum mismatch" in str(ex.results[1].error)
    ex = replay(scenario(inject=inj), None, backend).execution
    assert "digest mismatch" in str(ex.results[1].error)
    assert ex.violations == []


def test_corrupt_data_is_only_caught_by_the_digest(backend: str) -> None:
    inj = [{"name": "corrupt", "mount": "1", "how": "data"}]
    ex = replay(scenario(inject=inj, verify_digest=False), None, backend).execution
    assert all(r.error is None for r in ex.results)
    assert [v.check for v in ex.violations] == ["final-tree"]
    assert "different" in ex.violations[0].message
    ex = replay(scenario(inject=inj), None, backend).execution
    assert ex.violations == [] and "digest mismatch" in str(ex.results[1].error)
