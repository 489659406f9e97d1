"""Errno semantics from the kernel, not from a table.

Each row is one operation on a prepared tree. The expected errno is what Linux itself returns for
the same call on the same tree, built in a temporary directory and probed from a child process
chrooted into it (so absolute symlink targets resolve inside it, as they do in raceproof's
namespace). The model (``Vfs``) must agree on every backend, except for the deliberate
differences listed in ``DIFFERENCES``, each with its reason.
"""

from __future__ import annotations

import errno as E
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raceproof.fs import BACKENDS, Vfs, make_backend

FILES = {"/t/file": b"data", "/t/full/x": b"x"}
DIRS = ["/t/dir/sub", "/t/empty"]
LINKS = {"/t/ldir": "/t/dir", "/t/lfile": "/t/file", "/t/dangling": "/t/missing",
         "/t/loop1": "/t/loop2", "/t/loop2": "/t/loop1", "/t/rel": "dir"}

# (operation, arguments): the Vfs method and the system call the probe makes for it
ROWS: list[tuple[str, tuple[Any, ...]]] = [
    ("mkdir", ("/t/dir",)), ("mkdir", ("/t/file",)), ("mkdir", ("/t/dangling",)), ("mkdir", ("/t/nope/x",)),
    ("mkdir", ("/t/file/x",)), ("mkdir", ("/t/ldir/new",)), ("mkdir", ("/t/loop1/x",)), ("mkdir", ("/t/new",)),
    ("rmdir", ("/t/full",)), ("rmdir", ("/t/file",)), ("rmdir", ("/t/ldir",)), ("rmdir", ("/t/nope",)),
    ("rmdir", ("/t/empty",)), ("rmdir", ("/t/dangling",)), ("rmdir", ("/t/file/x",)),
    ("unlink", ("/t/dir",)), ("unlink", ("/t/nope",)), ("unlink", ("/t/ldir",)), ("unlink", ("/t/file",)),
    ("unlink", ("/t/file/x",)), ("unlink", ("/t/dangling",)),
    ("listdir", ("/t/file",)), ("listdir", ("/t/nope",)), ("listdir", ("/t/dangling",)), ("listdir", ("/t/ldir",)),
    ("listdir", ("/t/loop1",)), ("listdir", ("/t/dir",)),
    ("opendir", ("/t/ldir",)), ("opendir", ("/t/lfile",)), ("opendir", ("/t/file",)), ("opendir", ("/t/nope",)),
    ("opendir", ("/t/dir",)), ("opendir", ("/t/dangling",)),
    ("open", ("/t/dir", "w")), ("open", ("/t/dir", "r")), ("open", ("/t/dir", "x")), ("open", ("/t/file", "x")),
    ("open", ("/t/dangling", "x")), ("open", ("/t/dangling", "r")), ("open", ("/t/nope", "r")),
    ("open", ("/t/loop1", "r")), ("open", ("/t/file/x", "w")), ("open", ("/t/nope/x", "w")),
    ("open", ("/t/lfile", "a")), ("open", ("/t/file", "r")),
    ("stat", ("/t/dangling",)), ("stat", ("/t/loop1",)), ("stat", ("/t/file/x",)), ("stat", ("/t/ldir",)),
    ("lstat", ("/t/dangling",)), ("lstat", ("/t/nope",)), ("lstat", ("/t/file/x",)), ("lstat", ("/t/loop1/x",)),
    ("realpath", ("/t/nope",)), ("realpath", ("/t/dangling",)), ("realpath", ("/t/file/x",)),
    ("realpath", ("/t/loop1",)), ("realpath", ("/t/rel/sub",)),
    ("readlink", ("/t/file",)), ("readlink", ("/t/nope",)), ("readlink", ("/t/dir",)), ("readlink", ("/t/ldir",)),
    ("symlink", ("/x", "/t/file")), ("symlink", ("", "/t/new")), ("symlink", ("/x", "/t/nope/new")),
    ("symlink", ("/x", "/t/dangling")), ("symlink", ("/x", "/t/file/new")),
    ("link", ("/t/dir", "/t/new")), ("link", ("/t/file", "/t/dir")), ("link", ("/t/nope", "/t/new")),
    ("link", ("/t/file", "/t/nope/new")), ("link", ("/t/dangling", "/t/new2")), ("link", ("/t/dir", "/t/empty")),
    ("link", ("/t/dir", "/t/file")), ("link", ("/t/nope", "/t/file")),
    ("rename", ("/t/nope", "/t/new")), ("rename", ("/t/dir", "/t/file")), ("rename", ("/t/file", "/t/dir")),
    ("rename", ("/t/dir", "/t/full")), ("rename", ("/t/dir", "/t/dir/sub/in")), ("rename", ("/t/file", "/t/nope/new")),
    ("rename", ("/t/dir", "/t/empty")), ("rename", ("/t/file", "/t/lfile")), ("rename", ("/t/ldir", "/t/empty")),
    ("rename", ("/t/full/x", "/t/full")), ("rename", ("/t/dir/sub", "/t/dir")), ("rename", ("/t/dir/sub", "/t")),
    # renameat2(2): RENAME_NOREPLACE and RENAME_EXCHANGE
    ("rename", ("/t/file", "/t/new", "noreplace")), ("rename", ("/t/file", "/t/dir", "noreplace")),
    ("rename", ("/t/dir", "/t/empty", "noreplace")), ("rename", ("/t/nope", "/t/file", "noreplace")),
    ("rename", ("/t/file", "/t/dangling", "noreplace")), ("rename", ("/t/file", "/t/file", "noreplace")),
    ("rename", ("/t/dir", "/t/dir/sub/in", "noreplace")), ("rename", ("/t/file", "/t/nope/new", "noreplace")),
    ("rename", ("/t/dir", "/t/full", "exchange")), ("rename", ("/t/dir", "/t/file", "exchange")),
    ("rename", ("/t/file", "/t/new", "exchange")), ("rename", ("/t/nope", "/t/file", "exchange")),
    ("rename", ("/t/dir", "/t/dir/sub", "exchange")), ("rename", ("/t/dir/sub", "/t/dir", "exchange")),
    ("rename", ("/t/file", "/t/file", "exchange")), ("rename", ("/t/ldir", "/t/dangling", "exchange")),
    ("rename", ("/t/full/x", "/t/empty", "exchange")),
]

