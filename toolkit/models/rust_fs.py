"""Rust ``std::fs`` semantics as walks of steps (Rust 1.95 on Linux; sources in
SEMANTICS-AND-FAULTS.md §1.1-1.3).

- ``remove_dir_all``: ``lstat`` the root (a symlink is unlinked, not followed), then a lazy,
  no-follow walk: ``opendir`` (``openat(O_DIRECTORY|O_NOFOLLOW)``), ``readdir`` batches interleaved
  with ``unlink``s and recursion, final ``rmdir``. ENOENT of anything below the root is tolerated
  (Rust >= 1.82, PR #127623; ``tolerate_enoent=False`` models older toolchains). An entry created
  behind the walk makes the final ``rmdir`` fail with ENOTEMPTY: not tolerated.
  Each ``readdir`` returns the entries not yet seen; a batch that brings nothing new ends the
  walk. Whether a concurrently added entry is seen is therefore decided by the interleaving.
- ``create_dir_all``: ``mkdir``; on ENOENT recurse on the parent then ``mkdir`` again; any other
  error is fine if ``is_dir`` (which follows symlinks). Tolerates a concurrent creator, not a
  concurrent deleter.
- ``canonicalize``: ``realpath(3)``, one step; ENOENT on a missing component.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from toolkit.fs.base import join, parent_of

if TYPE_CHECKING:
    from toolkit.sfs import SchedFS


async def create_dir_all(fs: SchedFS, path: str) -> None:
    if path in ("", "/"):
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
    await create_dir_all(fs, parent_of(path))
    try:
        await fs.mkdir(path)
    except OSError:
        if await fs.is_dir(path):
            return
        raise


async def remove_dir_all(fs: SchedFS, path: str, *, tolerate_enoent: bool = True) -> None:
    st = await fs.lstat(path)
    if st.kind == "link":
        await fs.unlink(path)
        return
    await _remove_recursive(fs, path, root=True, tolerate_enoent=tolerate_enoent)


async def _remove_recursive(fs: SchedFS, path: str, *, root: bool, tolerate_enoent: bool) -> None:
    try:
        await fs.opendir(path, nofollow_ancestors=not root)
    except OSError as exc:
        if exc.errno in (E.ENOTDIR, E.ELOOP) and not root:
            await fs.unlink(path, nofollow_ancestors=True)
            return
        raise
    seen: set[str] = set()
    while True:
        batch = [(n, k) for n, k in await fs.readdir(path, nofollow_ancestors=not root) if n not in seen]
        if not batch:
            break
        for name, kind in batch:
            seen.add(name)
            child = join(path, name)
            try:
                if kind == "dir":
                    await _remove_recursive(fs, child, root=False, tolerate_enoent=tolerate_enoent)
                else:
                    await fs.unlink(child, nofollow_ancestors=True)
            except FileNotFoundError:
                if not tolerate_enoent:
                    raise
    try:
        await fs.rmdir(path, nofollow_ancestors=not root)
    except FileNotFoundError:
        if not tolerate_enoent:
            raise


async def canonicalize(fs: SchedFS, path: str) -> str:
    return await fs.realpath(path)
