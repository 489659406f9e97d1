"""The pyfakefs backend: a ``FakeFilesystem`` driven through its fake ``os`` module, explicitly.

No ``Patcher`` and no global patching. Only ``FakeOsModule`` calls are made: never
``FakeShutilModule``, whose ``rmtree`` used standalone was seen deleting a *real* directory. The
scenario namespace maps onto the fake filesystem's root. pyfakefs is not thread-safe; raceproof
only ever calls it from the one virtual thread the scheduler released.
"""

from __future__ import annotations

import errno
import os
import stat as S

from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.fake_os import FakeOsModule

from raceproof.fs.base import PATH_MAX, BackendBase, Kind, OpenMode, Stat, check_rename, oserror

_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def kind_of(mode: int) -> Kind:
    if S.S_ISDIR(mode):
        return "dir"
    if S.S_ISLNK(mode):
        return "link"
    return "file"


class FakeBackend(BackendBase):
    name = "fake"

    def __init__(self) -> None:
        self.fs: FakeFilesystem
        self.os: FakeOsModule
        self.reset()

    def reset(self) -> None:
        self.fs = FakeFilesystem()
        self.fs.shuffle_listdir_results = False
        self.os = FakeOsModule(self.fs)

    def close(self) -> None:
        """Nothing to release: the fake tree is garbage collected."""

    def case_insensitive(self) -> bool:
        self.fs.is_case_sensitive = False
        return True

    def lstat(self, path: str) -> Stat | None:
        try:
            st = self.os.lstat(path)
        except FileNotFoundError:
            return None
        return Stat(kind_of(st.st_mode), st.st_size, int(st.st_ino or 0))

    def readlink(self, path: str) -> str:
        return self.os.readlink(path)

    def mkdir(self, path: str) -> None:
        self.os.mkdir(path)

    def rmdir(self, path: str) -> None:
        self.os.rmdir(path)

    def unlink(self, path: str) -> None:
        self.os.unlink(path)

    def listdir(self, path: str) -> list[tuple[str, Kind]]:
        names = sorted(self.os.listdir(path))
        base = path.rstrip("/")
        return [(n, kind_of(self.os.lstat(f"{base}/{n}").st_mode)) for n in names]

    def open(self, path: str, mode: OpenMode) -> int:
        return self.os.open(path, _FLAGS[mode] | os.O_NOFOLLOW)

    def write(self, handle: int, data: bytes) -> int:
        return self.os.write(handle, data)

    def read(self, handle: int, size: int = -1, offset: int = 0) -> bytes:
        if offset >= self.os.fstat(handle).st_size:
            return b""  # Linux: end of file; pyfakefs raises EBADF past a concurrent truncation
        self.os.lseek(handle, offset, 0)
        if size >= 0:
            return bytes(self.os.read(handle, size))
        chunks = []
        while chunk := self.os.read(handle, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)

    def close_handle(self, handle: int) -> None:
        self.os.close(handle)

    def fstat(self, handle: int) -> Stat:
        st = self.os.fstat(handle)
        return Stat(kind_of(st.st_mode), st.st_size, int(st.st_ino or 0))

    def symlink(self, target: str, path: str) -> None:
        if len(target.encode("utf-8", "surrogatepass")) >= PATH_MAX:
            raise oserror(errno.ENAMETOOLONG, path)
        self.os.symlink(target, path)

    def link(self, src: str, dst: str) -> None:
        self.os.link(src, dst, follow_symlinks=False)

    def rename(self, src: str, dst: str) -> None:
        if check_rename(self, src, dst):
            return
        self.os.rename(src, dst)