#: where the model differs from the kernel on purpose: (op, args) -> (model errno, reason)
DIFFERENCES: dict[tuple[str, tuple[Any, ...]], tuple[int, str]] = {
    ("open", ("/t/dir", "r")): (E.EISDIR, "Python's open() and Rust's File::open of a directory for reading: "
                                          "open(2) succeeds, then reading fails with EISDIR; the model reports "
                                          "it at open (no model reads a directory through open)"),
}

PROBE = r"""
import errno, json, os, sys
import ctypes
libc = ctypes.CDLL(None, use_errno=True)  # loaded before the chroot hides the library
root, rows = sys.argv[1], json.loads(sys.stdin.read())
os.chroot(root)
os.chdir("/")
FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
         "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL, "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND}
def call(op, args):
    if op == "opendir":
        os.close(os.open(args[0], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
    elif op == "open":
        os.close(os.open(args[0], FLAGS[args[1]] | os.O_CLOEXEC, 0o644))
    elif op == "listdir":
        os.listdir(args[0])
    elif op == "realpath":
        os.path.realpath(args[0], strict=True)
    elif op == "link":
        os.link(args[0], args[1], follow_symlinks=False)
    elif op == "symlink":
        os.symlink(args[0], args[1])
    elif op == "rename" and len(args) == 3:  # renameat2(AT_FDCWD, src, AT_FDCWD, dst, flag)
        flag = {"noreplace": 1, "exchange": 2}[args[2]]
        if libc.renameat2(-100, args[0].encode(), -100, args[1].encode(), flag) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    else:
        getattr(os, op)(*args)
out = []
for op, args in rows:
    try:
        call(op, args)
        out.append(None)
    except OSError as exc:
        out.append(exc.errno)
    except ValueError:  # os.symlink("") and friends
        out.append("ValueError")
print(json.dumps(out))
"""


def _build_host(root: Path) -> None:
    for d in DIRS:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for p, data in FILES.items():
        (root / p.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / p.lstrip("/")).write_bytes(data)
    for p, target in LINKS.items():
        os.symlink(target, root / p.lstrip("/"))


def _build_model(vfs: Vfs) -> None:
    for d in DIRS:
        vfs.makedirs(d)
    for p, data in sorted(FILES.items()):
        vfs.put(p, data)
    for p, target in sorted(LINKS.items()):
        vfs.symlink(target, p)


def kernel_errnos(tmp: Path) -> list[int | None]:
    """Every row run by the kernel, each on a fresh copy of the tree."""
    out: list[int | None] = []
    for i, row in enumerate(ROWS):
        root = tmp / f"row{i}"
        root.mkdir()
        _build_host(root)
        proc = subprocess.run([sys.executable, "-c", PROBE, str(root)], input=json.dumps([row]),
                              capture_output=True, text=True, check=True)
        (value,) = json.loads(proc.stdout)
        out.append(E.ENOENT if value == "ValueError" else value)  # symlink(""): ENOENT (getname)
    return out


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> list[int | None]:
    if os.geteuid() != 0:
        pytest.skip("probing the kernel needs chroot (run as root, as CI does)")
    return kernel_errnos(tmp_path_factory.mktemp("kernel"))


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest) -> Iterator[Any]:
    backends = []

    def make() -> Vfs:
        backend = make_backend(request.param)
        backends.append(backend)
        vfs = Vfs(backend)
        _build_model(vfs)
        return vfs

    yield make
    for b in backends:
        b.close()


def _model_errno(vfs: Vfs, op: str, args: tuple[Any, ...]) -> int | None:
    try:
        result = getattr(vfs, op)(*args)
        if op == "open":
            vfs.close(result)
    except OSError as exc:
        return exc.errno
    return None


def _name(code: int | None) -> str:
    return "ok" if code is None else E.errorcode.get(code, str(code))


def test_the_model_gives_the_kernels_errno_on_every_backend(kernel: list[int | None], fresh: Any) -> None:
    wrong = []
    for (op, args), want in zip(ROWS, kernel, strict=True):
        want = DIFFERENCES.get((op, args), (want, ""))[0]
        got = _model_errno(fresh(), op, args)
        if got != want:
            wrong.append(f"{op}{args}: kernel {_name(want)}, model {_name(got)}")
    assert wrong == [], "\n".join(wrong)


def test_every_deliberate_difference_is_still_a_difference(kernel: list[int | None]) -> None:
    """A difference the kernel no longer shows must leave the list (it would hide a regression)."""
    for key, (model, _reason) in DIFFERENCES.items():
        assert kernel[ROWS.index(key)] != model, key


def test_rows_cover_every_failing_operation_kind() -> None:
    """The table holds at least 40 rows across every Vfs step the models use."""
    assert len(ROWS) >= 40
    assert {op for op, _ in ROWS} >= {"mkdir", "rmdir", "unlink", "listdir", "opendir", "open", "stat", "lstat",
                                     "realpath", "readlink", "symlink", "link", "rename"}
