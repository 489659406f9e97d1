"""Hostile archive members never create anything outside the mount roots (memory, fake, real)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from conftest import scenario

from raceproof.execution import Runner
from raceproof.injectors.hostile import CASES, OUTSIDE, PRECIOUS
from raceproof.runs import program_for, replay, verify

ROOTS = ("/home/user/.claude", "/home/user/.claude/skills/pdf")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def _hostile(case: str, **extra: object) -> object:
    return scenario(inject=[{"name": "hostile", "case": case, "mount": "1", **extra}])


def _assert_confined(sc: object, backend: str) -> object:
    with Runner(program_for(sc), backend) as runner:  # type: ignore[arg-type]
        initial = runner.initial_tree
        if backend == "real":  # the sandbox really lives in the (patched) temp dir
            assert runner.backend.root.startswith(os.path.realpath(tempfile.gettempdir()))  # type: ignore[attr-defined]
    rr = replay(sc, None, backend)  # type: ignore[arg-type]
    ex = rr.execution
    for path in ex.tree:
        assert path in initial or _under(path, ROOTS) or path in ("/home", "/home/user"), \
            f"{path} created outside every mount root"
    assert ex.tree[OUTSIDE + "/target.txt"] == "file:" + PRECIOUS.hex()
    assert "confinement" not in {v.check for v in ex.violations}
    return ex


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["memory", "fake"])
def test_hostile_case_is_confined(case: str, backend: str) -> None:
    _assert_confined(_hostile(case, size=100_000), backend)


@pytest.mark.parametrize("case", CASES)
def test_hostile_case_on_the_real_backend_leaves_the_surroundings_alone(case: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real backend's sandbox is a mkdtemp under the temp dir: point the temp dir at an empty
    folder, run, and check that nothing but the sandbox ever appeared there or at absolute paths."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(os.listdir(tmp_path))
    assert before == set()
    _assert_confined(_hostile(case, size=100_000), "real")
    after = set(os.listdir(tmp_path))
    assert after <= {n for n in after if n.startswith("raceproof-")}, f"left next to the sandbox: {after}"
    for sandbox in after:  # closed sandboxes are removed; an open one holds only the scenario tree
        assert set(os.listdir(tmp_path / sandbox)) <= {"home", "var"}
    for absolute in ("/abs/pwned.txt", "/etc/pwned2", "/outside", "/escape.txt", "/home/user/escape.txt"):
        assert not os.path.exists(absolute)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "outside").exists()


def test_dotdot_members_are_skipped_silently() -> None:
    ex = _assert_confined(_hostile("dotdot"), "memory")
    assert ex.violations == [] and all(r.error is None for r in ex.results)
    assert not any("escape" in p for p in ex.tree)
    strict = replay(_hostile("dotdot", strict=True)).execution
    assert [v.check for v in strict.violations] == ["hostile"]


def test_absolute_members_are_rerooted() -> None:
    ex = _assert_confined(_hostile("absolute"), "memory")
    assert ex.violations == []
    assert "/home/user/.claude/skills/pdf/abs/pwned.txt" in ex.tree
    assert "/home/user/.claude/skills/pdf/etc/pwned2" in ex.tree


@pytest.mark.parametrize("case", ["symlink-escape", "stale-symlink", "hardlink"])
def test_escapes_are_refused_with_a_clean_failure(case: str) -> None:
    ex = _assert_confined(_hostile(case), "memory")
    assert ex.results[1].error is not None  # the skill's job refused the archive
    assert ex.violations == []  # refusing is the correct outcome
    if case == "symlink-escape":  # tar-rs leaves the link itself on disk
        assert ex.tree["/home/user/.claude/skills/pdf/link"] == "link:../../../outside"


def test_duplicates_last_wins_and_links_are_replaced_not_followed() -> None:
    ex = _assert_confined(_hostile("duplicate"), "memory")
    assert ex.violations == []
    assert ex.tree["/home/user/.claude/skills/pdf/dup.txt"] == "file:" + b"second".hex()
    assert ex.tree["/home/user/.claude/skills/pdf/lnk"] == "file:" + b"replaced".hex()


def test_huge_entry_is_reported_without_a_size_cap() -> None:
    sc = _hostile("huge", size=200_000, cap=65_536)
    vr = verify(sc)
    assert vr.result.verdict == "unsafe"
    assert vr.result.counterexample is not None
    assert vr.result.counterexample.violations[0].check == "no-size-cap"
    assert verify(_hostile("huge", size=1000, cap=65_536)).result.verdict == "safe"


@pytest.mark.parametrize("case", ["dotdot", "symlink-escape", "stale-symlink", "duplicate", "hardlink"])
def test_hostile_cases_verify_safe(case: str) -> None:
    assert verify(_hostile(case)).result.verdict == "safe"
