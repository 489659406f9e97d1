"""The scheduled filesystem: the API virtual threads program against.

Every method is an ``async`` call. Primitive operations are exactly one step (one scheduling
point, one atomic operation, one footprint). The composite operations (``create_dir_all``,
``remove_dir_all``, ``canonicalize``) are walks of primitive steps, modelled on Rust's std (see
``raceproof.models.rust_fs``), and so are ``read_file`` and ``write_file``: the calls Rust's
``fs::read``/``fs::write`` and Python's ``open().read()``/``.write()`` make (open, reads or
writes, close). A ``write`` copies at most a page per step, as the kernel does, so a concurrent
reader can see part of it. What a step returns is covered by its footprint (``Vfs._observed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from raceproof.fs.base import Kind, OpenMode, Stat
from raceproof.fs.vfs import PAGE, READ_CHUNK
from raceproof.models import rust_fs
from raceproof.scheduler import Scheduler
from raceproof.steps import Footprint

T = TypeVar("T")


class SchedFS:
    """One virtual thread's view of the scheduled filesystem."""

    def __init__(self, sched: Scheduler, tid: int) -> None:
        self.sched = sched
        self.tid = tid
        self.vfs = sched.vfs

    async def step(self, op: str, path: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """One scheduling point, then ``fn(*args)`` as one atomic step named `op` on `path`
        (``raceproof.scheduler.Scheduler.step``: ``detail``, ``render``, ``awaits``, ``until``).
        Models build their own steps with it."""
        return await self.sched.step(self.tid, op, path, fn, *args, **kw)

    # fd-relative primitives (the steps of a directory walk) ----------------------------------
    async def openat(self, path: str, at: int | None = None) -> int:
        """``openat(at or AT_FDCWD, name, O_DIRECTORY|O_NOFOLLOW)``; the inode identifies the fd."""
        vfs = self.vfs
        return int(await self.step("opendir", path, lambda: vfs.open_dir(path, at=at), render=_ok))

    async def getdents(self, path: str, ino: int) -> tuple[list[tuple[str, Kind]], bool]:
        """The first ``getdents64`` on the open directory `ino`: every entry it has now, and whether
        the directory is alive (a dead one lists as empty, and glibc then ends the listing)."""
        vfs = self.vfs

        def first() -> tuple[list[tuple[str, Kind]], bool]:
            alive = vfs.dir_alive(ino)
            return (list(vfs.listdir(path, follow=False, at=ino)) if alive else []), alive

        entries, alive = await self.step("readdir", path, first, render=lambda r: _render_names(r[0]))
        return entries, alive

    async def getdents_end(self, path: str) -> None:
        """The second ``getdents64``: the position is at end-of-directory, so it returns nothing
        whatever happened meanwhile. It reads no state (an empty footprint)."""
        await self.step("readdir", path, _end_of_directory)

    async def unlinkat(self, path: str, at: int | None = None, *, rmdir: bool = False) -> None:
        """``unlinkat(at or AT_FDCWD, name, rmdir and AT_REMOVEDIR)``."""
        vfs = self.vfs
        if rmdir:
            await self.step("rmdir", path, lambda: vfs.rmdir(path, at=at))
        else:
            await self.step("unlink", path, lambda: vfs.unlink(path, at=at))

    # primitive steps -----------------------------------------------------------------------
    async def lstat(self, path: str, *, nofollow_ancestors: bool = False) -> Stat:
        st: Stat = await self.step("lstat", path, lambda: self.vfs.lstat(path, nofollow_ancestors=nofollow_ancestors))
        return st

    async def stat(self, path: str) -> Stat:
        st: Stat = await self.step("stat", path, self.vfs.stat, path)
        return st

    async def exists(self, path: str) -> bool:
        """Python's ``os.path.exists`` and Rust's ``Path::exists``: stat, and any error is false
        (ENOENT, ENOTDIR under a file, ELOOP)."""

        def probe() -> bool:
            try:
                self.vfs.kind_of(path)
            except OSError:
                return False
            return True

        return bool(await self.step("exists", path, probe))

    async def is_dir(self, path: str) -> bool:
        """Rust ``Path::is_dir``: stat (following symlinks); any error means false."""

        def probe() -> bool:
            try:
                return self.vfs.kind_of(path) == "dir"
            except OSError:
                return False

        return bool(await self.step("is_dir", path, probe))

    async def mkdir(self, path: str) -> None:
        await self.step("mkdir", path, self.vfs.mkdir, path)

    async def rmdir(self, path: str, *, nofollow_ancestors: bool = False) -> None:
        await self.step("rmdir", path, lambda: self.vfs.rmdir(path, nofollow_ancestors=nofollow_ancestors))

    async def unlink(self, path: str, *, nofollow_ancestors: bool = False) -> None:
        await self.step("unlink", path, lambda: self.vfs.unlink(path, nofollow_ancestors=nofollow_ancestors))

    async def listdir(self, path: str) -> list[str]:
        entries = await self.step("listdir", path, self.vfs.listdir, path)
        return [name for name, _ in entries]

    async def readdir(self, path: str, *, nofollow_ancestors: bool = False) -> list[tuple[str, Kind]]:
        """List entries with their types (d_type), without following a final symlink."""
        return list(await self.step(
            "readdir", path,
            lambda: self.vfs.listdir(path, follow=False, nofollow_ancestors=nofollow_ancestors)))

    async def opendir(self, path: str, *, nofollow_ancestors: bool = False) -> None:
        await self.step("opendir", path, lambda: self.vfs.opendir(path, nofollow_ancestors=nofollow_ancestors))

    async def open(self, path: str, mode: OpenMode = "r") -> int:
        return int(await self.step("open", path, self.vfs.open, path, mode, detail=mode,
                                    render=lambda h: "fd"))

    async def write(self, handle: int, data: bytes, path: str = "") -> int:
        """write(2) of all of `data`: one step per page copied (a reader may see a prefix)."""
        data = bytes(data)
        written = 0
        for start in range(0, max(len(data), 1), PAGE):
            chunk = data[start:start + PAGE]
            written += int(await self.step("write", path, self.vfs.write, handle, chunk,
                                            detail=f"{len(chunk)}B", render=str))
        return written

    async def read(self, handle: int, path: str = "", size: int = READ_CHUNK) -> bytes:
        """read(2): up to `size` bytes from the handle's offset; ``b""`` at the end of the file."""
        return bytes(await self.step("read", path, self.vfs.read, handle, size))

    async def close(self, handle: int, path: str = "") -> None:
        await self.step("close", path, self.vfs.close, handle)

    async def read_file(self, path: str) -> bytes:
        """Rust ``fs::read`` / Python ``open(path, "rb").read()``: open, read until a read
        returns nothing, close. Each read is a step, so a concurrent writer can be seen midway."""
        handle = await self.open(path, "r")
        chunks = []
        while chunk := await self.read(handle, path):
            chunks.append(chunk)
        await self.close(handle, path)
        return b"".join(chunks)

    async def write_file(self, path: str, data: bytes) -> None:
        """Rust ``fs::write`` / Python ``open(path, "wb").write(data)``: open with ``O_TRUNC``
        (a reader between this step and the writes sees an empty file), write page by page,
        close. Writing nothing makes no ``write`` call."""
        handle = await self.open(path, "w")
        if data:
            await self.write(handle, data, path)
        await self.close(handle, path)

    async def atomic_read_file(self, path: str) -> bytes:
        """The whole file in ONE step. No system call does this: use it for models whose unit of
        atomicity is a whole value (the literature's shared-variable benchmarks), never to model
        real code, which reads in steps (``read_file``)."""
        return bytes(await self.step("atomic_read_file", path, self.vfs.read_file, path))

    async def atomic_write_file(self, path: str, data: bytes) -> None:
        """Create or truncate and fill a file in ONE step. No system call does this (a reader
        could never see it empty or partial): for abstract models only; real code is
        ``write_file``."""
        await self.step("atomic_write_file", path, self.vfs.write_file, path, data, detail=f"{len(data)}B")

    async def rename(self, src: str, dst: str, *, noreplace: bool = False, exchange: bool = False) -> None:
        """rename(2); with ``noreplace`` or ``exchange`` it is Linux's ``renameat2`` with
        ``RENAME_NOREPLACE`` (EEXIST if `dst` exists) or ``RENAME_EXCHANGE`` (swap `src` and `dst`
        atomically, both must exist: ENOENT otherwise). One step either way."""
        if noreplace and exchange:  # the kernel refuses the combination
            raise OSError(22, "RENAME_NOREPLACE and RENAME_EXCHANGE together", src)
        flags = "noreplace" if noreplace else "exchange" if exchange else ""
        await self.step("rename", src, self.vfs.rename, src, dst, flags,
                         detail=f"{dst} {flags.upper()}" if flags else dst)

    async def symlink(self, target: str, path: str) -> None:
        await self.step("symlink", path, self.vfs.symlink, target, path, detail=target)

    async def readlink(self, path: str) -> str:
        return str(await self.step("readlink", path, self.vfs.readlink, path))

    async def link(self, src: str, dst: str) -> None:
        await self.step("link", dst, self.vfs.link, src, dst, detail=src)

    async def realpath(self, path: str) -> str:
        return str(await self.step("realpath", path, self.vfs.realpath, path))

    async def sleep(self, seconds: float, label: str = "sleep") -> None:
        """Wait in virtual time (Trio's MockClock) while holding the baton: one step."""
        import trio

        await self.step(label, "", trio.sleep, seconds, detail=f"{seconds:g}s", awaits=True)

    async def tail(self, path: str, claim: Callable[[], Footprint | None], rest: Callable[[], Awaitable[T]]) -> T:
        """``await rest()``, the rest of this thread's run. When tails are deferred
        (``raceproof.tails``) and ``claim()`` says what the rest may touch, first one step that
        claims it and changes nothing, then a wait until every thread is done choosing; the rest
        then runs without scheduling points (or its recorded effect is applied)."""
        if self.sched.tails is not None:
            fp = claim()
            if fp is not None:
                return await self.sched.defer(self.tid, path, fp, rest)
        return await rest()

    async def local(self, op: str, detail: str = "", path: str = "") -> None:
        """A thread-local step with no filesystem footprint (e.g. a download)."""
        await self.step(op, path, lambda: None, detail=detail)

    # synchronisation: blocking steps partial-order reduction understands ------------------
    async def set_event(self, name: str) -> None:
        """Set the one-shot event `name` (like ``threading.Event.set``); setting it again is a no-op."""
        def fire() -> None:
            self.vfs.fp.writes.add("ev:" + name)
            self.sched.events.add(name)

        await self.step("set_event", name, fire)

    async def wait_event(self, name: str) -> None:
        """Block until the event `name` is set (a step that cannot run before the ``set_event``)."""
        def passed() -> None:
            self.vfs.fp.reads.add("ev:" + name)
            self.vfs.fp.waits.add("ev:" + name)
            self.vfs.fp.need = 1

        await self.step("wait_event", name, passed, until=lambda: name in self.sched.events)

    async def arrive(self, name: str) -> None:
        """Count this thread as arrived at the latch `name` (one step; arrivals commute with each
        other; a thread counts once however often it arrives)."""
        arrived = self.sched.barriers.setdefault(name, set())

        def arrive() -> None:
            self.vfs.fp.touches.add("bar:" + name)
            arrived.add(self.tid)

        await self.step("arrive", name, arrive)

    async def wait_arrivals(self, name: str, count: int) -> None:
        """Block until `count` threads have arrived at the latch `name` (a counting latch, like a
        ``CountDownLatch`` or a pool's free-worker count: the condition only grows)."""
        if count < 1:
            raise ValueError(f"latch {name!r}: count must be at least 1")
        arrived = self.sched.barriers.setdefault(name, set())

        def passed() -> None:
            self.vfs.fp.lists.add("bar:" + name)
            self.vfs.fp.waits.add("bar:" + name)
            self.vfs.fp.need = count

        await self.step("wait_arrivals", name, passed, detail=f"{count} arrivals",
                         until=lambda: len(arrived) >= count)

    async def barrier(self, name: str, parties: int) -> None:
        """``std::sync::Barrier::wait`` for `parties` threads: one step to arrive, then a blocking
        step that runs once all have arrived. Arrivals commute with each other."""
        if parties < 1:
            raise ValueError(f"barrier {name!r}: parties must be at least 1")
        arrived = self.sched.barriers.setdefault(name, set())

        def arrive() -> None:
            self.vfs.fp.touches.add("bar:" + name)
            arrived.add(self.tid)

        def passed() -> None:
            self.vfs.fp.lists.add("bar:" + name)
            self.vfs.fp.waits.add("bar:" + name)
            self.vfs.fp.need = parties

        await self.step("barrier_arrive", name, arrive, detail=f"{parties} parties")
        await self.step("barrier_wait", name, passed, until=lambda: len(arrived) >= parties)

    def choose(self, label: str, n: int) -> int:
        """A recorded data choice in ``range(n)`` (not a scheduling point)."""
        return self.sched.choose_value(self.tid, label, n)

    # composite operations (walks of steps) -------------------------------------------------
    async def create_dir_all(self, path: str) -> None:
        await rust_fs.create_dir_all(self, path)

    async def remove_dir_all(self, path: str) -> None:
        await rust_fs.remove_dir_all(self, path)

    async def canonicalize(self, path: str) -> str:
        return await rust_fs.canonicalize(self, path)


def _ok(_: object) -> str:
    return "ok"


def _render_names(entries: list[tuple[str, Kind]]) -> str:
    return "[" + ", ".join(name for name, _ in entries) + "]"


def _end_of_directory() -> list[tuple[str, Kind]]:
    return []
