"""Fidelity: raceproof's model of Rust std and tar-rs, checked step by step against the real thing.

Each case prepares the same tree on disk and in the model, runs one operation in a compiled
std-only Rust program under ``strace -f`` and in the model, and requires equal step sequences
(system calls mapped to model steps, see ``harness``), equal results and equal final trees.
Skips with a reason when ``rustc`` or ``strace`` is missing (CI installs strace).
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

MISSING = harness.tools_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"fidelity suite needs rustc and strace: {MISSING}")

BASIC: harness.Tree = {
    "r": "dir", "r/a": "dir", "r/a/b": "dir", "r/a/b/f": "file:x", "r/a/g": "file:y", "r/e": "dir",
    "r/f": "file:z", "r/l": "link:../t", "r/lf": "link:f", "r/dl": "link:nowhere", "r/abs": "link:/t",
    "t": "dir", "t/x": "file:k",
}
DEEP: harness.Tree = {"r": "dir", **{"r/" + "/".join(f"d{i}" for i in range(1, n + 1)): "dir" for n in range(1, 8)},
                      "r/d1/d2/d3/d4/d5/d6/d7/f": "file:deep", "r/d1/d2/side": "file:s"}
WIDE: harness.Tree = {"r": "dir", **{f"r/w/n{i:02d}": f"file:{i}" for i in range(24)}, "r/w/sub": "dir",
                      "r/w/sub/q": "file:q"}
LOOP: harness.Tree = {"r": "dir", "r/loop1": "link:loop2", "r/loop2": "link:loop1"}

FS_CASES: list[tuple[str, str, harness.Tree]] = [
    # remove_dir_all
    ("remove_dir_all", "/r", BASIC),
    ("remove_dir_all", "/r/a", BASIC),
    ("remove_dir_all", "/r/e", BASIC),
    ("remove_dir_all", "/r/nope", BASIC),
    ("remove_dir_all", "/r/f", BASIC),
    ("remove_dir_all", "/r/l", BASIC),
    ("remove_dir_all", "/r/l/", BASIC),
    ("remove_dir_all", "/r/dl", BASIC),
    ("remove_dir_all", "/r/a/", BASIC),
    ("remove_dir_all", "/r/nope/x", BASIC),
    ("remove_dir_all", "/r/f/x", BASIC),
    ("remove_dir_all", "/r/d1", DEEP),
    ("remove_dir_all", "/r/w", WIDE),
    ("remove_dir_all", "/r/abs/", BASIC),
    # create_dir_all
    ("create_dir_all", "/r/n1/n2/n3", BASIC),
    ("create_dir_all", "/r/a", BASIC),
    ("create_dir_all", "/r/a/b/c/d", BASIC),
    ("create_dir_all", "/r/f", BASIC),
    ("create_dir_all", "/r/f/x/y", BASIC),
    ("create_dir_all", "/r/l/new", BASIC),
    ("create_dir_all", "/r/l", BASIC),
    ("create_dir_all", "/r/dl", BASIC),
    ("create_dir_all", "/r/dl/x", BASIC),
    ("create_dir_all", "/r/n/", BASIC),
    ("create_dir_all", "/r/a/", BASIC),
    ("create_dir_all", "/r/lf/x", BASIC),
    ("create_dir_all", "/r/d1/d2/d3/d4/d5/d6/d7/d8/d9", DEEP),
    ("create_dir_all", "/new/top", BASIC),
    # canonicalize
    ("canonicalize", "/r/a/b/f", BASIC),
    ("canonicalize", "/r/l/x", BASIC),
    ("canonicalize", "/r/abs", BASIC),
    ("canonicalize", "/r/nope", BASIC),
    ("canonicalize", "/r/nope/x", BASIC),
    ("canonicalize", "/r/f/", BASIC),
    ("canonicalize", "/r/a/", BASIC),
    ("canonicalize", "/r/dl", BASIC),
    ("canonicalize", "/r/loop1", LOOP),
    ("canonicalize", "/r/lf", BASIC),
    # symlink_metadata
    ("symlink_metadata", "/r/f", BASIC),
    ("symlink_metadata", "/r/a", BASIC),
    ("symlink_metadata", "/r/l", BASIC),
    ("symlink_metadata", "/r/nope", BASIC),
    ("symlink_metadata", "/r/f/", BASIC),
    ("symlink_metadata", "/r/l/", BASIC),
    ("symlink_metadata", "/r/f/x", BASIC),
    ("symlink_metadata", "/r/dl", BASIC),
]


async def _fs_op(fs: Any, op: str, path: str) -> Any:
    from raceproof.models import rust_fs

    if op == "remove_dir_all":
        return await rust_fs.remove_dir_all(fs, path)
    if op == "create_dir_all":
        return await rust_fs.create_dir_all(fs, path)
    if op == "canonicalize":
        return await rust_fs.canonicalize(fs, path)
    return (await fs.lstat(path)).kind


def compare(real: harness.RealRun, model: tuple[list[Any], str, dict[str, str]], real_tree: dict[str, str]) -> None:
    steps, result, tree = model
    assert real.steps == steps, "\n".join(
        [f"{'=' if i < min(len(real.steps), len(steps)) and real.steps[i] == steps[i] else '!'} "
         f"real {real.steps[i] if i < len(real.steps) else '-'}  model {steps[i] if i < len(steps) else '-'}"
         for i in range(max(len(real.steps), len(steps)))])
    assert real.result == result
    assert real_tree == tree


@pytest.mark.parametrize(("op", "path", "tree"), FS_CASES,
                         ids=[f"{op}:{path}" for op, path, _ in FS_CASES])
def test_std_operation(bins: dict[str, Path], tmp_path: Path, op: str, path: str, tree: harness.Tree) -> None:
    base = tmp_path / "case"
    base.mkdir()
    harness.make_real(base, tree)
    real = harness.run_real(bins["fsop"], [op, str(base) + path if path != "/" else "/"], base)
    if op == "symlink_metadata" and real.result.startswith("ok "):
        real.result = "ok " + real.result.split()[-1]

    async def body(fs: Any) -> Any:
        return await _fs_op(fs, op, path)

    model = harness.run_model(body, tree, real.listings)
    compare(real, model, harness.real_tree(base))


# --------------------------------------------------------------------------------------------
# tar-rs unpack
# --------------------------------------------------------------------------------------------


def _tar(members: list[tuple[str, str, str]], fmt: int = tarfile.USTAR_FORMAT, mode: int = 0o644) -> bytes:
    """members: (name, kind, data-or-target) with kind file/dir/symlink/hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = 0o755 if kind == "dir" else mode
            if kind == "file":
                info.size = len(arg)
                tf.addfile(info, io.BytesIO(arg.encode()))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = arg
            tf.addfile(info)
    return buf.getvalue()


