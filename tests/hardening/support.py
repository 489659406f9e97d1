"""Helpers for the hardening corpus: run the CLI in-process and hold a run to the bad-input contract.

The contract (issue 10): exit 2, exactly one line on stderr (``raceproof: error: …``), no traceback,
nothing written (the working directory and the temp directory are unchanged), and with ``--json``
one JSON error object on stdout instead of nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from raceproof.cli import main

SMALL = """\
name = "small"
algorithm = "pre-cleanup"
workers = 2
seed = 7

[initial]
dirs = ["/home/user"]

[[mounts]]
path = "/home/user/.claude"
files = 1

[[mounts]]
path = "/home/user/.claude/skills/pdf"
files = 1
"""

#: how long an in-process run may take before the test calls it a hang (a guard, not a measurement)
HANG_GUARD_S = 120


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry under `root` with its kind, size and (for small files) content."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if os.path.isfile(full) and not os.path.islink(full) and st.st_size < 1 << 16:
                out[rel] = ("file", st.st_size, Path(full).read_bytes())
            else:
                out[rel] = ("other" if not os.path.isdir(full) else "dir", 0, b"")
    return out


def invoke(args: Sequence[str], cwd: Path) -> Run:
    """`raceproof ARGS` in-process (click's CliRunner) with `cwd` as the working directory, in a
    thread so that a hang fails the test instead of stalling the suite."""
    box: dict[str, object] = {}

    def target() -> None:
        old = os.getcwd()
        os.chdir(cwd)
        try:
            box["result"] = CliRunner().invoke(main, list(args), catch_exceptions=True)
        finally:
            os.chdir(old)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(HANG_GUARD_S)
    assert not t.is_alive(), f"raceproof {' '.join(args)} hung"
    r = box["result"]
    exc = r.exception  # type: ignore[attr-defined]
    return Run(r.exit_code, r.stdout, r.stderr, None if isinstance(exc, SystemExit) else exc)  # type: ignore[attr-defined]


@contextmanager
def workdir() -> Iterator[Path]:
    """A fresh working directory, and a private temp directory (real-backend sandboxes land there)."""
    with tempfile.TemporaryDirectory(prefix="rp-hardening-") as d:
        root = Path(d)
        (root / "cwd").mkdir()
        (root / "tmp").mkdir()
        old = tempfile.tempdir
        tempfile.tempdir = str(root / "tmp")
        try:
            yield root / "cwd"
        finally:
            tempfile.tempdir = old


def assert_bad_input(run: Run, before: dict[str, tuple[str, int, bytes]], cwd: Path, *needles: str,
                     as_json: bool = False) -> str:
    """Exit 2, one stderr line, no traceback, nothing written; returns the line."""
    assert run.exception is None, repr(run.exception)
    assert run.exit_code == 2, (run.exit_code, run.stdout[-500:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    [line] = lines
    assert line.startswith("raceproof: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    if as_json:
        obj = json.loads(run.stdout)
        assert obj["error"]["exit_code"] == 2
        assert obj["error"]["message"] in line
    else:
        assert run.stdout == "", run.stdout
    assert snapshot(cwd) == before, "the run wrote into the working directory"
    tmp = Path(tempfile.gettempdir())
    assert list(tmp.iterdir()) == [], f"left behind in the temp dir: {list(tmp.iterdir())}"
    return line


def bad_input(args: Sequence[str], cwd: Path, *needles: str) -> str:
    """Run and hold to the contract (snapshot taken just before the run)."""
    before = snapshot(cwd)
    return assert_bad_input(invoke(args, cwd), before, cwd, *needles, as_json="--json" in args)
