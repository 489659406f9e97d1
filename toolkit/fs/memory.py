"""raceproof's own in-memory POSIX tree: the fast backend for exploration.

Nodes live in one flat dict keyed by path; a directory node keeps the set of its entry names. A
file node is shared by every hard link to it, and an open handle keeps a node alive after its last
name is unlinked (writes to it succeed and are lost with it: the silent-loss mode). Snapshot and
restore copy the dict, which costs microseconds for incident-sized trees.
"""

from __future__ import annotations

import errno as E
import itertools
from typing import Any, cast

from raceproof.fs.base import PATH_MAX, BackendBase, Kind, OpenMode, Stat, check_rename, join, oserror, parent_of


class _Node:
    __slots__ = ("data", "ino", "kind", "names", "target")

    def __init__(self, kind: Kind, ino: int, target: str = "") -> None:
        self.kind: Kind = kind
        self.data = bytearray()
        self.target = target
        self.ino = ino
        self.names: set[str] | None = set() if kind == "dir" else None

    def copy(self) -> _Node:
        n = _Node(self.kind, self.ino, self.target)
        n.data = bytearray(self.data)
        if self.names is not None:
            n.names = set(self.names)
        return n


Snapshot = tuple[dict[str, _Node], int]


class MemoryBackend(BackendBase):
    name = "memory"

    def __init__(self) -> None:
        self._inos = itertools.count(1)
        self._nodes: dict[str, _Node] = {}
        self._handles: dict[int, list[Any]] = {}  # handle -> [node, writable, offset, append]
        self._next_handle = 3
        self.reset()

    # lifecycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._inos = itertools.count(1)
        self._nodes = {"/": _Node("dir", next(self._inos))}
        self._handles = {}
        self._next_handle = 3

    def close(self) -> None:
        self._nodes = {}

    def snapshot(self) -> Snapshot:
        memo: dict[int, _Node] = {}
        nodes = {}
        for path, node in self._nodes.items():
            copy = memo.get(id(node))
            if copy is None:
                copy = memo[id(node)] = node.copy()
            nodes[path] = copy
        return nodes, self._peek_ino()

    def restore(self, snap: object) -> None:
        nodes, ino = cast(Snapshot, snap)
        memo: dict[int, _Node] = {}
        self._nodes = {}
        for path, node in nodes.items():
            copy = memo.get(id(node))
            if copy is None:
                copy = memo[id(node)] = node.copy()
            self._nodes[path] = copy
        self._inos = itertools.count(ino)
        self._handles = {}
        self._next_handle = 3

    def entries(self) -> tuple[dict[str, tuple[Kind, int, str]], dict[int, bytes]]:
        """The whole state a tree is made of, in two layers: every name but the root as
        ``{path: (kind, inode, link target)}``, and every file's bytes by inode, an unlinked file
        still open included (``raceproof.keepalive.crashstates`` diffs both per step: a write
        through a handle changes a file, not a name)."""
        names = {p: (n.kind, n.ino, n.target) for p, n in self._nodes.items() if p != "/"}
        data = {n.ino: bytes(n.data) for n in self._nodes.values() if n.kind == "file"}
        for h in self._handles.values():
            node = h[0]
            if node.kind == "file":
                data[node.ino] = bytes(node.data)
        return names, data

    def entry_state(self, path: str) -> tuple[Kind, int, bytes, str] | None:
        """The entry at `path` as (kind, inode, bytes, link target), or None."""
        node = self._nodes.get(path)
        return None if node is None else (node.kind, node.ino, bytes(node.data), node.target)

    def state_key(self, ids: dict[int, str] | None = None) -> tuple[Any, ...]:
        """The whole tree as a hashable value: every entry's kind, bytes and link target, and
        which names share a file (their first name), no inode numbers; with `ids` (inode ->
        identity, ``Vfs``), each entry's identity too."""
        first: dict[int, str] = {}
        get = (ids or {}).get
        return tuple([(p, n.kind, bytes(n.data), n.target, first.setdefault(n.ino, p), get(n.ino))
                      for p, n in sorted(self._nodes.items())])

    def full_state(self, ids: dict[int, str]) -> tuple[Any, ...] | None:
        """``state_key(ids)``; None while a handle is open (an unlinked file may live on in one)."""
        return None if self._handles else self.state_key(ids)

    def apply_entries(self, changes: list[tuple[str, bool, tuple[Kind, bytes, str] | None]]) -> None:
        """Replay recorded entry changes ``(path, existed before, state after)``: remove what
        existed (never a directory), then create the new entries, parents first (a deferred
        tail's effect, ``raceproof.tails``)."""
        for path, existed, _ in reversed(changes):
            if existed:
                self._remove(path)
        for path, _, after in changes:
            if after is not None:
                kind, data, target = after
                node = _Node(kind, next(self._inos), target)
                node.data = bytearray(data)
                self._add(path, node)

    def tree(self, top: str = "/") -> dict[str, str]:
        """``walk_tree``'s result read straight off the node table (the same walk order:
        depth-first, names sorted), without a listing, lookup or handle per entry."""
        nodes = self._nodes
        node = nodes.get(top)
        if node is None or node.kind != "dir":
            return {}
        prefix = "/" if top == "/" else top + "/"
        out: dict[str, str] = {}
        first: dict[int, str] = {}
        for p in sorted((p for p in nodes if p.startswith(prefix) and p != top), key=lambda p: p.split("/")):
            n = nodes[p]
            if n.kind == "dir":
                out[p] = "dir"
            elif n.kind == "link":
                out[p] = "link:" + n.target
            else:
                seen = first.setdefault(n.ino, p)
                out[p] = "file:" + n.data.hex() if seen == p else "hardlink:" + seen
        return out

    def _peek_ino(self) -> int:
        value = next(self._inos)
        self._inos = itertools.count(value)
        return value

    # helpers -------------------------------------------------------------------------------
    def _add(self, path: str, node: _Node) -> None:
        parent = self._nodes[parent_of(path)]
        assert parent.names is not None
        parent.names.add(path.rsplit("/", 1)[1])
        self._nodes[path] = node

    def _remove(self, path: str) -> None:
        parent = self._nodes[parent_of(path)]
        assert parent.names is not None
        parent.names.discard(path.rsplit("/", 1)[1])
        del self._nodes[path]

    def _get(self, path: str) -> _Node:
        node = self._nodes.get(path)
        if node is None:
            raise oserror(E.ENOENT, path)
        return node

    # operations ----------------------------------------------------------------------------
    def lstat(self, path: str) -> Stat | None:
        node = self._nodes.get(path)
        if node is None:
            return None
        size = len(node.data) if node.kind == "file" else len(node.target)
        return Stat(node.kind, size, node.ino)

    def kind(self, path: str) -> Kind | None:
        """The kind of the entry at `path`, or None (a fast lstat for path resolution)."""
        node = self._nodes.get(path)
        return None if node is None else node.kind

    def readlink(self, path: str) -> str:
        node = self._get(path)
        if node.kind != "link":
            raise oserror(E.EINVAL, path)
        return node.target

    def mkdir(self, path: str) -> None:
        if path in self._nodes:
            raise oserror(E.EEXIST, path)
        self._add(path, _Node("dir", next(self._inos)))

    def rmdir(self, path: str) -> None:
        node = self._get(path)
        if node.names is None:
            raise oserror(E.ENOTDIR, path)
        if node.names:
            raise oserror(E.ENOTEMPTY, path)
        if path == "/":
            raise oserror(E.EBUSY, path)
        self._remove(path)

    def unlink(self, path: str) -> None:
        node = self._get(path)
        if node.kind == "dir":
            raise oserror(E.EISDIR, path)
        self._remove(path)

    def listdir(self, path: str) -> list[tuple[str, Kind]]:
        node = self._get(path)
        if node.names is None:
            raise oserror(E.ENOTDIR, path)
        nodes = self._nodes
        return [(name, nodes[join(path, name)].kind) for name in sorted(node.names)]

    def open(self, path: str, mode: OpenMode) -> int:
        node = self._nodes.get(path)
        if node is None:
            if mode == "r":
                raise oserror(E.ENOENT, path)
            node = _Node("file", next(self._inos))
            self._add(path, node)
        elif mode == "x":
            raise oserror(E.EEXIST, path)
        elif node.kind == "dir":
            raise oserror(E.EISDIR, path)
        elif node.kind == "link":  # Vfs resolves links first; a dangling one is created through
            raise oserror(E.ELOOP, path)
        elif mode == "w":
            node.data.clear()
        handle = self._next_handle
        self._next_handle += 1
        self._handles[handle] = [node, mode != "r", 0, mode == "a"]  # node, writable, offset, append
        return handle

    def _handle(self, handle: int) -> list[Any]:
        entry = self._handles.get(handle)
        if entry is None:
            raise oserror(E.EBADF, str(handle))
        return entry

    def write(self, handle: int, data: bytes) -> int:
        """write(2) at the handle's own offset (O_APPEND: at the end), as the kernel does: two
        handles that truncated one file overwrite each other from offset 0; past the end of a
        file another handle truncated, the gap reads as zeros."""
        h = self._handle(handle)
        node, writable, offset, append = h
        if not writable:
            raise oserror(E.EBADF, str(handle))
        if append:
            offset = len(node.data)
        elif offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset:offset + len(data)] = data
        h[2] = offset + len(data)
        return len(data)

    def read(self, handle: int, size: int = -1, offset: int = 0) -> bytes:
        data = self._handle(handle)[0].data
        return bytes(data[offset:] if size < 0 else data[offset:offset + size])

    def close_handle(self, handle: int) -> None:
        self._handle(handle)
        del self._handles[handle]

    def fstat(self, handle: int) -> Stat:
        node = self._handle(handle)[0]
        return Stat(node.kind, len(node.data), node.ino)

    def symlink(self, target: str, path: str) -> None:
        if len(target.encode("utf-8", "surrogatepass")) >= PATH_MAX:
            raise oserror(E.ENAMETOOLONG, path)
        if path in self._nodes:
            raise oserror(E.EEXIST, path)
        self._add(path, _Node("link", next(self._inos), target))

    def link(self, src: str, dst: str) -> None:
        node = self._get(src)
        if dst in self._nodes:  # Linux creates the new name's dentry first: EEXIST before EPERM
            raise oserror(E.EEXIST, dst)
        if node.kind == "dir":
            raise oserror(E.EPERM, src)
        self._add(dst, node)

    def rename(self, src: str, dst: str) -> None:
        if check_rename(self, src, dst):
            return
        node = self._nodes[src]
        if dst in self._nodes:
            self._remove(dst)
        if node.kind == "dir":
            prefix = src + "/"
            moved = [p for p in self._nodes if p.startswith(prefix)]
            for p in moved:
                self._nodes[dst + p[len(src):]] = self._nodes.pop(p)
        self._remove(src)
        self._add(dst, node)
