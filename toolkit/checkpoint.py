"""Checkpoints of long searches: what is done, written so that an interrupted run can resume.

Two kinds, both JSON files naming the search they belong to (a checkpoint of another search is
refused with the field that differs), both rewritten atomically (a temporary file renamed into
place, so an interrupt leaves the previous one):

- ``raceproof.checkpoint/1``, a mount-set table (``verify --mount-sets K --checkpoint FILE``): the
  rows already proved, in the enumeration's order, rewritten after every row; ``--resume FILE``
  skips them. Rows are deterministic, so a resumed run prints the table, counts and tokens of an
  uninterrupted one.
- ``raceproof.search-checkpoint/1``, one ``verify`` (``SearchCheckpoint``): the state of each
  exploration it ran so far, in order (the reductions may run several: confluent heads, then the
  symmetric search, then the plain one; fault placements run one per placement). A state is the
  strategy's frontier (DPOR's stack of sleep sets and wakeup trees, ``Dpor.snapshot``), the
  loop's and the tally's counters and the set of trace classes (stable hashes,
  ``observe.stable_trace_class``). It is written every `every` seconds between executions, when
  an exploration ends, before a failing execution is shown to the strategy, and when an
  interrupt or error stops one (``raceproof.loop``: the state then is the one from before the
  running execution, which a resumed run runs again). A resumed ``verify`` restores each
  exploration in turn: one that had finished ends at once (or runs its last execution again),
  the interrupted one continues. So the verdict, counts, classes and counterexample are those of
  an uninterrupted run.

A path given to ``--checkpoint`` is checked before anything runs (``writable``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raceproof.errors import InputError
from raceproof.signals import deferred

if TYPE_CHECKING:
    from raceproof.loop import Loop
    from raceproof.observe import Tally, TraceClasses
    from raceproof.strategies import Strategy

SCHEMA = "raceproof.checkpoint/1"
SEARCH_SCHEMA = "raceproof.search-checkpoint/1"
#: seconds between two writes of a search checkpoint (besides the end and an interrupt)
EVERY = 60.0
#: a checkpoint is read whole: refuse anything larger than a very large table would be
MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Checkpoint:
    """The identity of a search and the rows it has finished."""

    search: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "search": self.search, "rows": self.rows}, indent=1)


def write(path: str, checkpoint: Checkpoint) -> None:
    """Replace `path` with `checkpoint` in one rename (never a half-written file)."""
    _replace(path, checkpoint.to_json())


def writable(path: str) -> None:
    """A one-line ``InputError`` now, rather than after a long search, if `path` cannot be a
    checkpoint file (its directory missing or read-only, or a directory itself). A temporary
    file an earlier, killed writer of `path` left is removed (``sweep``)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{path}: --checkpoint: is a directory")
    if not os.path.isdir(directory):
        raise InputError(f"{path}: --checkpoint: no directory {directory}")
    if not os.access(directory, os.W_OK):
        raise InputError(f"{path}: --checkpoint: the directory {directory} is not writable")
    sweep(path)


def _temp_prefix(path: str) -> str:
    """The name every temporary file of checkpoint `path` starts with (its own: sweeping it
    cannot touch another file's)."""
    return f".{os.path.basename(path)}.raceproof-tmp-"


def sweep(path: str) -> None:
    """Remove the temporary files of checkpoint `path` that a writer killed by SIGKILL mid-write
    left beside it (the checkpoint itself was never half-written: each write is one rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))


def _replace(path: str, text: str) -> None:
    """Replace `path` with `text` in one rename (``_rename_into``); a failed write is a one-line
    error."""
    try:
        _rename_into(path, text)
    except OSError as exc:
        raise InputError(f"{path}: --checkpoint: cannot write it ({exc.strerror or exc})") from None


def _rename_into(path: str, text: str) -> None:
    """An interrupt waits for the rename: one that came between creating the temporary file and
    the ``try`` left that file behind (seen once in the full suite)."""
    directory = os.path.dirname(os.path.abspath(path))
    with deferred():
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def read(path: str, search: dict[str, Any]) -> Checkpoint:
    """The checkpoint at `path`, which must belong to `search` (else a one-line ``InputError``
    naming the file and the field)."""
    data = _load(path, SCHEMA, search)
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: rows: must be a list of rows")
    return Checkpoint(dict(data["search"]), rows)


def read_rows(path: str, search: dict[str, Any], expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the table checkpoint at `path` (of `search`), each checked against the row it
    must be in this table: `expected[i]` holds the fields that name row i."""
    rows = read(path, search).rows
    if len(rows) > len(expected):
        raise InputError(f"{path}: rows: {len(rows)} rows, but this table has {len(expected)}")
    for i, (row, want) in enumerate(zip(rows, expected, strict=False)):
        got = {key: row.get(key) for key in want}
        if got != want:
            raise InputError(f"{path}: rows[{i}]: is {got}, expected {want}")
    return rows


