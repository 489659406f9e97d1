"""Hypothesis strategies for tests: random programs over every ``SchedFS`` operation
(``programs()``), mount sets (``mount_sets()``) and archives (``archives()``)."""

from __future__ import annotations

import errno as E
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from raceproof.exploration import explore
from raceproof.models.tar import Member
from raceproof.oracle import ProgramFn
from raceproof.sfs import SchedFS

# random programs --------------------------------------------------------------------------------

#: the tiny path universe of generated programs
PATHS = ("/d", "/d/f", "/d/g", "/e", "/e/f")
OPS = ("write_file", "read_file", "mkdir", "rmdir", "unlink", "listdir", "rename", "exists", "create_dir_all")
#: every operation of ``SchedFS`` (the composites and the handle calls included): what the
#: soundness property test draws from. ``append``, ``read_handle`` and ``create_excl`` are
#: ``open``/``write``/``read``/``close`` sequences on one handle.
ALL_OPS = ("write_file", "read_file", "atomic_write_file", "atomic_read_file", "mkdir", "rmdir", "unlink",
           "listdir", "readdir", "opendir", "rename", "exists", "is_dir", "stat", "lstat", "symlink", "readlink",
           "link", "realpath", "create_dir_all", "remove_dir_all", "canonicalize", "append", "read_handle",
           "create_excl", "set_event", "wait_event", "barrier", "arrive", "wait_arrivals", "rename_noreplace",
           "rename_exchange")
#: ``SchedFS`` methods the generator does not draw by name: not filesystem operations (no path to
#: race on: ``step`` builds a model's own step, ``tail`` defers a built-in job's rest), or the calls
#: that drawn operations make (the handle calls of ``append``/``read_handle``/``create_excl``; the
#: fd-relative walk steps of ``remove_dir_all``)
NOT_FS_OPS = ("sleep", "local", "choose", "step", "tail", "open", "write", "read", "close", "openat", "getdents",
              "getdents_end", "unlinkat")


@dataclass(frozen=True)
class Op:
    """One filesystem call of a generated thread: ``name(path[, arg])``."""

    name: str
    path: str
    arg: str | bytes | None = None

    def __str__(self) -> str:
        return f"{self.name}({self.path!r}{'' if self.arg is None else ', ' + repr(self.arg)})"


async def run_op(fs: SchedFS, op: Op) -> Any:
    """Perform `op` on `fs`; return what it observed (an ``OSError`` becomes ``("err", errno name)``)."""
    try:
        if op.name in ("write_file", "atomic_write_file"):
            assert isinstance(op.arg, bytes)
            await getattr(fs, op.name)(op.path, op.arg)
            return "ok"
        if op.name in ("rename", "link", "symlink", "rename_noreplace", "rename_exchange"):
            assert isinstance(op.arg, str)
            if op.name.startswith("rename_"):  # renameat2 with RENAME_NOREPLACE / RENAME_EXCHANGE
                await fs.rename(op.path, op.arg, **{op.name.removeprefix("rename_"): True})
            elif op.name == "symlink":
                await fs.symlink(op.arg, op.path)
            else:
                await getattr(fs, op.name)(op.path, op.arg)
            return "ok"
        if op.name in ("stat", "lstat"):
            st_ = await getattr(fs, op.name)(op.path)
            return (st_.kind, st_.size, st_.ino)
        if op.name in ("listdir", "readdir"):
            return tuple(await getattr(fs, op.name)(op.path))
        if op.name == "append":
            h = await fs.open(op.path, "a")
            n = await fs.write(h, op.arg if isinstance(op.arg, bytes) else b"+")
            await fs.close(h)
            return n
        if op.name == "read_handle":
            h = await fs.open(op.path, "r")
            data = await fs.read(h)
            await fs.close(h)
            return data
        if op.name == "barrier":  # two parties: a thread with another barrier op, or a deadlock
            await fs.barrier(op.path, 2)
            return "ok"
        if op.name == "wait_arrivals":  # one arrival (a thread with an arrive op), or a deadlock
            await fs.wait_arrivals(op.path, 1)
            return "ok"
        if op.name == "create_excl":
            h = await fs.open(op.path, "x")
            await fs.close(h)
            return "ok"
        value = await getattr(fs, op.name)(op.path)
        return "ok" if value is None else value
    except OSError as exc:
        return ("err", E.errorcode.get(exc.errno or 0, str(exc.errno)))