def _rechecksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:155] = f"{sum(block):06o}\0".encode()


def _old_style_dir() -> bytes:
    """A v7 (not ustar) header typed as a regular file whose name ends in '/': tar-rs makes a dir."""
    data = bytearray(_tar([("old/", "file", ""), ("old/in", "file", "i")]))
    data[257:265] = b"\0" * 8
    data[345:500] = b"\0" * 155
    _rechecksum(data)  # (first header only: a ustar second header is fine)
    head = bytearray(data[:512])
    _rechecksum(head)
    return bytes(head) + bytes(data[512:])


def _dir_with_size() -> bytes:
    """A directory entry whose size field is nonzero: its data is skipped, not parsed as headers."""
    payload = _tar([("evil", "file", "from inside the dir entry")])[:1024]
    head = bytearray(_tar([("d", "dir", "")])[:512])
    head[124:136] = f"{len(payload):011o}\0".encode()
    _rechecksum(head)
    return bytes(head) + payload + _tar([("after", "file", "a")])


def _pax_global() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "hi"}) as tf:
        info = tarfile.TarInfo("g.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"g"))
    return buf.getvalue()


LONG = "long/" + "n" * 60 + "/" + "m" * 70 + "/file.txt"
SIMPLE = _tar([("sub/", "dir", ""), ("sub/a.txt", "file", "a"), ("b.txt", "file", "b"),
               ("ln", "symlink", "sub/a.txt"), ("sub/deep/c.txt", "file", "c")])
DST = {"r": "dir"}
TAR_CASES: list[tuple[str, bytes, harness.Tree, str]] = [
    ("simple-new-dst", SIMPLE, DST, "/r/dst"),
    ("simple-existing-dst", SIMPLE, {"r": "dir", "r/dst": "dir", "r/dst/old": "file:o"}, "/r/dst"),
    ("stale-file-where-dir", SIMPLE, {"r": "dir", "r/dst": "dir", "r/dst/sub": "file:stale"}, "/r/dst"),
    ("dotdot-and-absolute", _tar([("../escape", "file", "e"), ("a/../../x", "file", "x"), ("/abs/y", "file", "y"),
                                  ("./dot/z", "file", "z")]), DST, "/r/dst"),
    ("symlink-escape", _tar([("out", "symlink", "../../t"), ("out/pwned", "file", "p")]),
     {"r": "dir", "t": "dir"}, "/r/dst"),
    ("symlink-then-file", _tar([("x", "symlink", "target"), ("x", "file", "replaced")]), DST, "/r/dst"),
    ("file-then-file", _tar([("x", "file", "one"), ("x", "file", "two")]), DST, "/r/dst"),
    ("hardlink-inside", _tar([("f", "file", "data"), ("h", "hardlink", "f")]), DST, "/r/dst"),
    ("hardlink-outside", _tar([("h", "hardlink", "../../t/x")]), {"r": "dir", "t": "dir", "t/x": "file:k"}, "/r/dst"),
    ("gnu-long-names", _tar([(LONG, "file", "L"), ("short", "symlink", "s/" + "t" * 120)], tarfile.GNU_FORMAT),
     DST, "/r/dst"),
    ("pax-long-names", _tar([(LONG, "file", "P"), ("plink", "symlink", "p/" + "q" * 120)], tarfile.PAX_FORMAT),
     DST, "/r/dst"),
    ("pax-global-header", _pax_global(), DST, "/r/dst"),
    ("old-style-dir-name", _old_style_dir(), DST, "/r/dst"),
    ("dir-entry-with-size", _dir_with_size(), DST, "/r/dst"),
    ("truncated-in-data", SIMPLE[:512 * 3 + 100], DST, "/r/dst"),
    ("truncated-on-boundary", SIMPLE[:512 * 4], DST, "/r/dst"),
    ("truncated-in-header", SIMPLE[:512 * 4 + 200], DST, "/r/dst"),
    ("dst-is-symlink", SIMPLE, {"r": "dir", "r/real": "dir", "r/dst": "link:real"}, "/r/dst"),
    ("empty-symlink-target", _tar([("e", "symlink", "")]), DST, "/r/dst"),
    ("dir-over-symlink", _tar([("d", "symlink", "../../t"), ("d", "dir", "")]), {"r": "dir", "t": "dir"}, "/r/dst"),
    ("dirs-deferred-sorted", _tar([("z/", "dir", ""), ("a/", "dir", ""), ("a/b/", "dir", ""), ("m/f", "file", "f")]),
     DST, "/r/dst"),
    ("stale-symlink-in-dst", _tar([("child/x", "file", "x")]),
     {"r": "dir", "r/dst": "dir", "r/dst/child": "link:/t", "t": "dir"}, "/r/dst"),
    ("bad-checksum", SIMPLE[:148] + b"9" + SIMPLE[149:], DST, "/r/dst"),
]


@pytest.mark.parametrize(("name", "archive", "tree", "dst"), TAR_CASES, ids=[c[0] for c in TAR_CASES])
def test_tar_unpack(bins: dict[str, Path], tmp_path: Path, name: str, archive: bytes, tree: harness.Tree,
                    dst: str) -> None:
    from raceproof.models import tar

    base = tmp_path / "case"
    base.mkdir()
    harness.make_real(base, tree)
    (tmp_path / "a.tar").write_bytes(archive)
    real = harness.run_real(bins["untar"], [str(tmp_path / "a.tar"), str(base) + dst], base)

    async def body(fs: Any) -> Any:
        return await tar.unpack(fs, dst, archive)

    model = harness.run_model(body, tree, real.listings)
    compare(real, model, harness.real_tree(base))


def test_case_count() -> None:
    assert len(FS_CASES) + len(TAR_CASES) >= 40