def _load(path: str, schema: str, search: dict[str, Any]) -> dict[str, Any]:
    """The JSON object at `path`, of `schema` and belonging to `search`."""
    try:
        if not os.path.isfile(path):
            raise InputError(f"{path}: --resume: not a regular file")
        if os.path.getsize(path) > MAX_BYTES:
            raise InputError(f"{path}: --resume: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: --resume: not a raceproof checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else None
        raise InputError(f"{path}: schema: not a {schema} checkpoint (it is {found!r})")
    stored = data.get("search")
    if not isinstance(stored, dict):
        raise InputError(f"{path}: search: missing")
    for key, want in search.items():
        if stored.get(key) != want:
            raise InputError(f"{path}: search.{key}: the checkpoint is for {stored.get(key)!r}, this run is "
                             f"{want!r}")
    return data


def _digest(calls: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(calls, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class SearchCheckpoint:
    """The checkpoint of one ``verify`` (``raceproof.search-checkpoint/1``): `search` is its
    identity; `path` (if any) is written, `resume` (if any) read first. Each exploration of the run
    asks ``call(label)`` for its ``Call``, in order."""

    def __init__(self, search: dict[str, Any], *, path: str | None = None, resume: str | None = None,
                 every: float = EVERY) -> None:
        self.search = search
        self.path = path
        self.resume = resume
        self.every = every
        self.calls: list[dict[str, Any]] = []
        self.started = 0
        if path is not None:
            writable(path)
        if resume is not None:
            data = _load(resume, SEARCH_SCHEMA, search)
            sweep(resume)
            calls = data.get("calls")
            if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("label"), str)
                                                      and isinstance(c.get("state"), dict) for c in calls):
                raise InputError(f"{resume}: calls: must be a list of {{label, state}} objects")
            if data.get("sha256") != _digest(calls):
                raise InputError(f"{resume}: sha256: does not match its calls (the file was edited or damaged)")
            self.calls = calls

    def call(self, label: str) -> Call:
        """The next exploration's checkpoint: restored from the resumed file if it got that far."""
        i = self.started
        self.started += 1
        stored = None
        if i < len(self.calls):
            if self.calls[i]["label"] != label:
                raise InputError(f"{self.resume}: calls[{i}].label: the checkpoint's exploration {i} is "
                                 f"{self.calls[i]['label']!r}, this run's is {label!r}")
            stored = self.calls[i]["state"]
        return Call(self, i, label, stored)

    def write(self, index: int, label: str, state: dict[str, Any]) -> None:
        """Record exploration `index`'s state (later ones, from a resumed file, are kept: this one
        is being run again to where it was)."""
        entry = {"label": label, "state": state}
        if index < len(self.calls):
            self.calls[index] = entry
        else:
            self.calls.append(entry)
        if self.path is not None:
            _replace(self.path, json.dumps({"schema": SEARCH_SCHEMA, "search": self.search, "calls": self.calls,
                                            "sha256": _digest(self.calls)}))


class Call:
    """One exploration of a checkpointed ``verify`` (a ``raceproof.loop.Saver``): ``bind`` restores
    its parts from the stored state, ``save`` writes them."""

    def __init__(self, owner: SearchCheckpoint, index: int, label: str, stored: dict[str, Any] | None) -> None:
        self.owner = owner
        self.index = index
        self.label = label
        self.stored = stored
        #: seconds the exploration had run before (in the interrupted processes)
        self.elapsed_before = 0.0
        self._parts: tuple[Strategy, Loop, Tally, TraceClasses | None] | None = None
        self._counters: dict[str, int] = {}
        self._t0 = self._last = time.monotonic()

    def bind(self, strategy: Strategy, loop: Loop, tally: Tally, classes: TraceClasses | None,
             counters: dict[str, int] | None = None) -> None:
        """The parts whose state is saved (and the caller's own `counters`, kept as they are);
        restored now if this exploration was checkpointed."""
        if not (hasattr(strategy, "snapshot") and hasattr(strategy, "restore")):
            raise InputError(f"--checkpoint: strategy {strategy.name!r} cannot be checkpointed "
                             "(dpor, portfolio and pct can)")
        self._parts = (strategy, loop, tally, classes)
        self._counters = counters if counters is not None else {}
        if self.stored is None:
            return
        where = f"{self.owner.resume}: calls[{self.index}].state"
        try:
            st = self.stored
            strategy.restore(st["strategy"])
            loop.executions, loop.blocked = int(st["executions"]), int(st["blocked"])
            t = st["tally"]
            tally.executions, tally.steps, tally.failing = int(t["executions"]), int(t["steps"]), int(t["failing"])
            tally.naive, tally.passed = int(t["naive"]), bool(t["passed"])
            if classes is not None:
                raw = base64.b64decode(st["classes"], validate=True)
                classes.seen = set(struct.unpack(f">{len(raw) // 8}q", raw))
            self.elapsed_before = float(st["elapsed"])
            for key in self._counters:
                self._counters[key] = int(st["counters"][key])
        except (KeyError, TypeError, ValueError, IndexError, StopIteration, struct.error) as exc:
            raise InputError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None

    def state(self) -> dict[str, Any]:
        assert self._parts is not None, "Call.bind first"
        strategy, loop, tally, classes = self._parts
        if tally.first is not None:
            raise ValueError("a checkpointed exploration stops at its first counterexample")
        seen = sorted(classes.seen) if classes is not None else []
        return {"strategy": strategy.snapshot(),  # type: ignore[attr-defined]
                "executions": loop.executions, "blocked": loop.blocked,
                "tally": {"executions": tally.executions, "steps": tally.steps, "failing": tally.failing,
                          "naive": tally.naive, "passed": tally.passed},
                "classes": base64.b64encode(struct.pack(f">{len(seen)}q", *seen)).decode(),
                "counters": dict(self._counters), "elapsed": self.elapsed()}

    def elapsed(self) -> float:
        """Seconds this exploration has run, in this process and those before it."""
        return self.elapsed_before + time.monotonic() - self._t0

    def save(self) -> None:
        self.owner.write(self.index, self.label, self.state())
        self._last = time.monotonic()

    def tick(self) -> None:
        if time.monotonic() - self._last >= self.owner.every:
            self.save()
