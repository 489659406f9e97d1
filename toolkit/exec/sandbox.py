"""The sandbox a traced program runs in: a fresh directory it sees at a fixed path.

The program's process is started in a private mount namespace (``unshare(CLONE_NEWNS)``, ``/``
made private, so nothing propagates back) where a fresh host directory is bind-mounted over the
*mount point* (the first component of the scenario's paths, ``/home`` for the incident). Inside,
the program sees the scenario's tree at the scenario's paths; the host's real ``/home`` is hidden
from it and untouched. The driver (``raceproof.exec.driver``) refuses, per system call, anything
that would change the host outside the sandbox: a change through a path that resolves outside it
(a symlink included), mount/namespace/module calls, and paths through ``/proc/PID/{fd,cwd,root}``
magic links. The namespace itself is the second wall: even a refused call's path is confined.

Paths here are in the program's view ("tracee paths"); ``host()`` maps one to the tracer's view.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from raceproof.errors import InputError
from raceproof.exec import ptrace
from raceproof.fs import real

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MAXSYMLINKS = 40
#: paths outside the sandbox a program may open for writing (they change nothing)
WRITABLE_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/stdout", "/dev/stderr"})
_MAGIC = re.compile(r"^/proc/\d+(/task/\d+)?/(fd/[^/]+|cwd|root|exe|map_files/[^/]+)$")


@dataclass
class Tree:
    """The initial tree: directories, files (bytes) and symlinks, by tracee path."""

    dirs: list[str] = field(default_factory=list)
    files: Mapping[str, bytes] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [*self.dirs, *self.files, *self.links]


def mount_point_for(paths: list[str]) -> str:
    """The sandbox's mount point: the common first component of `paths` (InputError otherwise)."""
    tops = {"/" + p.strip("/").split("/")[0] for p in paths if p.strip("/")}
    if len(tops) != 1:
        raise InputError("sandbox: the scenario's paths must share one top-level directory "
                         f"(got {sorted(tops) or '/'})")
    return tops.pop()


def check_mount_point(mp: str) -> None:
    if mp in ("/", "/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/tmp", "/work"):
        raise InputError(f"sandbox: mount point {mp} would hide what the program needs; put the scenario's paths "
                         "under another top-level directory")
    if not os.path.isdir(mp) or os.path.islink(mp):
        raise InputError(f"sandbox: mount point {mp} does not exist on this machine (a directory is needed to bind "
                         "the sandbox over)")