@dataclass(frozen=True)
class GeneratedProgram:
    """A generated concurrent program: threads of ``Op``s over an initial tree.

    ``initial`` maps a path to file bytes, or to None for a directory. ``functions()`` gives the
    async thread bodies for ``explore``; each returns the tuple of what its ops observed.
    """

    threads: tuple[tuple[Op, ...], ...]
    initial: tuple[tuple[str, bytes | None], ...] = ()

    @property
    def setup(self) -> dict[str, bytes]:
        """The initial tree in ``explore``'s ``setup`` form (a trailing ``/`` marks a directory)."""
        return {(p + "/" if data is None else p): (b"" if data is None else data) for p, data in self.initial}

    def functions(self) -> list[ProgramFn]:
        def make(ops: tuple[Op, ...], tid: int) -> ProgramFn:
            async def thread(fs: SchedFS) -> tuple[Any, ...]:
                return tuple([await run_op(fs, op) for op in ops])

            thread.__name__ = f"t{tid}"
            return thread

        return [make(ops, i) for i, ops in enumerate(self.threads)]

    def explore(self, strategy: str = "dpor", **options: Any) -> Any:
        """``raceproof.explore`` of this program."""
        return explore(self.functions(), setup=self.setup, strategy=strategy, **options)

    def __str__(self) -> str:
        lines = [f"initial: {dict(self.initial)}"]
        lines += [f"t{i}: " + "; ".join(str(op) for op in ops) for i, ops in enumerate(self.threads)]
        return "\n".join(lines)


def _ops(paths: Sequence[str], ops: Sequence[str], tid: int) -> st.SearchStrategy[Op]:
    @st.composite
    def one(draw: st.DrawFn) -> Op:
        name = draw(st.sampled_from(list(ops)))
        path = draw(st.sampled_from(list(paths)))
        arg: str | bytes | None = None
        if name in ("write_file", "atomic_write_file", "append"):
            arg = draw(st.sampled_from([f"{tid}".encode(), b"x", b""]))
        elif name in ("rename", "link", "rename_noreplace", "rename_exchange"):
            arg = draw(st.sampled_from([p for p in paths if p != path] or list(paths)))
        elif name == "symlink":  # a target: another path, absolute or relative, or a dangling name
            arg = draw(st.sampled_from([*paths, "f", "../e", "nowhere"]))
        return Op(name, path, arg)

    return one()


def initial_trees(paths: Sequence[str] = PATHS) -> st.SearchStrategy[tuple[tuple[str, bytes | None], ...]]:
    """Random initial trees over `paths`: each path absent, a directory, or a file (parents made dirs)."""

    @st.composite
    def tree(draw: st.DrawFn) -> tuple[tuple[str, bytes | None], ...]:
        out: dict[str, bytes | None] = {}
        for p in sorted(paths, key=lambda q: q.count("/")):
            parent = p.rsplit("/", 1)[0]
            if parent and parent in out and out[parent] is not None:
                continue  # the parent is a file: nothing can live under it
            kind = draw(st.sampled_from(["absent", "dir", "file"]))
            if kind == "dir":
                out[p] = None
            elif kind == "file":
                out[p] = b"0"
        # a file under a path must have directory parents: keep only consistent entries
        keep = {p: v for p, v in out.items()
                if all(out.get(a) is None for a in _ancestors(p))}
        return tuple(sorted(keep.items()))

    return tree()


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def programs(*, min_threads: int = 2, max_threads: int = 3, max_ops: int = 4, max_total_ops: int = 6,
             paths: Sequence[str] = PATHS, ops: Sequence[str] = OPS,
             initial: st.SearchStrategy[tuple[tuple[str, bytes | None], ...]] | None = None,
             ) -> st.SearchStrategy[GeneratedProgram]:
    """Hypothesis strategy: small random concurrent programs (``GeneratedProgram``).

    `min_threads`..`max_threads` threads of 1..`max_ops` operations each (at most `max_total_ops`
    in all, so that plain enumeration stays cheap), drawn from `ops` (names of ``SchedFS``
    methods: write_file, read_file, mkdir, rmdir, unlink, listdir, rename, exists,
    create_dir_all) over the tiny path set `paths`, and an initial tree: drawn from `initial`
    (pairs of path and bytes, None for a directory), by default a random tree over the same paths.
    Every thread catches ``OSError`` into a value and returns what it observed, so the outcome
    set of an exploration captures every observable difference between schedules.
    """

    @st.composite
    def program(draw: st.DrawFn) -> GeneratedProgram:
        n = draw(st.integers(min_threads, max_threads))
        budget = max_total_ops
        threads = []
        for tid in range(n):
            left = n - tid - 1  # every later thread needs at least one op
            k = draw(st.integers(1, max(1, min(max_ops, budget - left))))
            budget -= k
            threads.append(tuple(draw(st.lists(_ops(paths, ops, tid), min_size=k, max_size=k))))
        return GeneratedProgram(tuple(threads), draw(initial if initial is not None else initial_trees(paths)))

    return program()


# mount sets and archives --------------------------------------------------------------------------

MOUNT_NAMES = (".claude", "skills", "pdf", "docx", "a", "b")


