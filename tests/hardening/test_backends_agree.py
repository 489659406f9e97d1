"""Class 8 of issue 10: memory, fake and real agree on every path, or all refuse it; the real
backend never removes its own root, never leaks its temp dir, never follows a final symlink."""

from __future__ import annotations

import errno as E
import gc
import os
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SMALL

from raceproof.execution import Runner
from raceproof.fs import Vfs, make_backend
from raceproof.fs.real import RealBackend
from raceproof.runs import program_for, replay
from raceproof.scenario import parse
from raceproof.trace import trace_json

BACKENDS = ("memory", "fake", "real")


@pytest.fixture
def private_tmp(tmp_path: Path) -> Iterator[Path]:
    """Real-backend sandboxes land here, so a leak is visible (and other runs' dirs are not)."""
    old = tempfile.tempdir
    tempfile.tempdir = str(tmp_path)
    try:
        yield tmp_path
    finally:
        tempfile.tempdir = old


def _outcome(backend: str, path: str, op: str) -> str:
    b = make_backend(backend)
    try:
        v = Vfs(b)
        if op == "makedirs":
            v.makedirs(path)
        elif op == "put":
            v.makedirs(path.rsplit("/", 1)[0] or "/")
            v.put(path, b"x")
        else:
            v.makedirs("/t")
            v.symlink(path, "/t/l")
            v.lstat("/t/l/x")
        return "ok"
    except OSError as exc:
        return E.errorcode.get(exc.errno or 0, "?")
    finally:
        b.close()


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(comps=st.lists(st.integers(1, 300), min_size=1, max_size=22), op=st.sampled_from(["makedirs", "put", "link"]))
def test_8_long_paths_behave_the_same_on_every_backend(comps: list[int], op: str) -> None:
    path = "/" + "/".join(chr(ord("a") + i % 26) * n for i, n in enumerate(comps))
    outcomes = {b: _outcome(b, path, op) for b in BACKENDS}
    assert len(set(outcomes.values())) == 1, outcomes
    too_long = len(path) >= 4096 or max(comps) > 255
    if op != "link":  # a link's target may be long as long as the resolved path is not
        assert (outcomes["memory"] == "ENAMETOOLONG") == too_long, (outcomes, len(path), max(comps))


@pytest.mark.parametrize("backend", BACKENDS)
def test_8_the_root_is_never_removed(backend: str, private_tmp: Path) -> None:
    b = make_backend(backend)
    v = Vfs(b)
    with pytest.raises(OSError) as info:
        v.rmdir("/")
    assert info.value.errno == E.EBUSY
    v.makedirs("/a/b")
    for fn in (lambda: v.rmdir("/"), lambda: v.rename("/", "/a/c"), lambda: v.rename("/a", "/")):
        with pytest.raises(OSError) as info:
            fn()
        assert info.value.errno in (E.ENOTEMPTY, E.EINVAL)
    assert v.lstat("/a/b").kind == "dir"
    if backend == "real":
        assert os.path.isdir(b.root)  # type: ignore[attr-defined]
    b.close()


NUKE = '''\
from raceproof.models.rust_fs import remove_dir_all


async def nuke_root(fs, job):
    await remove_dir_all(fs, "/")
'''


def test_8_remove_dir_all_of_the_root_agrees_and_keeps_the_real_sandbox(tmp_path: Path,
                                                                         private_tmp: Path) -> None:
    (tmp_path / "nuke_hardening.py").write_text(NUKE)
    raw = tomllib.loads(SMALL)
    raw["algorithm"] = "nuke_hardening:nuke_root"
    try:
        sc = parse(raw, "nuke.toml", allow_import=[str(tmp_path / "nuke_hardening.py")])
        roots_seen: list[bool] = []
        real_close = RealBackend.close

        def close(self: RealBackend) -> None:  # the root must still exist when the run ends
            roots_seen.append(os.path.isdir(self.root))
            real_close(self)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(RealBackend, "close", close)
            runs = {b: replay(sc, backend=b) for b in BACKENDS}
    finally:
        sys.modules.pop("nuke_hardening", None)
    traces = {b: [(e["thread"], e["op"], e["path"], e["result"])
                  for e in trace_json(r.execution.trace, r.execution.names)]
              for b, r in runs.items()}
    assert traces["memory"] == traces["fake"] == traces["real"]
    assert roots_seen and all(roots_seen)
    root_rmdirs = [t[3] for t in traces["real"] if t[1] == "rmdir" and t[2] == "/"]
    assert root_rmdirs and all(r == "-1 EBUSY" for r in root_rmdirs), root_rmdirs


def test_8_a_failed_setup_does_not_leak_the_real_sandbox(private_tmp: Path) -> None:
    sc = parse(tomllib.loads(SMALL), "s.toml")
    program = program_for(sc)

    def broken_setup(vfs: Vfs) -> None:
        raise RuntimeError("set-up failed")

    program.setup = broken_setup  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        Runner(program, "real")
    gc.collect()
    assert list(private_tmp.iterdir()) == []


def test_8_real_listdir_never_follows_a_final_symlink(private_tmp: Path) -> None:
    b = RealBackend()
    try:
        b.mkdir("/d")
        b.mkdir("/d/inside")
        b.symlink("/d", "/l")  # host-absolute target: it would leave the sandbox if followed
        b.symlink("d", "/rel")
        for link in ("/l", "/rel"):
            with pytest.raises(OSError) as info:
                b.listdir(link)
            assert info.value.errno == E.ENOTDIR
        assert b.listdir("/d") == [("inside", "dir")]
    finally:
        b.close()
    assert list(private_tmp.iterdir()) == []
