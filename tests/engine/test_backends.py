"""Backends: differential runs (memory = fake = real), Vfs errno semantics, and the sandboxes."""

from __future__ import annotations

import errno as E
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import BACKENDS, FIXED, INCIDENT, observation, run_choosers, run_strategy

from raceproof import token as tokens
from raceproof.errors import SandboxViolation
from raceproof.exploration import FunctionProgram
from raceproof.fs import Vfs, make_backend
from raceproof.fs.fake import FakeBackend
from raceproof.fs.real import RealBackend
from raceproof.scenario import load
from raceproof.sfs import SchedFS
from raceproof.strategies.random import RandomWalk
from raceproof.strategies.replay import ReplayChooser

# --------------------------------------------------------------------------------------------
# differential: the same schedules on every backend give the same executions
# --------------------------------------------------------------------------------------------


def _same_everywhere(per_backend: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    base = per_backend["memory"]
    assert base, "no executions ran"
    for name in BACKENDS[1:]:
        other = per_backend[name]
        assert len(other) == len(base), f"{name}: {len(other)} executions, memory: {len(base)}"
        for i, (a, b) in enumerate(zip(base, other, strict=True)):
            for key in a:
                assert a[key] == b[key], f"{name} differs from memory in execution {i}: {key}"
    return base


@pytest.mark.parametrize("path", [INCIDENT, FIXED], ids=["incident", "fixed"])
def test_incident_random_schedules_identical_on_all_backends(path: str) -> None:
    scenario = load(path)
    program = scenario.program()
    choosers: list[Any] = [lambda s=s: RandomWalk(seed=s).next_execution() for s in range(4)]
    if scenario.token:
        choices = tokens.decode(scenario.token, program.digest)
        choosers.append(lambda: ReplayChooser(choices))
    per = {b: [observation(ex) for ex in run_choosers(program, b, choosers)] for b in BACKENDS}
    base = _same_everywhere(per)
    # the schedules really differ from each other, and the incident ones fail
    assert len({tuple(o["trace"]) for o in base}) == len(base)
    if scenario.algorithm == "pre-cleanup":
        assert any(o["violations"] for o in base)
    else:
        assert not any(o["violations"] for o in base)


async def _try(aw: Any) -> Any:
    try:
        return await aw
    except OSError:
        return None


async def links_writer(fs: SchedFS) -> None:
    await _try(fs.symlink("/d/sub", "/d/ln"))            # absolute target: chroot-style
    await _try(fs.write_file("/d/ln/new", b"via link"))  # through the link (if still there)
    await _try(fs.symlink("/nowhere/x", "/d/dang"))      # dangling
    await _try(fs.write_file("/d/dang", b"no parent"))   # ENOENT: the target's parent is missing
    await _try(fs.readlink("/d/ln"))
    await _try(fs.realpath("/d/ln/new"))


async def links_mover(fs: SchedFS) -> None:
    await _try(fs.stat("/d/ln"))
    await _try(fs.listdir("/d/ln"))
    await _try(fs.unlink("/d/ln"))
    await _try(fs.rename("/d/sub", "/d/sub2"))
    await _try(fs.realpath("/d/dang"))


async def hardlinks_open(fs: SchedFS) -> None:
    await _try(fs.link("/w/a", "/w/b"))
    h = await _try(fs.open("/w/a", "a"))
    if h is not None:
        await _try(fs.write(h, b"1", "/w/a"))
        await _try(fs.unlink("/w/a"))                 # unlink while open
        await _try(fs.write(h, b"2", "/w/a"))         # still writable: the inode lives on
        await _try(fs.close(h, "/w/a"))
    await _try(fs.read_file("/w/b"))


async def renamer(fs: SchedFS) -> None:
    await _try(fs.rename("/w/b", "/w/c"))
    await _try(fs.rename("/w/dir", "/w/empty"))      # onto an empty directory: replaces it
    await _try(fs.rename("/w/c", "/w/dir2"))
    await _try(fs.rename("/w/empty", "/w/empty/deeper"))  # into itself: EINVAL


async def errnos_a(fs: SchedFS) -> None:
    await _try(fs.rmdir("/e/full"))             # ENOTEMPTY (unless emptied)
    await _try(fs.mkdir("/e/full"))             # EEXIST
    await _try(fs.listdir("/e/file"))           # ENOTDIR
    await _try(fs.open("/e/full", "w"))         # EISDIR
    await _try(fs.mkdir("/e/file/sub"))         # ENOTDIR


async def errnos_b(fs: SchedFS) -> None:
    await _try(fs.opendir("/e/full"))          # the public step renders "ok", never an inode
    await _try(fs.unlink("/e/full/x"))
    await _try(fs.rmdir("/e/full"))
    await _try(fs.unlink("/e/full"))            # EISDIR or ENOENT
    await _try(fs.rmdir("/e/file"))             # ENOTDIR


async def tree_remover(fs: SchedFS) -> None:
    await _try(fs.remove_dir_all("/r"))


async def tree_filler(fs: SchedFS) -> None:
    await _try(fs.create_dir_all("/r/sub/deep"))
    await _try(fs.write_file("/r/sub/deep/f", b"late"))
    await _try(fs.symlink("/keep", "/r/sub/out"))   # remove_dir_all must unlink it, never follow it


def _setup_links(vfs: Vfs) -> None:
    vfs.put("/d/f", b"x")
    vfs.makedirs("/d/sub")


def _setup_w(vfs: Vfs) -> None:
    vfs.put("/w/a", b"A")
    vfs.put("/w/dir/x", b"X")
    vfs.makedirs("/w/empty")


def _setup_e(vfs: Vfs) -> None:
    vfs.put("/e/full/x", b"x")
    vfs.put("/e/file", b"f")


def _setup_r(vfs: Vfs) -> None:
    vfs.put("/r/sub/a", b"a")
    vfs.put("/r/b", b"b")
    vfs.put("/keep/precious", b"p")
    vfs.symlink("/keep", "/r/tokeep")


PROGRAMS = {
    "symlinks": ([links_writer, links_mover], _setup_links),
    "hardlinks-rename-unlink-open": ([hardlinks_open, renamer], _setup_w),
    "errnos": ([errnos_a, errnos_b], _setup_e),
    "remove_dir_all-vs-create": ([tree_remover, tree_filler], _setup_r),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_custom_programs_identical_on_all_backends(name: str) -> None:
    bodies, setup = PROGRAMS[name]
    per = {}
    for backend in BACKENDS:
        program = FunctionProgram(bodies, setup=setup)
        executions = run_strategy(program, backend, "dpor", limit=60)
        per[backend] = [observation(ex) | {"aborted": ex.aborted} for ex in executions]
    base = _same_everywhere(per)
    # the programs do reach the errors they are about, in some execution
    results = {r for o in base for (_t, _op, _p, r) in o["trace"]}
    expected_errors = {
        "symlinks": {"-1 ENOENT"},
        "hardlinks-rename-unlink-open": {"-1 EINVAL"},
        "errnos": {"-1 ENOTEMPTY", "-1 EEXIST", "-1 ENOTDIR", "-1 EISDIR"},
        "remove_dir_all-vs-create": set(),
    }[name]
    assert expected_errors <= results
    assert len({tuple(o["trace"]) for o in base}) > 1, "DPOR explored a single interleaving only"


def test_remove_dir_all_never_follows_links_on_any_backend() -> None:
    bodies, setup = PROGRAMS["remove_dir_all-vs-create"]
    for backend in BACKENDS:
        for ex in run_strategy(FunctionProgram(bodies, setup=setup), backend, "dpor", limit=60):
            if not ex.aborted:
                assert ex.tree.get("/keep/precious") == "file:" + b"p".hex(), backend


# --------------------------------------------------------------------------------------------
# Vfs errno semantics, on every backend
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def vfs(request: pytest.FixtureRequest) -> Iterator[Vfs]:
    backend = make_backend(request.param)
    v = Vfs(backend)
    v.put("/t/file", b"data")
    v.makedirs("/t/dir/sub")
    v.put("/t/full/x", b"x")
    v.symlink("/t/dir", "/t/ldir")
    v.symlink("/t/missing", "/t/dangling")
    v.symlink("/t/loop2", "/t/loop1")
    v.symlink("/t/loop1", "/t/loop2")
    yield v
    v.reset_ids()
    backend.close()


def _errno(fn: Any, *args: Any, **kw: Any) -> int | None:
    try:
        fn(*args, **kw)
    except OSError as exc:
        return exc.errno
    return None


# the errno of every failing call is checked against the kernel itself: test_errno_kernel.py


def test_vfs_success_semantics(vfs: Vfs) -> None:
    # a dangling symlink is created *through* by open("w") (not by "x")
    h = vfs.open("/t/dangling", "w")
    vfs.write(h, b"made")
    vfs.close(h)
    assert vfs.read_file("/t/missing") == b"made"
    assert vfs.lstat("/t/dangling").kind == "link"
    # a listing through a symlink to a directory
    assert vfs.listdir("/t/ldir") == [("sub", "dir")]
    # absolute link targets resolve inside the namespace
    assert vfs.realpath("/t/ldir/sub") == "/t/dir/sub"
    # unlink removes the link, not its target
    vfs.unlink("/t/ldir")
    assert vfs.stat("/t/dir").kind == "dir"
    # rename a file over a file and a directory over an empty directory
    vfs.put("/t/other", b"other")
    vfs.rename("/t/other", "/t/file")
    assert vfs.read_file("/t/file") == b"other"
    vfs.makedirs("/t/empty")
    vfs.rename("/t/dir", "/t/empty")
    assert vfs.listdir("/t/empty") == [("sub", "dir")]
    assert _errno(vfs.lstat, "/t/dir") == E.ENOENT
    # rmdir of an emptied directory
    vfs.unlink("/t/full/x")
    vfs.rmdir("/t/full")
    assert "/t/full" not in vfs.tree()


def test_vfs_hard_links_and_unlink_while_open(vfs: Vfs) -> None:
    vfs.link("/t/file", "/t/hard")
    h = vfs.open("/t/hard", "a")
    vfs.write(h, b"+1")
    assert vfs.read_file("/t/file") == b"data+1"        # one inode, two names
    vfs.unlink("/t/file")
    vfs.unlink("/t/hard")
    assert vfs.write(h, b"+2") == 2                     # the open inode outlives its names
    vfs.close(h)
    tree = vfs.tree()
    assert "/t/file" not in tree and "/t/hard" not in tree


def test_vfs_rename_of_two_hard_links_to_one_file_does_nothing(vfs: Vfs) -> None:
    # rename(2): "If oldpath and newpath are existing hard links referring to the same file, then
    # rename() does nothing, and returns a success status."
    vfs.link("/t/file", "/t/hard")
    vfs.rename("/t/file", "/t/hard")
    tree = vfs.tree()
    assert "/t/file" in tree and "/t/hard" in tree


def test_tree_shows_hard_links(vfs: Vfs) -> None:
    vfs.put("/t/copy", b"data")
    vfs.link("/t/file", "/t/hard")
    tree = vfs.tree()
    assert tree["/t/copy"] == "file:" + b"data".hex()
    # a second name of one inode is told apart from an independent copy of the same bytes
    assert {tree["/t/file"], tree["/t/hard"]} == {"file:" + b"data".hex(), "hardlink:/t/file"}


def test_tree_is_sorted_and_backend_independent() -> None:
    trees = []
    for name in BACKENDS:
        backend = make_backend(name)
        try:
            v = Vfs(backend)
            for p in ("/z/b", "/a/c", "/a/b", "/m", "/a-c/x"):
                v.put(p, p.encode())
            v.symlink("../a", "/z/l")
            v.link("/z/b", "/a/h")  # walk order decides which name is the first
            trees.append((list(v.tree().items()), list(v.tree("/a").items()), v.tree("/m")))
        finally:
            backend.close()
    assert trees[0] == trees[1] == trees[2]  # the memory backend's own table read gives the same walk
    names = [p for p, _ in trees[0][0]]
    assert names == ["/a", "/a/b", "/a/c", "/a/h", "/a-c", "/a-c/x", "/m", "/z", "/z/b", "/z/l"]
    assert dict(trees[0][0])["/z/l"] == "link:../a"
    assert dict(trees[0][0])["/z/b"] == "hardlink:/a/h"
    assert [p for p, _ in trees[0][1]] == ["/a/b", "/a/c", "/a/h"] and trees[0][2] == {}


# --------------------------------------------------------------------------------------------
# sandboxes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["relative/x", "", "/a/../b", "/..", "/a/./b", "/a//b", "/a/", "/a\0b"])
def test_real_host_refuses_bad_paths(bad: str) -> None:
    backend = RealBackend()
    try:
        with pytest.raises(SandboxViolation):
            backend.host(bad)
        assert backend.host("/") == backend.root
        assert backend.host("/a/b") == os.path.join(backend.root, "a", "b")
    finally:
        backend.close()
    assert not os.path.exists(backend.root)


def _listing(path: str) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full) and not os.path.islink(full):
            with open(full, "rb") as fh:
                out[name] = fh.read()
        else:
            out[name] = None
    return out


@pytest.fixture
def jail(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A temp dir whose parent holds sentinels; real backends are created inside it."""
    outer = tmp_path / "outer"
    tmpdir = outer / "tmp"
    tmpdir.mkdir(parents=True)
    (outer / "sentinel").write_bytes(b"must survive")
    (tmpdir / "sentinel").write_bytes(b"must survive too")
    (tmpdir / "etc").mkdir()
    (tmpdir / "etc" / "passwd").write_bytes(b"root:x:0:0")
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    yield str(outer), str(tmpdir)


async def _escaper(fs: SchedFS) -> None:
    for target in ("/", "/etc", "../../..", "../../../..", "/../.."):
        name = "/home/esc" + str(abs(hash(target)) % 1000)
        await _try(fs.symlink(target, name))
        await _try(fs.write_file(name + "/sentinel", b"overwritten"))
        await _try(fs.write_file(name + "/etc/passwd", b"overwritten"))
        await _try(fs.mkdir(name + "/tmp"))
        await _try(fs.remove_dir_all(name + "/etc"))
        await _try(fs.remove_dir_all(name + "/tmp"))
        await _try(fs.unlink(name + "/sentinel"))
        await _try(fs.create_dir_all(name + "/new/dir"))


def test_real_backend_links_out_of_the_namespace_stay_inside(jail: tuple[str, str]) -> None:
    outer, tmpdir = jail
    before_outer, before_tmp = _listing(outer), _listing(tmpdir)
    program = FunctionProgram([_escaper], setup=lambda v: v.makedirs("/home"))
    [ex] = run_strategy(program, "real", "dfs", limit=1)
    assert not ex.violations, ex.violations
    # the writes went somewhere: inside the namespace, chroot-style
    assert ex.tree.get("/sentinel") is None or ex.tree["/sentinel"] == "file:" + b"overwritten".hex()
    assert any(p.startswith("/new/dir") or p == "/new/dir" for p in ex.tree)
    assert _listing(outer) == before_outer
    # the backend's own root is gone after close, and nothing else in its parent changed
    assert _listing(tmpdir) == before_tmp
    with open(os.path.join(tmpdir, "etc", "passwd"), "rb") as fh:
        assert fh.read() == b"root:x:0:0"


def test_real_backend_refuses_a_host_symlink_in_an_ancestor(jail: tuple[str, str]) -> None:
    _outer, tmpdir = jail
    backend = RealBackend()
    try:
        assert os.path.dirname(backend.root) == os.path.realpath(tmpdir)
        vfs = Vfs(backend)
        vfs.makedirs("/home")
        vfs.symlink("../../..", "/home/up")  # a real symlink on disk pointing out of the root
        with pytest.raises(SandboxViolation):
            backend.host("/home/up/sentinel")
        with pytest.raises(SandboxViolation):
            backend.unlink("/home/up/sentinel")
        # through Vfs the link resolves chroot-style: /home/up -> /
        assert vfs.realpath("/home/up") == "/"
        assert _errno(vfs.unlink, "/home/up/sentinel") == E.ENOENT
    finally:
        backend.close()
    with open(os.path.join(tmpdir, "sentinel"), "rb") as fh:
        assert fh.read() == b"must survive too"


def test_fake_backend_never_touches_the_disk(tmp_path: Any) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (real_dir / "sentinel").write_bytes(b"real")
    (real_dir / "sub").mkdir()
    (real_dir / "sub" / "f").write_bytes(b"real too")
    before = sorted(os.walk(tmp_path))
    base = str(real_dir)

    async def wrecker(fs: SchedFS) -> None:
        await _try(fs.remove_dir_all(base))
        await _try(fs.create_dir_all(base + "/made/here"))
        await _try(fs.write_file(base + "/sentinel", b"fake"))
        await _try(fs.symlink(base, base + "/made/link"))
        await _try(fs.remove_dir_all(base + "/sub"))

    def setup(v: Vfs) -> None:
        v.put(base + "/sentinel", b"fake copy")
        v.put(base + "/sub/f", b"fake copy")

    [ex] = run_strategy(FunctionProgram([wrecker], setup=setup), "fake", "dfs", limit=1)
    assert ex.tree[base + "/sentinel"] == "file:" + b"fake".hex()
    assert base + "/made/here" in ex.tree
    assert sorted(os.walk(tmp_path)) == before
    assert (real_dir / "sentinel").read_bytes() == b"real"
    assert (real_dir / "sub" / "f").read_bytes() == b"real too"
    assert not (real_dir / "made").exists()
    # and the fake filesystem is a private one, not the process-wide patched one
    fb = FakeBackend()
    assert not fb.os.path.exists(base)