def mount_sets(*, min_size: int = 1, max_size: int = 4, base: str = "/home/user",
               names: Sequence[str] = MOUNT_NAMES) -> st.SearchStrategy[list[str]]:
    """Hypothesis strategy: lists of distinct, normalized, absolute mount paths under `base`.

    The paths form rooted forests of every shape (chains, stars, siblings, mixes): each new
    mount is either a new root under `base` or nests under an earlier mount, directly or inside
    its ``skills/`` spine as in the incident (``.claude`` and ``.claude/skills/pdf``). Some
    mounts are *string-prefix siblings* of another (``.../skills`` and ``.../skills2``): a
    sibling, not a child, which trips code that tests nesting with ``startswith``. Every path
    passes the scenario loader's check (no trailing ``/``, no ``.``/``..``/empty component), and
    the list order (the job order) is shuffled.
    """

    @st.composite
    def mounts(draw: st.DrawFn) -> list[str]:
        n = draw(st.integers(min_size, max_size))
        out: list[str] = []
        while len(out) < n:
            how = draw(st.sampled_from(["root", "child", "prefix-sibling"] if out else ["root"]))
            if how == "prefix-sibling":
                path = draw(st.sampled_from(out)) + "2"
            else:
                parent = base if how == "root" else draw(st.sampled_from(out))
                spine = "" if how == "root" else draw(st.sampled_from(["", "skills/"]))
                path = f"{parent}/{spine}{draw(st.sampled_from(list(names)))}"
            while path in out:
                path += "2"
            out.append(path)
        return [out[i] for i in draw(st.permutations(range(n)))]

    return mounts()


_SEGMENTS = ("SKILL.md", "a", "b.txt", "docs", "lib", "x.py")


def nested_pairs(top: Sequence[str] = (".claude", "a"), inner: Sequence[str] = ("/skills/pdf", "/b"),
                 base: str = "/home/user") -> st.SearchStrategy[list[str]]:
    """A mount and one inside it (directly or deeper), in either job order: the pairs that race."""

    @st.composite
    def pair(draw: st.DrawFn) -> list[str]:
        outer = base + "/" + draw(st.sampled_from(top))
        return draw(st.permutations([outer, outer + draw(st.sampled_from(inner))]))

    return pair()


@st.composite
def mount_archives(draw: st.DrawFn, paths: Sequence[str], *, max_size: int = 3) -> list[list[Member]]:
    """Hypothesis strategy: archive members (files and directories) for mounts at `paths`; a
    mount with another inside it sometimes also carries a file inside that one's root (a parent's
    archive writing into a child's mount: the overlap the reductions must notice)."""
    out = []
    for path in paths:
        members = draw(archives(max_size=max_size, kinds=("file", "dir")))
        inner = [p for p in paths if p.startswith(path + "/")]
        outer: bool = bool(inner) and draw(st.booleans())
        if outer:
            child = draw(st.sampled_from(inner))
            name = draw(st.sampled_from(["SKILL.md", "x/y"]))
            members = [*members, Member(child[len(path) + 1:] + "/" + name, "file", b"outer")]
        out.append(members)
    return out


def archives(*, min_size: int = 0, max_size: int = 5, kinds: Sequence[str] = ("file", "dir"),
             hostile: bool = False) -> st.SearchStrategy[list[Member]]:
    """Hypothesis strategy: archive contents as lists of ``raceproof.models.tar.Member``.

    Names are relative paths of 1-3 components from a small alphabet (so entries share parent
    directories), with distinct names. `kinds` picks among ``file``, ``dir``, ``symlink`` (a
    relative target) and ``hardlink`` (to an earlier file member, when there is one). With
    `hostile`, some names are absolute, contain ``..`` or ``.``, and symlink targets may escape
    (``../..``): what tar-rs must skip or contain. Build archive bytes with
    ``raceproof.models.tar.build(members)``.
    """

    @st.composite
    def archive(draw: st.DrawFn) -> list[Member]:
        n = draw(st.integers(min_size, max_size))
        out: list[Member] = []
        seen: set[str] = set()
        for _ in range(n):
            comps = draw(st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=3))
            if hostile:
                trick = draw(st.sampled_from(["none", "none", "dotdot", "absolute", "dot"]))
                if trick == "dotdot":
                    comps.insert(draw(st.integers(0, len(comps) - 1)), "..")
                elif trick == "dot":
                    comps.insert(0, ".")
            name = "/".join(comps)
            if hostile and trick == "absolute":
                name = "/" + name
            if name in seen:
                continue
            kind = draw(st.sampled_from(list(kinds)))
            files = [m.name for m in out if m.kind == "file"]
            if kind == "hardlink" and not files:
                kind = "file"
            seen.add(name)
            if kind == "file":
                out.append(Member(name, "file", draw(st.binary(min_size=0, max_size=16))))
            elif kind == "dir":
                out.append(Member(name, "dir"))
            elif kind == "symlink":
                targets = ["a", "b.txt", "docs/x.py"] + (["../b.txt", "../../etc", "/etc/passwd"] if hostile else [])
                out.append(Member(name, "symlink", target=draw(st.sampled_from(targets))))
            else:
                out.append(Member(name, "hardlink", target=draw(st.sampled_from(files))))
        return out

    return archive()
