"""Testing helpers for users' and raceproof's own tests: a trace-counting oracle and Hypothesis strategies.

- ``count_traces(programs, setup=...)`` is the *counting oracle* (PRIOR-ART.md, appendix): it runs
  the plain ``dfs`` enumeration (every interleaving, no reduction) and classifies each execution
  by its Mazurkiewicz trace, i.e. by each thread's sequence of executed events plus the set of
  ordered pairs of dependent events of different threads. The number of classes is the number of
  Mazurkiewicz traces, computed independently of DPOR: ``dpor`` must explore exactly that many.
- ``explore_traces(programs, strategy=...)`` does the same classification for any strategy.
- ``compare_strategies(...)`` runs ``dpor`` and the oracle on one program and lists every
  disagreement (outcome sets, traces covered, execution counts, blocked executions).
- Programs with known trace counts (PRIOR-ART.md §7): ``readers(n)`` (2^n),
  ``distinct_writers(n)`` (1), ``writers_reader(n)`` ((n+1)!), ``lastzero(n)`` (2, 5, 12, 28, 64).
- Hypothesis strategies: ``mount_sets()``, ``archives()`` and ``programs()``.

Example (in a user's test)::

    from hypothesis import given, settings
    from raceproof.testing import programs, compare_strategies

    @settings(max_examples=50, deadline=None)
    @given(programs())
    def test_dpor_is_sound(program):
        assert compare_strategies(program.functions(), setup=program.setup) == []
"""

from __future__ import annotations

import errno as E
import math
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram, explore
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.models.tar import Member
from raceproof.sfs import SchedFS
from raceproof.steps import dependent

ProgramFn = Callable[[SchedFS], Awaitable[Any]]
Setup = Mapping[str, bytes] | Callable[[Vfs], None] | None

__all__ = [
    "GeneratedProgram",
    "KnownProgram",
    "Op",
    "TraceCount",
    "archives",
    "compare_strategies",
    "count_traces",
    "distinct_writers",
    "explore_traces",
    "lastzero",
    "mount_sets",
    "programs",
    "readers",
    "trace_key",
    "writers_reader",
]


# the counting oracle ----------------------------------------------------------------------------

def trace_key(execution: Execution) -> Hashable:
    """The Mazurkiewicz trace of an execution, as a hashable value.

    Two executions of a deterministic program are in the same trace exactly when each thread ran
    the same sequence of events (operation, path, result, footprint) and every pair of dependent
    events of different threads (``raceproof.steps.dependent``) ran in the same order. Events are
    named ``(thread, k)``: the k-th event of that thread.
    """
    per_thread: dict[int, list[tuple[Any, ...]]] = {}
    names: list[tuple[int, int]] = []
    for ev in execution.trace:
        seq = per_thread.setdefault(ev.thread, [])
        names.append((ev.thread, len(seq)))
        seq.append((ev.op, ev.path, ev.result, ev.errno, ev.detail, ev.footprint))
    pairs = set()
    trace = execution.trace
    for j in range(len(trace)):
        fj = trace[j].footprint
        if fj.is_empty():
            continue
        tj = trace[j].thread
        for i in range(j):
            ei = trace[i]
            if ei.thread != tj and dependent(ei.footprint, fj):
                pairs.add((names[i], names[j]))
    return (tuple(sorted((t, tuple(s)) for t, s in per_thread.items())), frozenset(pairs))


@dataclass
class TraceCount:
    """What one exploration saw: its executions, grouped by Mazurkiewicz trace (``trace_key``)."""

    strategy: str
    executions: int
    blocked: int
    traces: set[Hashable] = field(default_factory=set)
    outcomes: set[tuple[Any, ...]] = field(default_factory=set)
    complete: bool = True

    @property
    def classes(self) -> int:
        """The number of distinct Mazurkiewicz traces among the executions."""
        return len(self.traces)


def explore_traces(programs: Sequence[ProgramFn], *, setup: Setup = None, strategy: str = "dfs",
                   backend: str = "memory", max_executions: int | None = 200_000,
                   **options: Any) -> TraceCount:
    """Explore `programs` with `strategy` and classify every complete execution by its trace."""
    from raceproof.strategies import make_strategy

    strat = make_strategy(strategy, **options)
    traces: set[Hashable] = set()
    outcomes: set[tuple[Any, ...]] = set()
    state = {"executions": 0, "complete": True, "blocked": 0}

    async def driver(runner: Runner) -> None:
        def visit(ex: Execution) -> None:
            state["executions"] += 1
            traces.add(trace_key(ex))
            outcomes.add(ex.outcome())

        loop = Loop(runner, strat, budget=max_executions, check=False)
        await loop.run(visit)
        state["complete"] = not loop.budget_hit
        state["blocked"] = loop.blocked

    with Runner(FunctionProgram(programs, setup), backend) as runner:
        runner.run(driver)
    return TraceCount(strategy, int(state["executions"]), int(state["blocked"]), traces, outcomes,
                      bool(state["complete"]))


def count_traces(programs: Sequence[ProgramFn], *, setup: Setup = None, backend: str = "memory",
                 max_executions: int | None = 200_000) -> TraceCount:
    """The counting oracle: every interleaving (``dfs``), classified by Mazurkiewicz trace.

    ``result.classes`` is the number of traces, found independently of any reduction. Runs every
    interleaving, so keep programs tiny (a few thousand interleavings); ``complete`` is False when
    `max_executions` stopped the enumeration first.
    """
    return explore_traces(programs, setup=setup, strategy="dfs", backend=backend, max_executions=max_executions)


#: what ``compare_strategies`` reports when the plain enumeration hit its budget (no comparison made)
TOO_LARGE = "the oracle did not finish: the program is too large"


