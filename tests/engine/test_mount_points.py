"""Mount points (``Vfs.mount``): st_dev, EBUSY and EXDEV as the kernel gives them.

As in test_errno_kernel.py, each row is one call on a prepared tree, and the expected result is
what Linux returns for the same call: the tree is built in a temporary directory with tmpfs
mounted on its mount points, in a private mount namespace (``unshare -m``), and probed from a
child chrooted into it. The model must agree on every backend. Skipped (with the reason) where
the machine does not let this process unshare or mount.
"""

from __future__ import annotations

import errno as E
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from raceproof.fs import BACKENDS, Vfs, make_backend

#: mount roots, in mount order (a nested one after its parent); the files are created after mounting
MOUNTS = ["/t/m1", "/t/m1/n", "/t/m2", "/t/dir/mm"]
DIRS = ["/t/dir", "/t/empty", "/t/m1/d"]
FILES = {"/t/file": b"f", "/t/m1/f": b"g", "/t/m1/n/g": b"h", "/t/dir/mm/x": b"i"}

ROWS: list[tuple[str, tuple[Any, ...]]] = [
    ("rmdir", ("/t/m2",)), ("rmdir", ("/t/m1",)), ("rmdir", ("/t/m1/n",)), ("rmdir", ("/t/m1/d",)),
    ("unlink", ("/t/m2",)),
    ("rename", ("/t/m2", "/t/new")), ("rename", ("/t/empty", "/t/m2")), ("rename", ("/t/file", "/t/m2")),
    ("rename", ("/t/m2", "/t/file")), ("rename", ("/t/m2", "/t/m2")), ("rename", ("/t/m1/n", "/t/m1/n2")),
    ("rename", ("/t/m2", "/t/m2/sub")), ("rename", ("/t/nope", "/t/m2")),
    ("rename", ("/t/m1/f", "/t/f2")), ("rename", ("/t/m1/f", "/t/m1/n/f")), ("rename", ("/t/nope", "/t/m1/x")),
    ("rename", ("/t/m1/f", "/t/m1/d/f")), ("rename", ("/t/dir", "/t/dir2")),
    ("rename", ("/t/m2", "/t/new", "noreplace")), ("rename", ("/t/empty", "/t/m2", "noreplace")),
    ("rename", ("/t/m2", "/t/empty", "exchange")), ("rename", ("/t/m1/f", "/t/file", "exchange")),
    ("link", ("/t/m1/f", "/t/f2")), ("link", ("/t/nope", "/t/m1/x")), ("link", ("/t/m1/f", "/t/m1/d/f")),
    ("samedev", ("/t", "/t/m1")), ("samedev", ("/t/m1", "/t/m1/f")), ("samedev", ("/t/m1", "/t/m1/n")),
    ("samedev", ("/t/m1/d", "/t/m1/f")), ("samedev", ("/t/m1/n/g", "/t/m2")), ("samedev", ("/t/file", "/t/dir")),
]

PROBE = r"""
import ctypes, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
root, mounts, dirs, files, row = sys.argv[1], *[json.loads(a) for a in sys.argv[2:6]]
for m in mounts:
    os.makedirs(root + m, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", root + m], check=True)
for d in dirs:
    os.makedirs(root + d, exist_ok=True)
for p, data in files.items():
    with open(root + p, "w") as fh:
        fh.write(data)
os.chroot(root)
os.chdir("/")
op, args = row
try:
    if op == "samedev":
        print(json.dumps(os.lstat(args[0]).st_dev == os.lstat(args[1]).st_dev))
        sys.exit(0)
    if op == "rename" and len(args) == 3:
        flag = {"noreplace": 1, "exchange": 2}[args[2]]
        if libc.renameat2(-100, args[0].encode(), -100, args[1].encode(), flag) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    elif op == "link":
        os.link(args[0], args[1], follow_symlinks=False)
    else:
        getattr(os, op)(*args)
    print(json.dumps(None))
except OSError as exc:
    print(json.dumps(exc.errno))
"""


def _probe(tmp: Path, row: tuple[str, tuple[Any, ...]]) -> Any:
    root = tmp / "root"
    root.mkdir()
    try:
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, "-c", PROBE, str(root),
             json.dumps(MOUNTS), json.dumps(DIRS), json.dumps({p: d.decode() for p, d in FILES.items()}),
             json.dumps(row)],
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the namespace (and its mounts) ended with the child
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("probing mount points needs root and unshare(1) (a private mount namespace)")
    tmp = tmp_path_factory.mktemp("mounts")
    try:
        _probe(tmp, ("samedev", ("/t", "/t/m1")))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"this machine does not let the tests mount tmpfs in a private namespace: {exc}")
    return [_probe(tmp, row) for row in ROWS]


def _model(backend: str, op: str, args: tuple[Any, ...]) -> Any:
    b = make_backend(backend)
    try:
        vfs = Vfs(b)
        for m in MOUNTS:
            vfs.mount(m)
        for d in DIRS:
            vfs.makedirs(d)
        for p, data in sorted(FILES.items()):
            vfs.put(p, data)
        vfs.reset_ids()
        if op == "samedev":
            return vfs.lstat(args[0]).dev == vfs.lstat(args[1]).dev
        try:
            getattr(vfs, op)(*args)
        except OSError as exc:
            return exc.errno
        return None
    finally:
        b.close()


def _name(v: Any) -> str:
    if v is None:
        return "ok"
    return str(v) if isinstance(v, bool) or not isinstance(v, int) else E.errorcode.get(v, str(v))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mount_points_give_the_kernels_answer(kernel: list[Any], backend: str) -> None:
    wrong = [f"{op}{args}: kernel {_name(want)}, model {_name(got)}"
             for (op, args), want in zip(ROWS, kernel, strict=True)
             if (got := _model(backend, op, args)) != want]
    assert wrong == [], "\n".join(wrong)
    assert E.EBUSY in kernel and E.EXDEV in kernel  # the rows do exercise both


def test_a_mount_moves_with_its_renamed_ancestor() -> None:
    """Without the kernel: after renaming /t/dir, its mount is at /t/dir2/mm (EBUSY there, not at
    the old path, which is gone), and a reset brings the set-up's mounts back."""
    b = make_backend("memory")
    try:
        vfs = Vfs(b)
        for m in MOUNTS:
            vfs.mount(m)
        vfs.reset_ids()
        vfs.rename("/t/dir", "/t/dir2")
        with pytest.raises(OSError) as info:
            vfs.rmdir("/t/dir2/mm")
        assert info.value.errno == E.EBUSY
        assert vfs.dev_of("/t/dir2/mm/x") != 0 and vfs.dev_of("/t/dir/mm") == 0
        vfs.reset_ids()
        assert vfs.dev_of("/t/dir/mm") != 0
    finally:
        b.close()