class Sandbox:
    """One execution's private tree (``prepare``), bound at `mount_point` inside the child."""

    def __init__(self, mount_point: str, tree: Tree) -> None:
        self.mp = mount_point
        self.tree_spec = tree
        self.host_root = ""
        self._outside: dict[str, os.stat_result | None] = {}  # lstat cache outside (it cannot change)

    # life cycle --------------------------------------------------------------------------------
    def prepare(self) -> None:
        self.cleanup()
        # registered with the real backend's sandboxes, so an interrupt's clean-up
        # (``raceproof.fs.real.cleanup_all``) removes it too
        self.host_root = real.new_root("raceproof-exec-")
        os.chmod(self.host_root, 0o755)
        t = self.tree_spec
        for d in sorted(t.dirs):
            os.makedirs(self.host(d), exist_ok=True)
        for p, data in sorted(t.files.items()):
            os.makedirs(os.path.dirname(self.host(p)), exist_ok=True)
            with open(self.host(p), "wb") as f:
                f.write(data)
        for p, target in sorted(t.links.items()):
            os.makedirs(os.path.dirname(self.host(p)), exist_ok=True)
            os.symlink(target, self.host(p))

    def cleanup(self) -> None:
        if self.host_root:
            real.remove_root(self.host_root)
            self.host_root = ""

    def child_setup(self) -> None:
        """Runs in the forked child before exec: private namespace, bind mount, become a tracee."""
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
        if libc.mount(self.host_root.encode(), self.mp.encode(), None, MS_BIND | MS_REC, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount --bind {self.host_root} {self.mp}")
        cwd = os.getcwd()
        if self.inside(cwd):
            os.chdir("/")
        ptrace.traceme()

    # paths -------------------------------------------------------------------------------------
    def inside(self, path: str) -> bool:
        return path == self.mp or path.startswith(self.mp + "/")

    def host(self, path: str) -> str:
        return self.host_root + path[len(self.mp):] if self.inside(path) else path

    def _lstat(self, path: str) -> os.stat_result | None:
        if self.inside(path):
            try:
                return os.lstat(self.host(path))
            except OSError:
                return None
        if path in self._outside:
            return self._outside[path]
        try:
            st: os.stat_result | None = os.lstat(path)
        except OSError:
            st = None
        if not path.startswith("/proc/"):
            self._outside[path] = st
        return st

    def resolve(self, path: str, *, follow: bool, tgid: int = 0, tid: int = 0) -> Resolution:
        """Resolve an absolute tracee path component by component, as the kernel would.

        Records every entry looked up (``e:`` resources of the ones inside the sandbox), whether
        the walk touched the sandbox, the final entry's path (not followed unless `follow`) and
        kind, an ancestor error, and whether it went through a ``/proc`` magic link."""
        res = Resolution()
        if tgid:
            path = re.sub(r"^/proc/thread-self(?=/|$)", f"/proc/{tgid}/task/{tid}", path)
            path = re.sub(r"^/proc/self(?=/|$)", f"/proc/{tgid}", path)
        trailing = len(path) > 1 and path.endswith("/")
        todo = [c for c in reversed(path.split("/")) if c]
        if trailing:
            follow = True
        cur = ""
        links = 0
        while todo:
            name = todo.pop()
            if name == ".":
                continue
            if name == "..":
                cur = cur.rsplit("/", 1)[0]
                continue
            child = cur + "/" + name
            last = not todo
            inside = self.inside(child)
            if inside:
                res.touched = True
            if last and not follow:
                res.final = child
                st = self._lstat(child)
                res.kind = _kind(st)
                res.ino = st.st_ino if st else 0
                return res
            if inside:
                res.reads.append("e:" + child)
            st = self._lstat(child)
            if st is None:
                if last:
                    res.final = child
                    return res
                res.error = E.ENOENT
                res.final = child
                return res
            if stat.S_ISLNK(st.st_mode):
                if _MAGIC.match(child):
                    res.magic = True
                    res.final = child
                    return res
                links += 1
                if links > MAXSYMLINKS:
                    res.error = E.ELOOP
                    res.final = child
                    return res
                target = os.readlink(self.host(child))
                if target.startswith("/"):
                    cur = ""
                todo.extend(c for c in reversed(target.split("/")) if c)
                continue
            if last:
                res.final = child
                res.kind = _kind(st)
                res.ino = st.st_ino
                return res
            if not stat.S_ISDIR(st.st_mode):
                res.error = E.ENOTDIR
                res.final = child
                return res
            cur = child
        res.final = cur or "/"
        st = self._lstat(res.final)
        res.kind = _kind(st)
        res.ino = st.st_ino if st else 0
        if self.inside(res.final):
            res.touched = True
        return res

    # the final tree ----------------------------------------------------------------------------
    def tree(self) -> dict[str, str]:
        """The sandbox's tree in ``Vfs.tree()``'s format (tracee paths, sorted depth-first walk),
        from the scenario's root: the mount point's ancestors are listed as directories."""
        out: dict[str, str] = {}
        parts = self.mp.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            out["/" + "/".join(parts[:i])] = "dir"
        first: dict[int, str] = {}

        def walk(host_dir: str, logical: str) -> None:
            for name in sorted(os.listdir(host_dir)):
                hp = os.path.join(host_dir, name)
                lp = logical.rstrip("/") + "/" + name
                st = os.lstat(hp)
                if stat.S_ISLNK(st.st_mode):
                    out[lp] = "link:" + os.readlink(hp)
                elif stat.S_ISDIR(st.st_mode):
                    out[lp] = "dir"
                    walk(hp, lp)
                else:
                    seen = first.setdefault(st.st_ino, lp)
                    if seen != lp:
                        out[lp] = "hardlink:" + seen
                    else:
                        with open(hp, "rb") as f:
                            out[lp] = "file:" + f.read().hex()

        if self.host_root:
            walk(self.host_root, self.mp)
        return out


@dataclass
class Resolution:
    reads: list[str] = field(default_factory=list)
    final: str = ""
    kind: str | None = None
    ino: int = 0
    touched: bool = False
    magic: bool = False
    error: int | None = None


def _kind(st: os.stat_result | None) -> str | None:
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "file" if stat.S_ISREG(st.st_mode) else "other"
