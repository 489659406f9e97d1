"""The concurrent behaviours of issue 9 that a single-thread differential run cannot show, pinned on
the model with hand-written schedules (the real-thread witness in BENCHMARKS.md saw them for real)."""

from __future__ import annotations

from typing import Any

import pytest

from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram
from raceproof.models.rust_fs import create_dir_all, remove_dir_all
from raceproof.shrink import SequenceChooser
from raceproof.testing import compare_strategies


def _run(bodies: list[Any], setup: Any, seq: list[int], backend: str = "memory") -> Execution:
    with Runner(FunctionProgram(bodies, setup=setup), backend) as runner:
        return runner.run_single(SequenceChooser(seq))


def rows(ex: Execution, tid: int) -> list[tuple[str, str, str]]:
    return [(e.op, e.path, e.result) for e in ex.trace if e.thread == tid]


@pytest.mark.parametrize("backend", ["memory", "fake", "real"])
def test_walk_follows_a_directory_renamed_away(backend: str) -> None:
    """remove_dir_all holds the directory open: renamed away mid-walk, it is still emptied (files
    written into it after the rename are lost), and the final unlinkat by name finds nothing."""

    async def walker(fs: Any) -> None:
        await remove_dir_all(fs, "/p")

    async def mover(fs: Any) -> None:
        await fs.rename("/p/c", "/keep")
        await fs.write_file("/keep/new", b"n")

    def setup(v: Any) -> None:
        v.put("/p/c/f", b"old")

    # walker: lstat, opendir /p, readdir /p, opendir /p/c; mover: rename, write; walker: the rest
    ex = _run([walker, mover], setup, [0, 0, 0, 0, 1, 1] + [0] * 8, backend)
    assert rows(ex, 0)[4:] == [("readdir", "/p/c", "[f, new]"), ("unlink", "/p/c/f", "ok"),
                               ("unlink", "/p/c/new", "ok"), ("readdir", "/p/c", "[]"),
                               ("rmdir", "/p/c", "-1 ENOENT"), ("readdir", "/p", "[]"), ("rmdir", "/p", "ok")]
    assert ex.tree == {"/keep": "dir"}
    assert all(r.error is None for r in ex.results)


def test_second_readdir_only_confirms_the_end() -> None:
    """A small directory is read whole by the first getdents64: an entry added after it is not
    returned by the second (which reads nothing), and the final rmdir fails with ENOTEMPTY."""

    async def walker(fs: Any) -> None:
        await remove_dir_all(fs, "/p")

    async def adder(fs: Any) -> None:
        await fs.write_file("/p/late", b"l")

    ex = _run([walker, adder], lambda v: v.put("/p/f", b"f"), [0, 0, 0, 1] + [0] * 4)
    assert rows(ex, 0) == [("lstat", "/p", "dir"), ("opendir", "/p", "ok"), ("readdir", "/p", "[f]"),
                           ("unlink", "/p/f", "ok"), ("readdir", "/p", "[]"), ("rmdir", "/p", "-1 ENOTEMPTY")]
    second = [e for e in ex.trace if e.thread == 0 and e.op == "readdir"][1]
    assert second.footprint.is_empty()


def test_empty_and_dead_directories() -> None:
    async def walker(fs: Any) -> None:
        await remove_dir_all(fs, "/p")

    ex = _run([walker], lambda v: v.makedirs("/p"), [])
    assert [r[0] for r in rows(ex, 0)] == ["lstat", "opendir", "readdir", "readdir", "rmdir"]

    async def remover(fs: Any) -> None:
        await fs.rmdir("/p")

    dead = _run([walker, remover], lambda v: v.makedirs("/p"), [0, 0, 1, 0, 0])
    assert [r[0] for r in rows(dead, 0)] == ["lstat", "opendir", "readdir", "rmdir"]  # glibc ends on ENOENT


def test_create_dir_all_walks_up_then_fails_on_enoent_top_down() -> None:
    async def maker(fs: Any) -> None:
        await create_dir_all(fs, "/a/b/c")

    async def deleter(fs: Any) -> None:
        await fs.rmdir("/a/b")

    # maker: mkdir /a/b/c ENOENT, mkdir /a/b ok (walk up stops); deleter: rmdir /a/b; maker: mkdir /a/b/c
    ex = _run([maker, deleter], lambda v: v.makedirs("/a"), [0, 0, 1, 0])
    assert rows(ex, 0) == [("mkdir", "/a/b/c", "-1 ENOENT"), ("mkdir", "/a/b", "ok"), ("mkdir", "/a/b/c", "-1 ENOENT")]
    assert ex.results[0].error is not None and ex.results[0].error.errno == 2
    # no is_dir after ENOTDIR, no mkdir("/")
    ex2 = _run([maker], lambda v: v.put("/a/b", b"file"), [])
    assert rows(ex2, 0) == [("mkdir", "/a/b/c", "-1 ENOTDIR")]


def test_create_dir_all_tolerates_a_concurrent_creator() -> None:
    async def maker(fs: Any) -> None:
        await create_dir_all(fs, "/a/b/c")

    twice = _run([maker, maker], lambda v: None, [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    assert all(r.error is None for r in twice.results)
    assert twice.tree == {"/a": "dir", "/a/b": "dir", "/a/b/c": "dir"}


def test_dpor_still_matches_dfs_on_walk_against_rename() -> None:
    """The fd-following walk against a rename of the walked directory: DPOR sees every outcome DFS
    sees (footprints of fd-relative steps include the lookup of the directory's current path)."""

    async def walker(fs: Any) -> None:
        try:
            await remove_dir_all(fs, "/p")
        except OSError:
            pass

    async def mover(fs: Any) -> None:
        try:
            await fs.rename("/p/c", "/q")
            await fs.write_file("/q/n", b"n")
        except OSError:
            pass

    def setup(v: Any) -> None:
        v.put("/p/c/f", b"f")

    assert compare_strategies([walker, mover], setup=setup) == []
