"""The real-filesystem backend: a private temp directory, and nothing else.

Scenario paths map under the backend's own ``mkdtemp`` root, which the caller cannot choose.
``Vfs`` resolves symlinks itself (chroot-style), so a backend call never has a symlink among its
ancestors; this module checks that again before every call (defence in depth): a path that is not
normalized, or whose parent does not resolve inside the root, raises ``SandboxViolation`` and
nothing is touched. Final components are never followed (``O_NOFOLLOW``, ``follow_symlinks=False``).
"""

from __future__ import annotations

import errno as E
import os
import shutil
import stat as S
import tempfile
import threading
import weakref

from raceproof.errors import SandboxViolation
from raceproof.fs.base import BackendBase, Kind, OpenMode, Stat, oserror
from raceproof.signals import deferred

_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def _kind(mode: int) -> Kind:
    if S.S_ISDIR(mode):
        return "dir"
    if S.S_ISLNK(mode):
        return "link"
    return "file"


#: the roots of every open real backend in this process (SIGTERM and the interrupt watchdog clean them)
_LIVE: dict[str, None] = {}


def _remove_root(root: str) -> None:
    shutil.rmtree(root, ignore_errors=True)
    _LIVE.pop(root, None)  # only once it is gone: an interrupt during the removal finishes it


def new_root(prefix: str = "raceproof-") -> str:
    """A fresh temp dir, registered for ``cleanup_all`` before any signal handler can run (the real
    backend's root, ``raceproof exec``'s host tree). ``remove_root`` removes it."""
    with deferred():
        root = os.path.realpath(tempfile.mkdtemp(prefix=prefix))
        _LIVE[root] = None
    return root


def remove_root(root: str) -> None:
    """Remove a root from ``new_root``."""
    _remove_root(root)


#: set once the process is on its way out: no sandbox call may create anything any more
_STOPPING = threading.Event()


def cleanup_all() -> None:
    """Remove every sandbox still open (an interrupted process on its way out). Called from the
    main thread or the interrupt watchdog: first every further sandbox call is refused, so a run
    still going in the main thread cannot refill a tree while it is being removed."""
    _STOPPING.set()
    for _ in range(3):  # a call already inside the kernel may still complete once
        for root in list(_LIVE):
            _remove_root(root)
            if os.path.exists(root):
                _LIVE[root] = None
        if not _LIVE:
            return


