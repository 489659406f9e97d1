"""The POSIX layer every step goes through: path resolution, errno semantics, footprints.

``Vfs`` resolves paths itself, component by component, following symlinks chroot-style: an
absolute link target restarts at the scenario root and ``..`` stops at the root, so no path can
leave the namespace on any backend. Each public method is one step: it performs exactly one
system-call-sized operation on the backend and records what it touched into ``self.fp`` (see
``raceproof.steps``). A failed operation records only what it read. Errors are real ``OSError``s,
re-raised with the scenario path so that traces are identical on every backend.
"""

from __future__ import annotations

import errno as E
import os
import zlib
from collections.abc import Callable
from typing import Any

from raceproof.fs.base import NAME_MAX, PATH_MAX, Backend, Kind, OpenMode, Stat, join, oserror, parent_of
from raceproof.steps import FootprintBuilder, content, entry

MAXSYMLINKS = 40
#: bytes one ``write`` step copies: the kernel copies a write page by page, so a concurrent reader
#: can see a prefix of it (seen on tmpfs: 4,096 of 10,240 bytes); a longer write is several steps
PAGE = 4096
#: bytes one ``read`` step asks for at most (a read of a small file is one step)
READ_CHUNK = 1 << 16


def split(path: str) -> list[str]:
    return [c for c in path.split("/") if c]


