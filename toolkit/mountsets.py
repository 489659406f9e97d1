"""Every overlapping mount set up to K mounts, proved or refuted one by one.

Shapes are the rooted forests with 1..K nodes, up to isomorphism (1, 2, 4, 9, 20 of them for
1..5 nodes): chains, stars, siblings and mixes. Each shape is laid out under ``/home/user`` the
incident's way (a child mount sits in its parent's ``skills/`` spine), and shapes with sibling
mounts get a second layout where two siblings are string prefixes of each other (``skills`` and
``skills2``: siblings, not parent and child). Names that must be rejected (a trailing slash, a
``.`` component) are listed as invalid rows: the scenario loader refuses them.

The expectation per row: ``fixed`` is safe everywhere; ``pre-cleanup`` is unsafe exactly where a
mount nests inside another and there are at least two workers (jobs are taken in order, parents
first, so a single worker runs them sequentially).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from raceproof.errors import InputError, ScenarioError, closest
from raceproof.models import tar
from raceproof.scenario import Mount, Scenario, check_mount_path

BASE = "/home/user"


def forests(n: int) -> list[tuple[int, ...]]:
    """Rooted forests with n nodes up to isomorphism, as parent arrays (-1 = a root).

    Canonical form: a forest is a sorted tuple of canonical trees; a tree is the sorted tuple of
    its children's canonical forms.
    """
    def trees(k: int) -> list[tuple[Any, ...]]:
        return [tuple(f) for f in forest_forms(k - 1)]

    memo: dict[int, list[tuple[Any, ...]]] = {}

    def forest_forms(k: int) -> list[tuple[Any, ...]]:
        if k in memo:
            return memo[k]
        if k == 0:
            return [()]
        out: set[tuple[Any, ...]] = set()
        for first in range(1, k + 1):
            for t in trees(first):
                for rest in forest_forms(k - first):
                    out.add(tuple(sorted((t, *rest))))
        memo[k] = sorted(out)
        return memo[k]

    def place(tree: tuple[Any, ...], parent: int, parents: list[int]) -> None:
        me = len(parents)
        parents.append(parent)
        for child in tree:
            place(child, me, parents)

    result = []
    for form in forest_forms(n):
        parents: list[int] = []
        for tree in form:
            place(tree, -1, parents)
        result.append(tuple(parents))
    return result


@dataclass(frozen=True)
class MountSet:
    name: str
    paths: tuple[str, ...]
    nested: bool
    invalid: str | None = None


def layouts(parents: tuple[int, ...]) -> Iterator[MountSet]:
    shape = _shape_name(parents)
    nested = any(p >= 0 for p in parents)
    for style in ("spine", "prefix"):
        paths: list[str] = []
        counters: dict[int, int] = {}
        for parent in parents:
            k = counters.get(parent, 0)
            counters[parent] = k + 1
            if parent < 0:
                name = ".claude" if k == 0 else f".claude{k + 1}" if style == "prefix" else f".config{k}"
                paths.append(f"{BASE}/{name}")
            elif style == "spine":
                paths.append(f"{paths[parent]}/skills/{'abcdefgh'[k]}")
            else:
                paths.append(f"{paths[parent]}/skills" + ("" if k == 0 else str(k + 1)))
        has_siblings = any(v > 1 for v in counters.values())
        if style == "prefix" and not has_siblings:
            continue
        yield MountSet(f"{shape}/{style}", tuple(paths), nested)


def _shape_name(parents: tuple[int, ...]) -> str:
    n = len(parents)
    roots = sum(1 for p in parents if p < 0)
    depth = max(_depth(parents, i) for i in range(n))
    if roots == n:
        kind = "siblings" if n > 1 else "single"
    elif depth == n - 1:
        kind = "chain"
    elif roots == 1 and depth == 1:
        kind = "star"
    else:
        kind = "mixed"
    return f"{n}:{kind}:" + "".join("r" if p < 0 else str(p) for p in parents)


def _depth(parents: tuple[int, ...], i: int) -> int:
    d = 0
    while parents[i] >= 0:
        i = parents[i]
        d += 1
    return d


def invalid_sets() -> list[MountSet]:
    out = []
    for paths in ((f"{BASE}/.claude", f"{BASE}/.claude/skills/a/"), (f"{BASE}/.claude", f"{BASE}/.claude/./skills/a"),
                  (f"{BASE}/.claude", f"{BASE}/.claude/skills/../skills/a")):
        reason = None
        for i, p in enumerate(paths):
            try:
                check_mount_path("mount-set", f"mounts[{i}].path", p)
            except ScenarioError as exc:
                reason = str(exc)
                break
        out.append(MountSet("invalid", paths, True, reason or "accepted (BUG: should be rejected)"))
    return out


def all_mount_sets(k: int) -> list[MountSet]:
    out: list[MountSet] = []
    for n in range(1, k + 1):
        for parents in forests(n):
            out.extend(layouts(parents))
    return out


def scenario_for(base: Scenario, ms: MountSet, workers: int) -> Scenario:
    mounts = []
    for i, p in enumerate(ms.paths):
        members = [tar.Member("SKILL.md" if "/skills" in p else "CLAUDE.md", "file", f"content {i}\n".encode())]
        mounts.append(Mount(p, members, tar.build(members)))
    return base.with_changes(mounts=mounts, workers=workers, token=None, mount_sets=0,
                             name=f"{base.name}[{ms.name} w{workers}]")


def scenario_for_name(base: Scenario, spec: str) -> Scenario:
    """The scenario of one table row, named ``<mount set>:w<workers>`` (as replay commands print)."""
    name, sep, w = spec.rpartition(":w")
    sets = {ms.name: ms for ms in all_mount_sets(5)}
    w_ok = w.isascii() and w.isdigit() and len(w) <= 3
    if not sep or not w_ok or name not in sets:
        hint = closest(name or spec, sets)
        raise InputError(f"--mount-set {spec!r}: expected <mount set>:w<workers> with a set of 'verify --mount-sets'"
                         + (f"; did you mean {hint + ':w' + (w if w_ok else '2')!r}?" if hint else ""))
    if not 1 <= int(w) <= 64:
        raise InputError(f"--mount-set {spec!r}: workers must be between 1 and 64")
    return scenario_for(base, sets[name], int(w))


def row_replay_command(base: Scenario, ms: MountSet, workers: int, token: str) -> str:
    from raceproof.runs import replay_command

    return replay_command(base, token, mount_set=f"{ms.name}:w{workers}")


def expected_verdict(algorithm: str, ms: MountSet, workers: int) -> str | None:
    """Jobs are taken in order, parents first: one worker runs them sequentially (safe); with two
    or more, a child's job can run while its parent's is still cleaning."""
    if algorithm == "fixed":
        return "safe"
    if algorithm == "pre-cleanup":
        return "unsafe" if ms.nested and workers >= 2 else "safe"
    return None


@dataclass
class MountSetRows:
    """What ``mount_set_rows`` found: one row per (mount set, workers), plus the invalid sets."""

    rows: list[dict[str, Any]]
    all_met: bool
    inconclusive: bool

    @property
    def exit_code(self) -> int:
        return 0 if self.all_met and not self.inconclusive else 1 if not self.all_met else 3


def mount_set_rows(base: Scenario, k: int, *, strategy: str = "dpor", max_executions: int | None = None,
                   workers: tuple[int, ...] = (1, 2, 3, 4), driver: str = "trio",
                   on_row: Callable[[str | None, int], None] | None = None,
                   progress: Callable[[int, int, int], None] | None = None, jobs: int = 1,
                   checkpoint: str | None = None, resume: str | None = None,
                   dask: str | None = None, confluence: bool = True) -> MountSetRows:
    """Verify every mount set up to `k` mounts for each worker count. `on_row(label, done)` is
    called before each row (and with None at the end), `progress` inside a row (as ``verify``'s);
    the CLI renders the rows.

    With `jobs` > 1 the rows are proved in that many worker processes (each row is independent);
    the rows, their order and every count are those of a serial run, and `progress` is not
    called (a row's progress stays in its process).

    With `dask` (a Dask distributed scheduler's address, ``tcp://host:8786``) the rows are
    submitted to that cluster instead, one task per row, collected in order.

    With `checkpoint`, the rows done so far are written to that file after each row; with
    `resume`, the rows of that checkpoint (which must be of this very search) are not proved
    again (``raceproof.checkpoint``).

    `confluence` False explores each row with DPOR even where one execution would prove it
    (``raceproof.confluence``)."""
    from raceproof import checkpoint as ckpt
    from raceproof.runs import EXPLORED

    units = [(ms, w) for ms in all_mount_sets(k) for w in workers]
    search = {"scenario": os.path.basename(base.file), "digest": base.digest, "mount_sets": k,
              "workers": list(workers), "strategy": strategy, "max_executions": max_executions,
              "confluence": confluence}
    rows: list[dict[str, Any]] = []
    if checkpoint is not None:
        ckpt.writable(checkpoint)
    if resume is not None:
        rows = ckpt.read_rows(resume, search, [{"set": ms.name, "workers": w} for ms, w in units])
    todo = units[len(rows):]

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        if checkpoint is not None:
            ckpt.write(checkpoint, ckpt.Checkpoint(search, rows))

    args: RowArgs = (base, strategy, max_executions, driver, confluence)
    # the rows in order, each proved when asked for (here, in forked processes, or on Dask)
    remote = dask is not None or (jobs > 1 and len(todo) > 1)
    results: Rows
    if dask is not None:
        results = _dask_rows(args, todo, dask)
    elif remote:
        results = _parallel_rows(args, todo, jobs)
    else:
        results = (_row(*args, ms, w, progress) for ms, w in todo)
    with contextlib.closing(results):  # an interrupt between rows stops the processes at once
        for ms, w in todo:
            if on_row is not None:
                on_row(f"{ms.name} w{w}", len(rows))
            row = next(results)
            if remote:  # a local row counted itself (runs.verify)
                EXPLORED["finished"] += int(row["executions"])
            done(row)
    ok = all(r["ok"] == "ok" or r["verdict"] == "inconclusive" for r in rows)
    inconclusive = any(r["verdict"] in ("inconclusive", "bounded") for r in rows)
    for ms in invalid_sets():
        bad = ms.invalid is not None and ms.invalid.startswith("accepted")
        ok &= not bad
        rows.append({"set": ms.name, "mounts": " ".join(p.removeprefix(BASE + "/") for p in ms.paths),
                     "nested": "-", "workers": None, "verdict": "rejected" if not bad else "accepted",
                     "expected": "rejected", "ok": "ok" if not bad else "MISMATCH", "executions": 0,
                     "stop": ms.invalid or "", "token": "", "replay_command": ""})
    if on_row is not None:
        on_row(None, len(rows))
    return MountSetRows(rows, ok, inconclusive)


def _row(base: Scenario, strategy: str, max_executions: int | None, driver: str, confluence: bool, ms: MountSet,
         w: int, progress: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """Prove or refute one mount set with `w` workers: its table row."""
    from raceproof.runs import verify

    vr = verify(scenario_for(base, ms, w), strategy, max_executions, shrink=False, driver=driver, progress=progress,
                confluence=confluence)
    r = vr.result
    exp = expected_verdict(base.algorithm, ms, w)
    met = exp is None or r.verdict == exp
    return {"set": ms.name, "mounts": " ".join(p.removeprefix(BASE + "/") for p in ms.paths),
            "nested": "yes" if ms.nested else "no", "workers": w, "verdict": r.verdict,
            "expected": exp or "-", "ok": "ok" if met else "MISMATCH", "executions": r.executions,
            "stop": r.stop_reason, "token": vr.token or "",
            "replay_command": row_replay_command(base, ms, w, vr.token) if vr.token else ""}


#: what every row of one search shares: the base scenario, strategy, budget, driver and confluence
RowArgs = tuple[Scenario, str, int | None, str, bool]


def _row_in_worker(unit: tuple[RowArgs, MountSet, int]) -> dict[str, Any]:
    args, ms, w = unit
    return _row(*args, ms, w)


def _worker_signals(parent: int | None = None) -> None:
    """A row process: Ctrl-C is the parent's to handle (it stops the pool). SIGTERM (the parent's
    ``terminate``) removes any real sandbox of the row and exits at once; so does the parent
    process dying (``PR_SET_PDEATHSIG``, with SIGHUP).

    The death signal is not SIGTERM itself: Linux sends it when the *thread* that forked the
    child ends, and a pool forks the workers that replace dead ones from its worker-handler
    thread, which ends at ``terminate``. A replacement idle in the task queue holds the queue's
    read lock; exiting there leaves that lock held for good, and ``terminate`` then waits on it
    forever. So SIGHUP only counts when the parent process is gone (the parent changed).

    `parent`: the pid of the process that forked this one, given by it (a parent that died before
    this runs would otherwise go unnoticed: the orphan's parent is already another process);
    None (a child of the fork server) takes the current parent."""
    from raceproof.fs.real import cleanup_all  # not imported inside a signal handler

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: Any) -> None:
        cleanup_all()
        os._exit(128 + signum)

    if parent is None:
        parent = os.getppid()

    def orphaned(signum: int, frame: Any) -> None:
        if os.getppid() != parent:
            stop(signal.SIGTERM, frame)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, orphaned)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGHUP)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's terminate still stops the row
        pass
    if os.getppid() != parent:  # the parent died before the death signal was set
        stop(signal.SIGTERM, None)


Rows = Generator[dict[str, Any], None, None]


def start_method() -> str:
    """How row processes start: ``fork`` from a single-threaded process (cheap, and a user
    algorithm imported with ``--allow-import`` is already loaded in every child); ``forkserver``
    when this process has other threads (pytest's, an embedding program's, Dask's): a fork copies
    only the calling thread, so a lock another thread held stays locked forever in the child. The
    fork server is a fresh single-threaded process; the rows reach it pickled, and each child
    imports the scenario's user module again (``_worker_start``)."""
    if threading.active_count() > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "fork"


def user_modules(base: Scenario) -> tuple[tuple[str, str | None], ...]:
    """The user module a ``module:function`` algorithm needs, with its file (a child started by the
    fork server imports it again the way ``--allow-import`` did: by name, else from that file)."""
    module, sep, _ = base.algorithm.partition(":")
    if not sep or module not in sys.modules:
        return ()
    return ((module, getattr(sys.modules[module], "__file__", None)),)


def _worker_start(modules: tuple[tuple[str, str | None], ...] = (), parent: int | None = None) -> None:
    """A row process starts: its signals (``_worker_signals``), then the user's module, which the
    user allowed the parent to import (only needed in a child of the fork server)."""
    _worker_signals(parent)
    for name, path in modules:
        if name in sys.modules:
            continue
        from raceproof.scenario import no_bytecode

        try:
            with no_bytecode():
                importlib.import_module(name)
        except ImportError:
            if path is None:
                raise
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            with no_bytecode():
                spec.loader.exec_module(module)


def row_weight(ms: MountSet, workers: int) -> tuple[int, int, bool, int, int]:
    """A guess at a row's size, to start big rows first: more mounts, deeper nesting (a chain
    races on every spine directory), spine layouts, and more jobs running at once."""
    depth = max((sum(1 for q in ms.paths if p.startswith(q + "/")) for p in ms.paths), default=0)
    return len(ms.paths), depth, ms.name.endswith("/spine"), min(workers, len(ms.paths)), workers


def _parallel_rows(args: RowArgs, units: list[tuple[MountSet, int]], jobs: int) -> Rows:
    """The rows of `units`, in order, proved by `jobs` processes (``parallel_map``), the likely
    largest rows first (longest-processing-time first: a big row started last would leave the
    other processes idle at the end)."""
    order = sorted(range(len(units)), key=lambda i: row_weight(*units[i]), reverse=True)
    return parallel_map(_row_in_worker, [(args, ms, w) for ms, w in units], jobs, order=order,
                        modules=user_modules(args[0]))


def parallel_map(fn: Callable[[Any], Any], items: list[Any], jobs: int, *, order: Sequence[int] | None = None,
                 modules: tuple[tuple[str, str | None], ...] = ()) -> Generator[Any, None, None]:
    """``fn(item)`` of every item, yielded in order, computed by `jobs` processes (``start_method``;
    `fn` must be a module-level function and its results picklable), submitted in `order` (default:
    item order). `modules` are user modules a fork-server child imports again. Closing the
    generator (an interrupt, or a caller that has seen enough) stops the processes at once. Also
    the keep-alive matrix's runs (``raceproof.keepalive.compare``).

    A worker process that dies (the OOM killer, a crash in native code) is replaced by the pool,
    and the task it ran never ends. While waiting for a result, the pool's processes are checked
    every ``LOST_CHECK_S`` seconds; once one was replaced, every result not in yet is computed
    here instead (which task was lost is unknown; each is deterministic, so the results are the
    same), and the pool is stopped, not joined (a lost task keeps it from ending)."""
    if not items:
        return
    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["raceproof.mountsets"])
    pool = ctx.Pool(max(1, min(jobs, len(items))), initializer=_worker_start,
                    initargs=(modules, os.getpid() if method == "fork" else None))
    try:
        pending = {i: pool.apply_async(fn, (items[i],)) for i in (range(len(items)) if order is None else order)}
        pids, lost = pool_pids(pool), False
        for i in range(len(items)):
            while not lost and not pending[i].ready():
                pending[i].wait(LOST_CHECK_S)
                lost = pool_pids(pool) != pids
            result = pending[i].get() if pending[i].ready() else fn(items[i])
            if i == len(items) - 1 and not lost:
                # every result is in: the workers take their end-of-work sentinel and exit, before
                # the last result is handed over (a caller that takes exactly the results it
                # planned and then closes the generator never resumes it past its last yield).
                # ``terminate`` on idle workers twice left one unsignalled, blocked on the task
                # queue's lock, and its ``join`` waited forever.
                pool.close()
                pool.join()
            yield result
    finally:
        # an interrupt, an error, or a consumer that stopped early: stop the processes at once (a
        # no-op after join). Signalling the workers before ``terminate`` is worse than ``_stop``'s
        # deadline: a worker killed while holding the task queue's lock blocks ``terminate``
        # itself, which takes that lock first.
        _stop(pool)


#: how long stopping the processes may take before the ones still alive are killed
STOP_TIMEOUT = 10.0
#: seconds between two checks that no worker process died, while a result is awaited
LOST_CHECK_S = 0.5


def pool_pids(pool: Any) -> set[int | None]:
    """The worker processes of a ``multiprocessing`` pool now (it replaces a dead one, so the set
    changes; read from the pool's private list, as ``_stop`` does)."""
    return {p.pid for p in getattr(pool, "_pool", ())}


def _stop(pool: Any) -> None:
    """``terminate`` and ``join`` `pool` in a helper thread. A worker still alive after
    ``STOP_TIMEOUT`` seconds (``terminate`` was seen to leave one unsignalled) is killed (SIGKILL),
    which ends the join; a worker killed so cannot remove a real-backend sandbox it made (a
    ``raceproof-*`` directory may be left in the temp dir; nothing outside it is touched)."""
    stopper = threading.Thread(target=lambda: (pool.terminate(), pool.join()), daemon=True,
                               name="raceproof-pool-stop")
    stopper.start()
    stopper.join(STOP_TIMEOUT)
    if stopper.is_alive():
        for worker in list(getattr(pool, "_pool", ())):
            if worker.is_alive():
                worker.kill()
        stopper.join(STOP_TIMEOUT)


#: how long ``--dask`` waits for the scheduler to answer
DASK_CONNECT_TIMEOUT = "10s"


def _dask_rows(args: RowArgs, units: list[tuple[MountSet, int]], address: str) -> Rows:
    """The rows of `units`, in order, proved as tasks on the Dask cluster at `address` (every
    worker needs raceproof installed, and the user's algorithm module importable)."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask: the 'distributed' package is not installed "
                         "(pip install 'raceproof[dask]')") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"--dask: cannot reach a Dask scheduler at {address!r} ({exc})") from None
    futures = []
    try:
        # the likely largest rows first, as for local processes; collected in order
        order = sorted(range(len(units)), key=lambda i: row_weight(*units[i]), reverse=True)
        submitted = client.map(_row_in_worker, [(args, *units[i]) for i in order], pure=False)
        futures = list(submitted)  # reordered below: futures[i] is unit i's
        for i, fut in zip(order, submitted, strict=True):
            futures[i] = fut
        for fut in futures:
            yield fut.result()
    finally:
        if futures:
            client.cancel(futures)  # type: ignore[no-untyped-call]
        client.close()  # type: ignore[no-untyped-call]
