"""The raw backend Protocol.

A backend stores a tree in the *scenario namespace* (absolute paths such as
``/home/user/.claude``). It only ever receives *resolved* paths: normalized, absolute, and whose
ancestors are real directories (``Vfs`` resolves symlinks itself, chroot-style, so no backend can
be led outside its namespace by a link). Each method is one system call's worth of work on the
final component and raises a real ``OSError`` with a real errno when that call would fail.
"""

from __future__ import annotations

import errno as E
import os
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

Kind = Literal["dir", "file", "link"]
OpenMode = Literal["r", "w", "x", "a"]

#: POSIX limits (Linux values) every backend's ``Vfs`` enforces, so memory, fake and real agree:
#: a path component longer than NAME_MAX bytes, or a path of PATH_MAX bytes or more (with its NUL
#: it would not fit), is ENAMETOOLONG; so is a symlink target of PATH_MAX bytes or more
NAME_MAX = 255
PATH_MAX = 4096


@dataclass(frozen=True, slots=True)
class Stat:
    kind: Kind
    size: int
    ino: int
    #: st_dev: 0 for the root filesystem, else the number of the mount the entry is on
    #: (``Vfs.mount``; backends report 0, the ``Vfs`` fills it in)
    dev: int = 0


def oserror(code: int, path: str) -> OSError:
    """A real OSError for `code` on `path` (the scenario-namespace path)."""
    return OSError(code, os.strerror(code), path)


def parent_of(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def join(parent: str, name: str) -> str:
    return parent + name if parent.endswith("/") else parent + "/" + name


def under(path: str, root: str) -> bool:
    """`path` is `root` or below it (component-wise: ``/a/b2`` is not under ``/a/b``)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


class Backend(Protocol):
    """Raw filesystem operations on resolved scenario-namespace paths."""

    name: str

    def reset(self) -> None:
        """Return to an empty tree holding only ``/`` (cheap; called before every execution)."""

    def close(self) -> None:
        """Release everything (temp directories included)."""

    def lstat(self, path: str) -> Stat | None:
        """Stat without following a final symlink; None if the entry does not exist."""

    def readlink(self, path: str) -> str: ...
    def mkdir(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def unlink(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[tuple[str, Kind]]:
        """Entry names and kinds, sorted by name (raceproof owns listing order)."""

    def open(self, path: str, mode: OpenMode) -> int:
        """Open a regular file; return a handle. ``x`` is O_CREAT|O_EXCL, ``w`` truncates."""

    def write(self, handle: int, data: bytes) -> int: ...
    def read(self, handle: int, size: int = -1, offset: int = 0) -> bytes:
        """Up to `size` bytes at `offset` (``-1``: everything from `offset` to the end)."""
    def close_handle(self, handle: int) -> None: ...
    def fstat(self, handle: int) -> Stat: ...
    def symlink(self, target: str, path: str) -> None: ...
    def link(self, src: str, dst: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...

    # optional abilities: ``BackendBase`` gives each a default
    def kind(self, path: str) -> Kind | None:
        """The kind of the entry at `path` (None: no entry); a backend may answer faster than lstat."""

    def snapshot(self) -> object | None:
        """A snapshot of the tree that ``restore`` brings back (None: not supported; the runner
        then rebuilds the tree with the program's set-up before every execution)."""

    def restore(self, snap: object) -> None: ...

    def pin_dir(self, path: str) -> None:
        """Keep a directory a walk opened alive (its inode not reused) until ``unpin_dirs``."""

    def unpin_dirs(self) -> None: ...

    def case_insensitive(self) -> bool:
        """Make the filesystem ignore case from now on; False if this backend cannot."""

    def tree(self, top: str = "/") -> dict[str, str]:
        """The tree under `top` as ``Vfs.tree`` describes it (default: ``walk_tree``)."""

    def full_state(self, ids: dict[int, str]) -> tuple[Any, ...] | None:
        """The whole state as a hashable value (the tree, each entry's identity from `ids`), or
        None when it has open handles or cannot say (default: cannot say)."""


class BackendBase:
    """Defaults for a backend's optional abilities (see ``Backend``)."""

    def lstat(self, path: str) -> Stat | None:
        raise NotImplementedError

    def kind(self, path: str) -> Kind | None:
        st = self.lstat(path)
        return None if st is None else st.kind

    def snapshot(self) -> object | None:
        return None

    def restore(self, snap: object) -> None:
        raise NotImplementedError(f"{type(self).__name__} takes no snapshots")

    def pin_dir(self, path: str) -> None:
        """Nothing to pin: inode numbers are not reused while the run lasts."""

    def unpin_dirs(self) -> None:
        """Nothing pinned."""

    def case_insensitive(self) -> bool:
        return False

    def tree(self, top: str = "/") -> dict[str, str]:
        return walk_tree(cast(Backend, self), top)

    def full_state(self, ids: dict[int, str]) -> tuple[Any, ...] | None:
        return None


def walk_tree(backend: Backend, top: str = "/") -> dict[str, str]:
    """``Vfs.tree`` by listing every directory and reading every file through `backend`'s own
    operations: depth-first, names sorted; a further name of an inode already seen is a
    ``hardlink:`` to its first name."""
    out: dict[str, str] = {}
    first_name: dict[int, str] = {}

    def walk(p: str) -> None:
        for name, kind in backend.listdir(p):
            child = join(p, name)
            if kind == "dir":
                out[child] = "dir"
                walk(child)
            elif kind == "link":
                out[child] = "link:" + backend.readlink(child)
            else:
                st = backend.lstat(child)
                if st is not None:
                    seen = first_name.setdefault(st.ino, child)
                    if seen != child:
                        out[child] = "hardlink:" + seen
                        continue
                h = backend.open(child, "r")
                try:
                    data = backend.read(h)
                finally:
                    backend.close_handle(h)
                out[child] = "file:" + data.hex()

    st = backend.lstat(top)
    if st is not None and st.kind == "dir":
        walk(top)
    return out


def check_rename(backend: Backend, src: str, dst: str) -> bool:
    """Linux rename(2) preconditions shared by backends that cannot ask the kernel. True means
    "nothing to do": the same path, or two hard links to one file (rename(2) then does nothing)."""
    s = backend.lstat(src)
    if s is None:
        raise oserror(E.ENOENT, src)
    if src == dst:
        return True
    if s.kind == "dir" and (src == "/" or (dst + "/").startswith(src + "/")):
        raise oserror(E.EINVAL, dst)
    if (src + "/").startswith(dst.rstrip("/") + "/"):  # the target is an ancestor of the source
        raise oserror(E.ENOTEMPTY, dst)
    d = backend.lstat(dst)
    if d is None:
        return False
    if d.ino == s.ino:
        return True
    if s.kind == "dir" and d.kind != "dir":
        raise oserror(E.ENOTDIR, dst)
    if s.kind != "dir" and d.kind == "dir":
        raise oserror(E.EISDIR, dst)
    if d.kind == "dir" and backend.listdir(dst):
        raise oserror(E.ENOTEMPTY, dst)
    return False