class RealBackend(BackendBase):
    name = "real"

    def __init__(self) -> None:
        # no signal handler may run between creating the temp dir and registering it for clean-up
        self.root = new_root()
        # the temp dir goes away even if the owner never reaches close() (a failed set-up before a
        # context manager was entered, an exception in a constructor): at collection or exit
        self._finalizer = weakref.finalize(self, _remove_root, self.root)
        self._closed = False
        self._pins: list[int] = []
        # every call is relative to this fd: the kernel sees the scenario path (< PATH_MAX, as the
        # Vfs enforces), never the longer host path, so long paths behave as on memory and fake
        self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        weakref.finalize(self, _close_fd, self._fd)

    # the sandbox ---------------------------------------------------------------------------
    def host(self, path: str) -> str:
        """The host path for a scenario path, or SandboxViolation."""
        self._rel(path)
        return self.root if path == "/" else os.path.join(self.root, *path.split("/")[1:])

    def _rel(self, path: str) -> str:
        """`path` relative to the root fd ('.' for the root), after the sandbox checks."""
        if _STOPPING.is_set():
            raise SandboxViolation(f"{path}: the process is stopping")
        if self._closed:
            raise SandboxViolation(f"{path}: the real backend is closed")
        if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
            raise SandboxViolation(f"{path!r}: not an absolute scenario path")
        if path == "/":
            return "."
        parts = path.split("/")[1:]
        if any(p in ("", ".", "..") for p in parts):
            raise SandboxViolation(f"{path!r}: not a normalized scenario path")
        rel = path[1:]
        parent = os.path.dirname(rel)
        # defence in depth: the Vfs never hands over a path with a symlink among its ancestors
        if parent and not _ancestors_are_dirs(self._fd, parent):
            raise SandboxViolation(f"{path!r}: an ancestor is a symlink (it could leave the sandbox {self.root})")
        return rel

    def _err(self, exc: OSError, path: str) -> OSError:
        return OSError(exc.errno, os.strerror(exc.errno or 0), path)

    def pin_dir(self, path: str) -> None:
        """Hold an fd on a directory a walk opened, so its inode number cannot be reused (ext4
        recycles freed inodes at once) while ``Vfs`` uses it as the identity of that open directory."""
        rel = self._rel(path)
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None
        self._pins.append(fd)

    def unpin_dirs(self) -> None:
        pins, self._pins = self._pins, []
        for fd in pins:
            os.close(fd)

    def reset(self) -> None:
        if self._closed:
            raise SandboxViolation("the real backend is closed")
        self.unpin_dirs()
        for name in os.listdir(self._fd):
            st = os.lstat(name, dir_fd=self._fd)
            if S.S_ISDIR(st.st_mode):
                shutil.rmtree(os.path.join(self.root, name))
            else:
                os.unlink(name, dir_fd=self._fd)

    def close(self) -> None:
        if not self._closed:
            self.unpin_dirs()
            self._closed = True
            self._finalizer()  # removes the tree (idempotent)

    # operations ----------------------------------------------------------------------------
    def lstat(self, path: str) -> Stat | None:
        rel = self._rel(path)
        try:
            st = os.lstat(rel, dir_fd=self._fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._err(exc, path) from None
        return Stat(_kind(st.st_mode), st.st_size, st.st_ino)

    def readlink(self, path: str) -> str:
        rel = self._rel(path)
        try:
            return os.readlink(rel, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def mkdir(self, path: str) -> None:
        rel = self._rel(path)
        try:
            os.mkdir(rel, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def rmdir(self, path: str) -> None:
        rel = self._rel(path)
        if rel == ".":  # the sandbox root is never removed: as rmdir("/") on Linux (and memory, fake)
            raise oserror(E.ENOTEMPTY if os.listdir(self._fd) else E.EBUSY, path)
        try:
            os.rmdir(rel, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def unlink(self, path: str) -> None:
        rel = self._rel(path)
        try:
            os.unlink(rel, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def listdir(self, path: str) -> list[tuple[str, Kind]]:
        """The entries of the directory `path` itself: a final symlink is never followed (ENOTDIR)."""
        rel = self._rel(path)
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd)
        except OSError as exc:
            if exc.errno == E.ELOOP:  # O_NOFOLLOW on a symlink: it is not a directory here
                raise oserror(E.ENOTDIR, path) from None
            raise self._err(exc, path) from None
        try:
            with os.scandir(fd) as it:
                entries = [(e.name, _kind(e.stat(follow_symlinks=False).st_mode)) for e in it]
        except OSError as exc:
            raise self._err(exc, path) from None
        finally:
            os.close(fd)
        return sorted(entries)

    def open(self, path: str, mode: OpenMode) -> int:
        rel = self._rel(path)
        if rel == "." and mode != "r":
            raise oserror(E.EISDIR, path)
        try:
            return os.open(rel, _FLAGS[mode] | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def write(self, handle: int, data: bytes) -> int:
        return os.write(handle, data)

    def read(self, handle: int, size: int = -1, offset: int = 0) -> bytes:
        if size >= 0:
            return os.pread(handle, size, offset)
        chunks = []
        while chunk := os.pread(handle, 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def close_handle(self, handle: int) -> None:
        os.close(handle)

    def fstat(self, handle: int) -> Stat:
        st = os.fstat(handle)
        return Stat(_kind(st.st_mode), st.st_size, st.st_ino)

    def symlink(self, target: str, path: str) -> None:
        rel = self._rel(path)
        try:
            os.symlink(target, rel, dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, path) from None

    def link(self, src: str, dst: str) -> None:
        s, d = self._rel(src), self._rel(dst)
        try:
            os.link(s, d, src_dir_fd=self._fd, dst_dir_fd=self._fd, follow_symlinks=False)
        except OSError as exc:
            raise self._err(exc, dst) from None

    def rename(self, src: str, dst: str) -> None:
        s, d = self._rel(src), self._rel(dst)
        if s == ".":  # the sandbox root never moves: '/' contains every destination
            raise oserror(E.EINVAL, dst)
        if d == ".":  # nor is it replaced: it contains `src`, so it is not empty
            st = self.lstat(src)
            raise oserror(E.ENOENT if st is None else E.ENOTEMPTY if st.kind == "dir" else E.EISDIR, dst)
        try:
            os.rename(s, d, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError as exc:
            raise self._err(exc, dst) from None


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _ancestors_are_dirs(dir_fd: int, rel: str) -> bool:
    """Every component of `rel` (relative to `dir_fd`) is a real directory, not a symlink."""
    cur = ""
    for part in rel.split("/"):
        cur = f"{cur}/{part}" if cur else part
        try:
            st = os.lstat(cur, dir_fd=dir_fd)
        except OSError:
            return True  # a missing component: the call itself fails
        if not S.S_ISDIR(st.st_mode):
            return not S.S_ISLNK(st.st_mode)
    return True
