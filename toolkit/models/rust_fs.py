"""Rust ``std::fs`` semantics as walks of steps (Rust 1.95 on Linux; sources in
SEMANTICS-AND-FAULTS.md §1.1-1.3).

- ``remove_dir_all``: ``lstat`` the root (a symlink is unlinked, not followed), then a lazy,
  no-follow walk: ``opendir`` (``openat(O_DIRECTORY|O_NOFOLLOW)``), ``readdir`` batches interleaved
  with ``unlink``s and recursion, final ``rmdir``. Below the root every step is fd-relative, as in
  Rust: it acts on the directory the walk *opened* (``Vfs`` checks its inode), so a directory
  removed and re-created by a sibling is dead to the walk: its ``readdir`` is empty and its final
  ``unlinkat(parent, name, AT_REMOVEDIR)`` hits the *new* directory by name (ENOTEMPTY if it has
  entries), exactly like the kernel. A root removed after ``opendir`` reads as empty and its
  ``rmdir`` NotFound is ignored (``Ok``); NotFound is returned only from the first ``lstat`` or
  the root's ``opendir``. ENOENT of anything below the root is tolerated
  (Rust >= 1.82, PR #127623; ``tolerate_enoent=False`` models older toolchains). An entry created
  behind the walk makes the final ``rmdir`` fail with ENOTEMPTY: not tolerated.
  Each ``readdir`` returns the entries not yet seen; a batch that brings nothing new ends the
  walk. Whether a concurrently added entry is seen is therefore decided by the interleaving.
- ``create_dir_all``: ``mkdir``; on ENOENT recurse on the parent then ``mkdir`` again; any other
  error is fine if ``is_dir`` (which follows symlinks). Tolerates a concurrent creator, not a
  concurrent deleter. ``create_dir_all("/")`` is a real ``mkdir("/")`` (EEXIST) + ``is_dir``.
- ``canonicalize``: ``realpath(3)``, one step; ENOENT on a missing component.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from raceproof.fs.base import join, parent_of

if TYPE_CHECKING:
    from raceproof.sfs import SchedFS


async def create_dir_all(fs: SchedFS, path: str) -> None:
    if path == "":
        return
    try:
        await fs.mkdir(path)
        return
    except FileNotFoundError:
        pass
    except OSError:
        if await fs.is_dir(path):
            return
        raise
    if path == "/":  # no parent left (unreachable on Linux: mkdir("/") is EEXIST)
        raise OSError(E.ENOENT, "failed to create whole tree", path)
    await create_dir_all(fs, parent_of(path))
    try:
        await fs.mkdir(path)
    except OSError:
        if await fs.is_dir(path):
            return
        raise


def _ok(_: object) -> str:
    return "ok"


async def _opendir(fs: SchedFS, path: str, at: int | None) -> int:
    """``openat(at or AT_FDCWD, name, O_DIRECTORY|O_NOFOLLOW)``; the inode identifies the fd."""
    vfs = fs.vfs
    return int(await fs._step("opendir", path, lambda: vfs.open_dir(path, at=at), render=_ok))


async def _readdir(fs: SchedFS, path: str, ino: int) -> list[tuple[str, str]]:
    """One ``readdir`` batch on the open directory `ino` (a dead directory lists as empty)."""
    vfs = fs.vfs
    return list(await fs._step("readdir", path, lambda: vfs.listdir(path, follow=False, at=ino)))


async def _unlinkat(fs: SchedFS, path: str, at: int | None, *, rmdir: bool = False) -> None:
    vfs = fs.vfs
    if rmdir:
        await fs._step("rmdir", path, lambda: vfs.rmdir(path, at=at))
    else:
        await fs._step("unlink", path, lambda: vfs.unlink(path, at=at))


async def remove_dir_all(fs: SchedFS, path: str, *, tolerate_enoent: bool = True) -> None:
    st = await fs.lstat(path)
    if st.kind == "link":
        await fs.unlink(path)
        return
    await _remove_recursive(fs, path, None, tolerate_enoent=tolerate_enoent)


async def _remove_recursive(fs: SchedFS, path: str, parent: int | None, *, tolerate_enoent: bool) -> None:
    """``remove_dir_all_recursive(parent_fd, name)``: `parent` is the inode of the parent's open
    directory (None at the root, whose steps are by path, like ``AT_FDCWD``)."""
    try:
        ino = await _opendir(fs, path, parent)
    except OSError as exc:
        if exc.errno in (E.ENOTDIR, E.ELOOP) and parent is not None:
            await _unlinkat(fs, path, parent)
            return
        raise
    seen: set[str] = set()
    while True:
        batch = [(n, k) for n, k in await _readdir(fs, path, ino) if n not in seen]
        if not batch:
            break
        for name, kind in batch:
            seen.add(name)
            child = join(path, name)
            try:
                if kind == "dir":
                    await _remove_recursive(fs, child, ino, tolerate_enoent=tolerate_enoent)
                else:
                    await _unlinkat(fs, child, ino)
            except FileNotFoundError:
                if not tolerate_enoent:
                    raise
    try:
        await _unlinkat(fs, path, parent, rmdir=True)
    except FileNotFoundError:
        if not tolerate_enoent:
            raise


async def canonicalize(fs: SchedFS, path: str) -> str:
    return await fs.realpath(path)
