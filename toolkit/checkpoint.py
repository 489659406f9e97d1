"""Checkpoints of long searches: what is done, written so that an interrupted run can resume.

A checkpoint file is JSON (``raceproof.checkpoint/1``): the search it belongs to (scenario file
and digest, mount-set size, worker counts, strategy, budget) and the rows already proved, in the
enumeration's order. ``verify --mount-sets K --checkpoint FILE`` rewrites it after every row
(atomically: a temporary file renamed into place, so an interrupt leaves the previous one) and
``--resume FILE`` skips the rows it holds. Rows are deterministic, so a resumed run prints the
table, counts and tokens of an uninterrupted one. A checkpoint of another search is refused
with the field that differs.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from raceproof.errors import InputError
from raceproof.signals import deferred

SCHEMA = "raceproof.checkpoint/1"
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
    """Replace `path` with `checkpoint` in one rename (never a half-written file). An interrupt
    waits for the rename: one that came between creating the temporary file and the ``try`` left
    that file behind (seen once in the full suite)."""
    directory = os.path.dirname(os.path.abspath(path))
    text = checkpoint.to_json()
    with deferred():
        fd, tmp = tempfile.mkstemp(prefix=".raceproof-checkpoint-", dir=directory)
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
    try:
        if not os.path.isfile(path):
            raise InputError(f"{path}: --resume: not a regular file")
        if os.path.getsize(path) > MAX_BYTES:
            raise InputError(f"{path}: --resume: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: --resume: not a raceproof checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{path}: schema: not a {SCHEMA} checkpoint")
    stored = data.get("search")
    if not isinstance(stored, dict):
        raise InputError(f"{path}: search: missing")
    for key, want in search.items():
        if stored.get(key) != want:
            raise InputError(f"{path}: search.{key}: the checkpoint is for {stored.get(key)!r}, this run is "
                             f"{want!r}")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: rows: must be a list of rows")
    return Checkpoint(dict(stored), rows)