class Vfs:
    """A backend seen through POSIX semantics, with footprint recording."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fp = FootprintBuilder()
        self._ids: dict[int, str] = {}
        self._created_by: dict[int, int] = {}
        # vfs handle -> [backend handle, file id, offset]; handles are numbered per thread, so the
        # number a program sees does not depend on the interleaving (a real fd number would)
        self._handles: dict[int, list[Any]] = {}  # handle -> [backend handle, file id, offset, path opened]
        #: checks run before every write with (the path the handle was opened with, the byte
        #: count); an ``OSError`` one raises is the write's result (a full disk). Hooks of one
        #: execution: ``reset_ids`` clears them
        self.write_checks: list[Callable[[str, int], None]] = []
        self._opened: dict[int, int] = {}
        #: directories a walk holds open (``open_dir``): inode -> its current resolved path
        self._open_dirs: dict[int, str] = {}
        #: the virtual thread whose step is running (set by the scheduler; -1 during set-up)
        self.thread = -1
        self._kind: Callable[[str], str | None] = backend.kind
        #: mount points (``mount``): the set-up's root path -> its device number, and where each
        #: root is now (a rename of an ancestor moves a mount with it). A mount root cannot be
        #: removed or renamed (EBUSY), a rename or link cannot cross mounts (EXDEV), and ``stat``
        #: reports the mount's st_dev. The same on every backend (the check is here, not there).
        self._mount_setup: dict[str, int] = {}
        self._mounts: dict[str, int] = {}

    # lifecycle -----------------------------------------------------------------------------
    def reset_ids(self) -> None:
        """Forget logical file ids, open handles, open directories and write checks (start/end of
        an execution)."""
        self.write_checks = []
        for bh, *_ in self._handles.values():
            try:
                self.backend.close_handle(bh)
            except OSError:
                pass
        self.backend.unpin_dirs()
        self._ids = {}
        self._created_by = {}
        self._handles = {}
        self._opened = {}
        self._open_dirs = {}
        self._mounts = dict(self._mount_setup)

    def name_setup_files(self) -> dict[int, str]:
        """Name every file of the initial tree by its path (``s:/a/b``): a name that is the same in
        every execution, whatever the backend's inode numbers. Returns the mapping."""
        ids: dict[int, str] = {}
        backend = self.backend

        def walk(p: str) -> None:
            for name, kind in backend.listdir(p):
                child = p.rstrip("/") + "/" + name
                st = backend.lstat(child)
                if st is not None:
                    ids.setdefault(st.ino, "s:" + child)
                if kind == "dir":
                    walk(child)

        root = backend.lstat("/")
        if root is not None:
            ids[root.ino] = "s:/"
        walk("/")
        self.set_setup_ids(ids)
        return ids

    def set_setup_ids(self, ids: dict[int, str]) -> None:
        self._ids = dict(ids)
        self._created_by = {}

    def begin(self) -> FootprintBuilder:
        self.fp = FootprintBuilder()
        return self.fp

    def file_id(self, ino: int, *, created: bool = False) -> str:
        """A schedule-independent name for a file: who created it (thread, n-th creation), or its
        set-up identity. Partial-order reduction compares footprints *across* executions, so a
        name that depended on the interleaving (like a global creation counter) would be unsound.
        """
        fid = self._ids.get(ino)
        if fid is None or created:
            n = self._created_by.get(self.thread, 0)
            self._created_by[self.thread] = n + 1
            fid = self._ids[ino] = f"{self.thread}.{n}" if created else f"?{ino}"
        return fid

    # mount points -----------------------------------------------------------------------
    def mount(self, path: str) -> None:
        """Set-up: make `path` (created if missing) a mount point of a filesystem of its own, like
        ``mount -t tmpfs none PATH``. Idempotent."""
        self.makedirs(path)
        full = self.resolve(path, follow=True)
        if full not in self._mount_setup:
            self._mount_setup[full] = len(self._mount_setup) + 1
        self._mounts[full] = self._mount_setup[full]

    def dev_of(self, full: str) -> int:
        """The st_dev of the resolved path `full`: its deepest mount root's number, else 0."""
        best, dev = "", 0
        for root, num in self._mounts.items():
            if (full == root or full.startswith(root.rstrip("/") + "/")) and len(root) > len(best):
                best, dev = root, num
        return dev

    def _busy(self, full: str, path: str) -> None:
        """EBUSY if `full` is a mount root (rmdir, rename)."""
        if full in self._mounts:
            raise oserror(E.EBUSY, path)

    def _cross(self, s: str, d: str, path: str) -> None:
        """EXDEV if the parent directories of `s` and `d` are on different mounts (the kernel's
        ``old_path.mnt != new_path.mnt``, checked once both parents are looked up)."""
        if self._mounts and self.dev_of(parent_of(s)) != self.dev_of(parent_of(d)):
            raise oserror(E.EXDEV, path)

    def _move_mounts(self, moves: dict[str, str]) -> None:
        """Mounts below a renamed directory move with it (every prefix in `moves` at once)."""
        moved = {}
        for root, num in self._mounts.items():
            for old, new in moves.items():
                if root.startswith(old + "/"):
                    root = new + root[len(old):]
                    break
            moved[root] = num
        self._mounts = moved

    def _observed(self, st: Stat) -> Stat:
        """The one place a ``Stat`` is handed to a program: what it reveals joins the footprint.

        The entry (kind, identity, a link's target) was read by resolving the path. A file's size
        is its content, so it is a read of the content; a directory's size differs between
        filesystems (tmpfs counts entries) and is reported as 0. The inode number is the file's
        schedule-independent identity (``file_id``), hashed: a backend's inode numbers depend on
        the order of creation, hence on the interleaving."""
        fid = self._ids.get(st.ino) or f"?{st.ino}"
        if st.kind == "file":
            self.fp.reads.add(content(fid))
            size = st.size
        else:
            size = st.size if st.kind == "link" else 0
        return Stat(st.kind, size, zlib.crc32(fid.encode()))

    def _on_dev(self, st: Stat, full: str) -> Stat:
        """`st` with the st_dev of the mount `full` is on (0 without mounts)."""
        return Stat(st.kind, st.size, st.ino, self.dev_of(full)) if self._mounts else st

    # resolution ----------------------------------------------------------------------------
    def resolve(self, path: str, *, follow: bool, nofollow_ancestors: bool = False) -> str:
        """Resolve `path` to a backend path whose ancestors are real directories.

        With ``follow`` a final symlink is followed too. The final component may not exist.
        Raises ENOENT/ENOTDIR for a bad ancestor and ELOOP for too many links.
        """
        if not path.startswith("/"):
            raise oserror(E.EINVAL, path)
        # NAME_MAX / PATH_MAX, modelled here so that memory, fake and real agree (ENAMETOOLONG)
        if len(path) > 63 and (len(path.encode("utf-8", "surrogatepass")) >= PATH_MAX
                               or any(len(c.encode("utf-8", "surrogatepass")) > NAME_MAX for c in path.split("/"))):
            raise oserror(E.ENAMETOOLONG, path)
        if len(path) > 1 and path.endswith("/"):
            # Linux: a trailing slash makes the lookup follow a final symlink (even under
            # O_NOFOLLOW or lstat) and requires a directory (ENOTDIR otherwise). rmdir/unlink
            # check their own final component (``_slash_final``).
            full = self.resolve(path.rstrip("/") or "/", follow=True, nofollow_ancestors=nofollow_ancestors)
            k = self._kind(full)
            if k is not None and k != "dir":
                raise oserror(E.ENOTDIR, path)
            return full
        todo = [c for c in reversed(path.split("/")) if c]  # a stack: next component last
        cur = ""  # the resolved directory so far ("" is the root)
        links = 0
        add_read = self.fp.reads.add
        kind = self._kind
        while todo:
            name = todo.pop()
            if name == ".":
                continue
            if name == "..":
                cur = cur.rsplit("/", 1)[0]
                continue
            child = cur + "/" + name
            last = not todo
            if last and not follow:
                return child
            add_read("e:" + child)
            k = kind(child)
            if k is None:
                if last:
                    return child
                raise oserror(E.ENOENT, path)
            if k == "link":
                if nofollow_ancestors:
                    raise oserror(E.ELOOP, path)
                links += 1
                if links > MAXSYMLINKS:
                    raise oserror(E.ELOOP, path)
                target = self.backend.readlink(child)
                if len("/".join([cur, target, *reversed(todo)]).encode("utf-8", "surrogatepass")) >= PATH_MAX:
                    raise oserror(E.ENAMETOOLONG, path)  # the resolved path would not fit the backend
                if target.startswith("/"):
                    cur = ""
                todo.extend(c for c in reversed(target.split("/")) if c)
                continue
            if last:
                return child
            if k != "dir":
                raise oserror(E.ENOTDIR, path)
            cur = child
        return cur or "/"

    def _final(self, path: str, *, follow: bool = False, nofollow_ancestors: bool = False) -> str:
        full = self.resolve(path, follow=follow, nofollow_ancestors=nofollow_ancestors)
        self.fp.reads.add(entry(full))
        return full

    def _name_new(self, full: str) -> None:
        """Give a directory or symlink this step created its schedule-independent identity."""
        st = self.backend.lstat(full)
        if st is not None:
            self.file_id(st.ino, created=True)

    def _created(self, full: str) -> None:
        self.fp.writes.add(entry(full))
        self.fp.touches.add(parent_of(full))

    @staticmethod
    def _rethrow(exc: OSError, path: str) -> OSError:
        return OSError(exc.errno, os.strerror(exc.errno or 0), path)

    def _at_dir(self, ino: int) -> str | None:
        """The current resolved path of the directory a walk holds open (inode `ino`), or None if it
        is dead (removed, or replaced by another inode).

        Models a held directory fd: ``openat``/``unlinkat``/``getdents`` act on *that directory*
        wherever it is now. A directory renamed (or whose ancestor was renamed) keeps its fd: the
        walk follows it to its new place (``rename`` updates the table). Its current path is looked
        up (recording reads of every entry on it) so that a step on the fd is dependent with a
        rename or removal of the directory or an ancestor: footprints name entries by path.
        The inode cannot be reused while the walk is live: the real backend pins it with an open fd.
        """
        cur = self._open_dirs.get(ino)
        if cur is None:
            return None
        try:
            full = self._final(cur)
        except OSError:
            return None
        st = self.backend.lstat(full)
        return full if st is not None and st.kind == "dir" and st.ino == ino else None

    def dir_alive(self, ino: int) -> bool:
        """Whether the directory a walk holds open (``open_dir``'s inode `ino`) still exists (its
        lookup is recorded like any step's on the fd: see ``_at_dir``)."""
        return self._at_dir(ino) is not None

    def _at_path(self, path: str, at: int | None) -> str:
        """The scenario path an fd-relative step on `path`'s final component acts on: the name in
        the directory `at` where that directory is now (ENOENT if it is dead)."""
        if at is None:
            return path
        base = self._at_dir(at)
        if base is None:
            raise oserror(E.ENOENT, path)
        return join(base, path.rsplit("/", 1)[1])

    def _slash_final(self, path: str) -> None:
        """rmdir/unlink of ``name/``: the final component is not followed; it must be a directory."""
        if len(path) > 1 and path.endswith("/"):
            full = self.resolve(path.rstrip("/"), follow=False)
            self.fp.reads.add(entry(full))
            k = self._kind(full)
            if k is None:
                raise oserror(E.ENOENT, path)
            if k != "dir":
                raise oserror(E.ENOTDIR, path)

    # steps ---------------------------------------------------------------------------------
    def lstat(self, path: str, *, nofollow_ancestors: bool = False) -> Stat:
        full = self._final(path, nofollow_ancestors=nofollow_ancestors)
        st = self.backend.lstat(full)
        if st is None:
            raise oserror(E.ENOENT, path)
        return self._on_dev(self._observed(st), full)

    def kind_of(self, path: str) -> str:
        """stat(2) when only the type is looked at (``exists``, ``is_dir``): the entries along the
        path are its whole footprint (a file's size is not revealed, so no content read)."""
        kind = self._kind(self._final(path, follow=True))
        if kind is None:
            raise oserror(E.ENOENT, path)
        return kind

    def stat(self, path: str) -> Stat:
        full = self._final(path, follow=True)
        st = self.backend.lstat(full)
        if st is None:
            raise oserror(E.ENOENT, path)
        return self._on_dev(self._observed(st), full)

    def mkdir(self, path: str) -> None:
        full = self._final(path)
        try:
            self.backend.mkdir(full)
        except OSError as exc:
            raise self._rethrow(exc, path) from None
        self._created(full)
        self._name_new(full)

    def rmdir(self, path: str, *, nofollow_ancestors: bool = False, at: int | None = None) -> None:
        """rmdir(2); with ``at`` it is ``unlinkat(dirfd, name, AT_REMOVEDIR)`` (see ``_at_dir``)."""
        self._slash_final(path)
        full = self._final(self._at_path(path, at), nofollow_ancestors=nofollow_ancestors)
        self.fp.lists.add(full)
        st = self.backend.lstat(full)
        if st is not None and st.kind != "dir":  # a file or a symlink (pyfakefs says ENOENT for a dangling one)
            raise oserror(E.ENOTDIR, path)
        self._busy(full, path)  # a mount root, empty or not (the kernel's check precedes ENOTEMPTY)
        try:
            self.backend.rmdir(full)
        except OSError as exc:
            raise self._rethrow(exc, path) from None
        self._created(full)

    def unlink(self, path: str, *, nofollow_ancestors: bool = False, at: int | None = None) -> None:
        """unlink(2); with ``at`` it is ``unlinkat(dirfd, name, 0)`` (see ``_at_dir``)."""
        self._slash_final(path)
        full = self._final(self._at_path(path, at), nofollow_ancestors=nofollow_ancestors)
        try:
            self.backend.unlink(full)
        except OSError as exc:
            raise self._rethrow(exc, path) from None
        self._created(full)

    def listdir(self, path: str, *, follow: bool = True, nofollow_ancestors: bool = False,
                at: int | None = None) -> list[tuple[str, Kind]]:
        """List a directory. With ``at`` (the inode ``opendir`` returned) it is ``getdents`` on that
        open directory, wherever it is now: a directory removed since is dead and lists as empty
        (glibc's ``readdir`` maps the kernel's ENOENT for a dead directory to end-of-directory)."""
        if at is not None:
            base = self._at_dir(at)
            if base is None:
                return []
            full = base
        else:
            full = self._final(path, follow=follow, nofollow_ancestors=nofollow_ancestors)
        st = self.backend.lstat(full)
        if st is None:
            raise oserror(E.ENOENT, path)
        if st.kind != "dir":
            raise oserror(E.ENOTDIR, path)
        self.fp.lists.add(full)
        return self.backend.listdir(full)

    def opendir(self, path: str, *, nofollow_ancestors: bool = False, at: int | None = None) -> None:
        """open(O_DIRECTORY|O_NOFOLLOW): ENOTDIR for a file and for a symlink (Linux checks
        O_DIRECTORY before O_NOFOLLOW's ELOOP; tests/engine/test_errno_kernel.py)."""
        self.open_dir(path, nofollow_ancestors=nofollow_ancestors, at=at)

    def open_dir(self, path: str, *, nofollow_ancestors: bool = False, at: int | None = None) -> int:
        """``opendir`` that returns the directory's inode: the identity of the open fd, for the
        fd-relative steps of a walk (``at=``). With ``at`` it is ``openat(dirfd, name, ...)``. The
        inode is backend-specific: never put it in a trace."""
        full = self._final(self._at_path(path, at), nofollow_ancestors=nofollow_ancestors)
        st = self.backend.lstat(full)
        if st is None:
            raise oserror(E.ENOENT, path)
        if st.kind != "dir":
            raise oserror(E.ENOTDIR, path)
        if st.ino not in self._open_dirs:
            self.backend.pin_dir(full)
        self._open_dirs[st.ino] = full
        return st.ino

    def open(self, path: str, mode: OpenMode) -> int:
        """Open a regular file, following a final symlink (``x`` never follows: EEXIST). A
        directory is EISDIR in every mode, as Python's ``open`` reports it (raw ``open(2)`` would
        accept ``O_RDONLY``; no model reads directories through ``open``)."""
        full = self._final(path, follow=(mode != "x"))
        st = self.backend.lstat(full)
        existed = st is not None
        if st is not None and mode == "x":  # O_CREAT|O_EXCL: EEXIST for anything, a symlink included
            raise oserror(E.EEXIST, path)
        if st is not None and st.kind == "dir":
            raise oserror(E.EISDIR, path)
        try:
            bh = self.backend.open(full, mode)
        except OSError as exc:
            raise self._rethrow(exc, path) from None
        fid = self.file_id(self.backend.fstat(bh).ino, created=not existed)
        if not existed:
            self._created(full)
        if mode != "r":
            self.fp.writes.add(content(fid))
        n = self._opened.get(self.thread, 0)
        self._opened[self.thread] = n + 1
        handle = ((self.thread + 2) << 16) | n
        self._handles[handle] = [bh, fid, 0, path]
        return handle

    def _handle(self, handle: int) -> list[Any]:
        h = self._handles.get(handle)
        if h is None:
            raise oserror(E.EBADF, f"fd {handle}")
        return h

    def write(self, handle: int, data: bytes) -> int:
        """Write `data` at the end (one step copies at most ``PAGE`` bytes: see ``SchedFS.write``)."""
        h = self._handle(handle)
        for check in self.write_checks:
            check(h[3], len(data))
        self.fp.writes.add(content(h[1]))
        n = self.backend.write(h[0], data)
        h[2] += n
        return n

    def read(self, handle: int, size: int = READ_CHUNK) -> bytes:
        """Up to `size` bytes from the handle's offset (``b""`` at the end of the file)."""
        h = self._handle(handle)
        self.fp.reads.add(content(h[1]))
        data = self.backend.read(h[0], size, h[2])
        h[2] += len(data)
        return data

    def close(self, handle: int) -> None:
        bh = self._handle(handle)[0]
        del self._handles[handle]
        self.backend.close_handle(bh)

    def read_file(self, path: str) -> bytes:
        """The whole file at once (unscheduled: set-up and checks; programs read in steps)."""
        h = self.open(path, "r")
        try:
            return self.read(h, -1)
        finally:
            self.close(h)

    def write_file(self, path: str, data: bytes) -> None:
        """Create or truncate `path` with `data` at once (unscheduled: set-up only)."""
        h = self.open(path, "w")
        try:
            self.write(h, data)
        finally:
            self.close(h)

    def symlink(self, target: str, path: str) -> None:
        if not target:  # Linux: an empty target is ENOENT before any lookup (getname)
            raise oserror(E.ENOENT, path)
        full = self._final(path)
        try:
            self.backend.symlink(target, full)
        except OSError as exc:
            raise self._rethrow(exc, path) from None
        self._created(full)
        self._name_new(full)

    def readlink(self, path: str) -> str:
        full = self._final(path)
        try:
            return self.backend.readlink(full)
        except OSError as exc:
            raise self._rethrow(exc, path) from None

    def link(self, src: str, dst: str) -> None:
        """link(2): the source is looked up first (ENOENT), then the new name (EEXIST), then a
        directory source is refused (EPERM); the Vfs checks the first itself (pyfakefs says EEXIST)."""
        s = self._final(src)
        d = self._final(dst)
        if self.backend.lstat(s) is None:
            raise oserror(E.ENOENT, src)
        self._cross(s, d, dst)
        try:
            self.backend.link(s, d)
        except OSError as exc:
            raise self._rethrow(exc, dst) from None
        self._created(d)

    def rename(self, src: str, dst: str, flags: str = "") -> None:
        """rename(2), or renameat2(2) with ``flags`` ``"noreplace"`` (``RENAME_NOREPLACE``: EEXIST
        if `dst` exists, whatever it is) or ``"exchange"`` (``RENAME_EXCHANGE``: swap the two
        entries atomically; ENOENT unless both exist; a directory may swap with a file; EINVAL if
        one contains the other). Errno order is the kernel's (``do_renameat2``): the source must
        exist, then the flag checks, then the ancestor checks (tests/engine/test_errno_kernel.py)."""
        if flags not in ("", "noreplace", "exchange"):
            raise ValueError(f"rename: flags must be '', 'noreplace' or 'exchange' (got {flags!r})")
        s = self._final(src)
        d = self._final(dst)
        if self._mounts:
            self._cross(s, d, src)  # before the source is looked up, as in do_renameat2
        if flags:
            self._rename2(src, dst, s, d, flags)
            return
        dst_st = self.backend.lstat(d)
        if dst_st is not None and dst_st.kind == "dir":
            self.fp.lists.add(d)
        src_st = self.backend.lstat(s)
        if src_st is not None and src_st.kind == "dir":
            self.fp.lists.add(s)
        if self._mounts and (s in self._mounts or d in self._mounts):
            self._rename_busy(src, dst, s, d, src_st, dst_st)
        try:
            self.backend.rename(s, d)
        except OSError as exc:
            raise self._rethrow(exc, src) from None
        if src_st is not None and src_st.kind == "dir" and s != d:
            if self._open_dirs:
                self._move_open_dirs({s: d})
            if self._mounts:
                self._move_mounts({s: d})
        self._created(s)
        self._created(d)

    def _rename_busy(self, src: str, dst: str, s: str, d: str, src_st: Stat | None, dst_st: Stat | None) -> None:
        """rename(2) with a mount root as source or target: the kernel's errors that come first
        (ENOENT, the ancestor traps EINVAL/ENOTEMPTY, the type checks ENOTDIR/EISDIR; the same
        entry is a no-op), then EBUSY (``vfs_rename``: ``is_local_mountpoint``)."""
        if src_st is None:
            raise oserror(E.ENOENT, src)
        if s == d:
            return
        if (d + "/").startswith(s + "/"):
            raise oserror(E.EINVAL, dst)
        if (s + "/").startswith(d + "/"):
            raise oserror(E.ENOTEMPTY, dst)
        if dst_st is not None and src_st.kind == "dir" and dst_st.kind != "dir":
            raise oserror(E.ENOTDIR, dst)
        if dst_st is not None and src_st.kind != "dir" and dst_st.kind == "dir":
            raise oserror(E.EISDIR, dst)
        raise oserror(E.EBUSY, src if s in self._mounts else dst)

    def _move_open_dirs(self, moves: dict[str, str]) -> None:
        """Open directory fds move with their directory (every prefix in `moves` at once)."""
        for ino, cur in self._open_dirs.items():
            for old, new in moves.items():
                if cur == old or cur.startswith(old + "/"):
                    self._open_dirs[ino] = new + cur[len(old) :]
                    break

    def _rename2(self, src: str, dst: str, s: str, d: str, flags: str) -> None:
        """renameat2 with a flag; `s`/`d` are the resolved paths (their entries already read)."""
        src_st = self.backend.lstat(s)
        if src_st is None:
            raise oserror(E.ENOENT, src)
        dst_st = self.backend.lstat(d)
        if flags == "noreplace" and dst_st is not None:
            raise oserror(E.EEXIST, dst)
        if flags == "exchange" and dst_st is None:
            raise oserror(E.ENOENT, dst)
        if s == "/" or ((d + "/").startswith(s + "/") and s != d):  # the source is an ancestor of the target
            raise oserror(E.EINVAL, dst)
        if d == "/" or ((s + "/").startswith(d + "/") and s != d):  # the target is an ancestor of the source
            raise oserror(E.EINVAL if flags == "exchange" else E.ENOTEMPTY, dst)
        if self._mounts and s != d and (s in self._mounts or d in self._mounts):
            # NOREPLACE has no target here (EEXIST above); EXCHANGE does no type checks
            raise oserror(E.EBUSY, src if s in self._mounts else dst)
        if flags == "noreplace":
            try:
                self.backend.rename(s, d)
            except OSError as exc:
                raise self._rethrow(exc, src) from None
            if self._open_dirs and src_st.kind == "dir":
                self._move_open_dirs({s: d})
            if self._mounts and src_st.kind == "dir":
                self._move_mounts({s: d})
        else:
            assert dst_st is not None
            if s == d or src_st.ino == dst_st.ino:  # the same entry, or two links to one file: a no-op
                return
            # one atomic step in the model: three renames through a name no other step can see
            tmp = parent_of(s).rstrip("/") + "/.raceproof-exchange"
            while self.backend.lstat(tmp) is not None:
                tmp += "_"
            try:
                self.backend.rename(s, tmp)
                self.backend.rename(d, s)
                self.backend.rename(tmp, d)
            except OSError as exc:  # [raceproof internal bug]: the checks above should rule it out
                raise self._rethrow(exc, src) from None
            if self._open_dirs:
                self._move_open_dirs({s: d, d: s})
            if self._mounts:
                self._move_mounts({s: d, d: s})
        self._created(s)
        self._created(d)

    def realpath(self, path: str) -> str:
        """realpath(3): every component must exist (ENOENT otherwise)."""
        full = self._final(path, follow=True)
        if self.backend.lstat(full) is None:
            raise oserror(E.ENOENT, path)
        return full

    # unscheduled helpers (set-up, snapshots) -----------------------------------------------
    def makedirs(self, path: str) -> None:
        cur = ""
        for comp in split(path):
            cur += "/" + comp
            st = self.backend.lstat(self.resolve(cur, follow=True))
            if st is None:
                self.mkdir(cur)

    def put(self, path: str, data: bytes) -> None:
        """Create `path` with `data`, parents included (set-up only)."""
        self.makedirs(parent_of(path))
        self.write_file(path, data)

    def state_key(self) -> tuple[Any, ...] | None:
        """Everything about the filesystem a thread could tell apart, as a hashable value: the
        tree with each entry's identity (the one ``stat`` reveals), and the mounts. None when a
        file handle or a directory is open (their tables are not in it), or when the backend
        cannot say (only the memory backend can)."""
        if self._handles or self._open_dirs:
            return None
        tree = self.backend.full_state(self._ids)
        return None if tree is None else (tree, tuple(sorted(self._mounts.items())))

    def tree(self, top: str = "/") -> dict[str, str]:
        """The whole tree under `top` as ``{path: description}``: ``dir``, ``file:<hex of bytes>``,
        ``link:<target>``, or ``hardlink:<path>`` for a further name of a file already listed at
        ``<path>`` (the first name in walk order, which is sorted depth-first). Deterministic,
        backend-independent."""
        return self.backend.tree(top)
