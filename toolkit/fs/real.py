"""The real-filesystem backend: a private temp directory, and nothing else.

Scenario paths map under the backend's own ``mkdtemp`` root, which the caller cannot choose.
``Vfs`` resolves symlinks itself (chroot-style), so a backend call never has a symlink among its
ancestors; this module checks that again before every call (defence in depth): a path that is not
normalized, or whose parent does not resolve inside the root, raises ``SandboxViolation`` and
nothing is touched. Final components are never followed (``O_NOFOLLOW``, ``follow_symlinks=False``).
"""

from __future__ import annotations

import os
import shutil
import stat as S
import tempfile

from raceproof.errors import SandboxViolation
from raceproof.fs.base import Kind, OpenMode, Stat

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


def _confined(root: str, host: str) -> bool:
    return host == root or host.startswith(root + os.sep)


class RealBackend:
    name = "real"

    def __init__(self) -> None:
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="raceproof-"))
        self._closed = False
        self._pins: list[int] = []

    # the sandbox ---------------------------------------------------------------------------
    def host(self, path: str) -> str:
        """The host path for a scenario path, or SandboxViolation."""
        if self._closed:
            raise SandboxViolation(f"{path}: the real backend is closed")
        if not path.startswith("/") or "\0" in path:
            raise SandboxViolation(f"{path!r}: not an absolute scenario path")
        parts = path.split("/")[1:]
        if path != "/" and any(p in ("", ".", "..") for p in parts):
            raise SandboxViolation(f"{path!r}: not a normalized scenario path")
        host = self.root if path == "/" else os.path.join(self.root, *parts)
        parent = os.path.realpath(os.path.dirname(host)) if path != "/" else self.root
        if not _confined(self.root, parent) or not _confined(self.root, host):
            raise SandboxViolation(f"{path!r}: resolves outside the sandbox {self.root}")
        return host

    def _call(self, fn, path: str, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(self.host(path), *args)
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno or 0), path) from None

    def pin_dir(self, path: str) -> None:
        """Hold an fd on a directory a walk opened, so its inode number cannot be reused (ext4
        recycles freed inodes at once) while ``Vfs`` uses it as the identity of that open directory."""
        self._pins.append(int(self._call(os.open, path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)))

    def unpin_dirs(self) -> None:
        pins, self._pins = self._pins, []
        for fd in pins:
            os.close(fd)

    def reset(self) -> None:
        if self._closed:
            raise SandboxViolation("the real backend is closed")
        self.unpin_dirs()
        for name in os.listdir(self.root):
            full = os.path.join(self.root, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)

    def close(self) -> None:
        if not self._closed:
            self.unpin_dirs()
            shutil.rmtree(self.root, ignore_errors=True)
            self._closed = True

    # operations ----------------------------------------------------------------------------
    def lstat(self, path: str) -> Stat | None:
        try:
            st = os.lstat(self.host(path))
        except FileNotFoundError:
            return None
        return Stat(_kind(st.st_mode), st.st_size, st.st_ino)

    def readlink(self, path: str) -> str:
        return str(self._call(os.readlink, path))

    def mkdir(self, path: str) -> None:
        self._call(os.mkdir, path)

    def rmdir(self, path: str) -> None:
        self._call(os.rmdir, path)

    def unlink(self, path: str) -> None:
        self._call(os.unlink, path)

    def listdir(self, path: str) -> list[tuple[str, Kind]]:
        host = self.host(path)
        try:
            with os.scandir(host) as it:
                entries = [(e.name, _kind(e.stat(follow_symlinks=False).st_mode)) for e in it]
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno or 0), path) from None
        return sorted(entries)

    def open(self, path: str, mode: OpenMode) -> int:
        return int(self._call(os.open, path, _FLAGS[mode] | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))

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
        try:
            os.symlink(target, self.host(path))
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno or 0), path) from None

    def link(self, src: str, dst: str) -> None:
        try:
            os.link(self.host(src), self.host(dst), follow_symlinks=False)
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno or 0), dst) from None

    def rename(self, src: str, dst: str) -> None:
        try:
            os.rename(self.host(src), self.host(dst))
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno or 0), dst) from None