def compare_strategies(programs: Sequence[ProgramFn], *, setup: Setup = None, backend: str = "memory",
                       optimal: bool = True, max_executions: int | None = 200_000) -> list[str]:
    """Run ``dpor`` and the counting oracle on `programs`; return every disagreement (empty: agree).

    Soundness checks: the same outcome set as ``dfs``; dpor covers every Mazurkiewicz trace the
    oracle found; it never explores more executions than dfs; it completes. With `optimal`, also:
    exactly one execution per trace and no blocked (redundant) execution. When the plain
    enumeration exceeds `max_executions` the answer is ``[TOO_LARGE]`` alone.
    """
    ref = count_traces(programs, setup=setup, backend=backend, max_executions=max_executions)
    if not ref.complete:
        return [TOO_LARGE]
    dpor = explore_traces(programs, setup=setup, strategy="dpor", backend=backend)
    problems = []
    if dpor.outcomes != ref.outcomes:
        problems.append(f"outcome sets differ: dpor misses {len(ref.outcomes - dpor.outcomes)} of dfs's "
                        f"{len(ref.outcomes)} and has {len(dpor.outcomes - ref.outcomes)} dfs never saw")
    if dpor.traces != ref.traces:
        problems.append(f"dpor covered {len(dpor.traces & ref.traces)} of {ref.classes} Mazurkiewicz traces "
                        f"(and {len(dpor.traces - ref.traces)} unknown ones)")
    if dpor.executions > ref.executions:
        problems.append(f"dpor ran {dpor.executions} executions, more than dfs's {ref.executions}")
    if not dpor.complete:
        problems.append("dpor did not complete")
    if optimal and dpor.executions != ref.classes:
        problems.append(f"dpor ran {dpor.executions} executions for {ref.classes} Mazurkiewicz traces")
    if optimal and dpor.blocked:
        problems.append(f"dpor had {dpor.blocked} blocked executions")
    return problems


# programs with known trace counts (PRIOR-ART.md §7) ------------------------------------------------

@dataclass
class KnownProgram:
    """A tiny program whose number of Mazurkiewicz traces is known from the literature."""

    name: str
    programs: list[ProgramFn]
    setup: dict[str, bytes]
    traces: int
    doc: str = ""


def readers(n: int) -> KnownProgram:
    """One writer and `n` readers of one existing file: 2^n traces.

    Readers commute with each other; each one reads either before or after the write (one step
    each), so a trace is the subset of readers that run before the writer.
    """
    async def writer(fs: SchedFS) -> None:
        await fs.atomic_write_file("/x", b"1")

    async def reader(fs: SchedFS) -> bytes:
        return await fs.atomic_read_file("/x")

    return KnownProgram(f"readers({n})", [writer] + [reader] * n, {"/x": b"0"}, 2 ** n,
                        "1 writer + N readers of one file")


def distinct_writers(n: int) -> KnownProgram:
    """`n` threads each writing its own existing file: 1 trace (nothing conflicts)."""
    def make(i: int) -> ProgramFn:
        async def writer(fs: SchedFS) -> None:
            await fs.atomic_write_file(f"/f{i}", b"1")

        return writer

    return KnownProgram(f"distinct_writers({n})", [make(i) for i in range(n)],
                        {f"/f{i}": b"0" for i in range(n)}, 1, "N writers of N distinct existing files")


def writers_reader(n: int) -> KnownProgram:
    """`n` writers and one reader of one existing file: (n+1)! traces (every pair conflicts)."""
    def make(i: int) -> ProgramFn:
        async def writer(fs: SchedFS) -> None:
            await fs.atomic_write_file("/x", f"{i + 1}".encode())

        return writer

    async def reader(fs: SchedFS) -> bytes:
        return await fs.atomic_read_file("/x")

    return KnownProgram(f"writers_reader({n})", [make(i) for i in range(n)] + [reader], {"/x": b"0"},
                        math.factorial(n + 1), "N writers + 1 reader of one file")


LASTZERO_TRACES = {1: 2, 2: 5, 3: 12, 4: 28, 5: 64}


def lastzero(n: int) -> KnownProgram:
    """``lastzero(n)`` (Abdulla et al.; nidhugg/Concuerror): cells ``a[0..n]`` are files holding 0.

    The reader scans ``i = n, n-1, ...`` reading ``a[i]`` until it reads 0 (one atomic_read_file step
    each); writer ``j`` (1..n) reads ``a[j-1]`` and writes ``a[j] = a[j-1] + 1`` (two steps).
    Known trace counts for n = 1..5: 2, 5, 12, 28, 64.
    """
    async def reader(fs: SchedFS) -> int:
        i = n
        while await fs.atomic_read_file(f"/a{i}") != b"0":
            i -= 1
        return i

    def make(j: int) -> ProgramFn:
        async def writer(fs: SchedFS) -> None:
            value = int(await fs.atomic_read_file(f"/a{j - 1}"))
            await fs.atomic_write_file(f"/a{j}", str(value + 1).encode())

        return writer

    return KnownProgram(f"lastzero({n})", [reader] + [make(j) for j in range(1, n + 1)],
                        {f"/a{i}": b"0" for i in range(n + 1)}, LASTZERO_TRACES[n], "lastzero")


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
#: race on: ``step`` builds a model's own step), or the calls that drawn operations make (the
#: handle calls of ``append``/``read_handle``/``create_excl``; the fd-relative walk steps of
#: ``remove_dir_all``)
NOT_FS_OPS = ("sleep", "local", "choose", "step", "open", "write", "read", "close", "openat", "getdents",
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
