"""Rust ``std::fs`` semantics as walks of steps (Rust 1.95 on Linux; sources in
SEMANTICS-AND-FAULTS.md §1.1-1.3, checked step by step against real Rust under strace by
``tests/fidelity``).

- ``remove_dir_all`` (``library/std/src/sys/fs/unix.rs``, ``remove_dir_impl``, the
  ``openat``/``fdopendir``/``unlinkat`` walk since 1.58.1, PR #93112): ``lstat`` the root (a
  symlink is unlinked, not followed; ``link/`` with a trailing slash *is* followed by the kernel,
  so its target is emptied and the final ``rmdir("link/")`` fails with ENOTDIR, as for real), then
  a lazy, no-follow walk: ``opendir`` (``openat(parent_fd, name, O_DIRECTORY|O_NOFOLLOW)``),
  ``readdir`` batches interleaved with ``unlinkat``s and recursion (each entry is acted on as soon
  as it is read), ``close``, final ``unlinkat(parent_fd, name, AT_REMOVEDIR)``. Below the root
  every step is fd-relative: it acts on the directory the walk *opened*, wherever it is now
  (``Vfs._at_dir``): a directory renamed away mid-walk is still emptied; one removed (and maybe
  re-created) by a sibling is dead: it reads as empty, and the final ``unlinkat`` by name meets
  the *new* directory (ENOTEMPTY if it has entries), exactly like the kernel. ENOENT of anything
  below the root is tolerated and so is the final rmdir's at every level (Rust >= 1.82,
  PR #127623); NotFound is returned only from the first ``lstat`` or the root's ``opendir``.
  ``tolerate_enoent=False`` models older toolchains. An entry created behind the walk makes the
  final ``rmdir`` fail with ENOTEMPTY: not tolerated.
- ``readdir`` is ``getdents64`` with glibc's 32 KiB buffer: the first batch returns every entry
  the (small) directory has at that moment; a second batch only confirms the end and returns
  nothing, whatever was added meanwhile (ext4 and tmpfs keep the position at end-of-directory).
  An empty live directory therefore costs two ``readdir`` steps; a dead one (removed since
  ``opendir``) one: glibc ends on the kernel's ENOENT. Directories larger than one buffer
  (about a thousand short names) are not modelled as several batches.
- ``create_dir_all`` (``DirBuilder::create_dir_all``, iterative since rust-lang/rust PR #148196,
  merged 2025-11, first stable 1.93 [inf]): an empty path or ``/`` is ``Ok`` with no system call;
  walk *up* with ``mkdir`` until one succeeds, or fails with EEXIST on something ``is_dir`` (which
  follows symlinks) accepts; ENOENT goes one level up; any other error (ENOTDIR, EEXIST on a
  non-directory) fails at once; never ``mkdir("/")``. Then create the missing ones top-down: any
  error except EEXIST-on-a-directory fails at once (ENOENT included: a concurrent deleter is not
  tolerated; a concurrent creator is). With ``legacy=True`` (the toolchain switch
  ``rust_enoent_tolerant = false``: toolchains before 1.82, which were all recursive) it is the old
  recursive algorithm (rust-lang/rust PR #39799, 2017): on ENOENT recurse on the parent and retry;
  any other error is fine if ``is_dir``.
- ``canonicalize``: ``realpath(3)``, one step (glibc walks it with ``readlink`` per component);
  ENOENT on a missing component, ENOTDIR for ``file/``.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from raceproof.fs.base import join, parent_of

if TYPE_CHECKING:
    from raceproof.sfs import SchedFS


async def create_dir_all(fs: SchedFS, path: str, *, legacy: bool = False) -> None:
    if legacy:
        await _create_dir_all_recursive(fs, path)
        return
    if path == "" or path.strip("/") == "":  # "" and "/" (no parent): Ok without a system call
        return
    uncreated: list[str] = []
    current = path
    while True:
        try:
            await fs.mkdir(current)
            break
        except FileNotFoundError:
            uncreated.append(current)
        except FileExistsError:
            if not await fs.is_dir(current):
                raise
            break
        current = _parent(current)
        if current == "/":  # ancestors() stops before the root: no mkdir("/")
            break
    for directory in reversed(uncreated):
        try:
            await fs.mkdir(directory)
        except FileExistsError:
            if not await fs.is_dir(directory):
                raise


def _parent(path: str) -> str:
    """``Path::parent`` of an absolute path (trailing slashes are not a component)."""
    return parent_of(path.rstrip("/") or "/")


async def _create_dir_all_recursive(fs: SchedFS, path: str) -> None:
    """Rust before PR #148196 (recursive; the only algorithm before 1.82)."""
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
    await _create_dir_all_recursive(fs, _parent(path))
    try:
        await fs.mkdir(path)
    except OSError:
        if await fs.is_dir(path):
            return
        raise


async def _opendir(fs: SchedFS, path: str, at: int | None) -> int:
    return await fs.openat(path, at)


async def _readdir(fs: SchedFS, path: str, ino: int) -> tuple[list[tuple[str, str]], bool]:
    entries, alive = await fs.getdents(path, ino)
    return list(entries), alive


async def _readdir_end(fs: SchedFS, path: str) -> None:
    await fs.getdents_end(path)


async def _unlinkat(fs: SchedFS, path: str, at: int | None, *, rmdir: bool = False) -> None:
    await fs.unlinkat(path, at, rmdir=rmdir)


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
    batch, alive = await _readdir(fs, path, ino)
    for name, kind in batch:
        child = join(path, name)
        try:
            if kind == "dir":
                await _remove_recursive(fs, child, ino, tolerate_enoent=tolerate_enoent)
            else:
                await _unlinkat(fs, child, ino)
        except FileNotFoundError:
            if not tolerate_enoent:
                raise
    if alive:  # glibc stops at once on a dead directory's ENOENT
        await _readdir_end(fs, path)
    try:
        await _unlinkat(fs, path, parent, rmdir=True)
    except FileNotFoundError:
        if not tolerate_enoent:
            raise


async def canonicalize(fs: SchedFS, path: str) -> str:
    return await fs.realpath(path)
