"""Convenience operations do not hide windows (issue 8, item 5).

``write_file`` is open(O_TRUNC), a write per page, close; ``read_file`` is open, reads until end,
close. A hand-off whose child writes its file in place, read by the parent meanwhile, loses the
content for real (the parent read 0 bytes on tmpfs); dpor must refute it. Only with both sides
made one step (the loudly named ``atomic_*`` operations, which no system call is) is it safe."""

from __future__ import annotations

from typing import Any

import pytest

from raceproof import explore
from raceproof.execution import Execution, Violation

SKILL = b"skill v2 " * 1200  # 10,800 bytes: three pages


def _handoff(write: str, read: str = "read_file") -> list[Any]:
    async def child(fs: Any) -> None:  # extracts its archive in place over last session's file
        await getattr(fs, write)("/m/skills/pdf/SKILL.md", SKILL)

    async def parent(fs: Any) -> None:  # snapshots the child's tree into its own new tree
        data = await getattr(fs, read)("/m/skills/pdf/SKILL.md")
        await fs.create_dir_all("/stage/skills/pdf")
        await fs.write_file("/stage/skills/pdf/SKILL.md", data)

    return [child, parent]


def _whole(ex: Execution) -> list[Violation]:
    copy = ex.tree.get("/stage/skills/pdf/SKILL.md", "")
    if copy not in ("file:" + b"skill v1".hex(), "file:" + SKILL.hex()):
        return [Violation(check="skill-lost", message=f"the parent kept {len(copy[5:]) // 2} bytes")]
    return []


SETUP = {"/m/skills/pdf/SKILL.md": b"skill v1"}


@pytest.mark.parametrize("backend", ["memory", "real"])
def test_in_place_write_file_handoff_is_refuted(backend: str) -> None:
    r = explore(_handoff("write_file"), setup=SETUP, check=_whole, strategy="dpor", backend=backend,
                stop_on_failure=True)
    assert r.verdict == "unsafe" and r.counterexample is not None
    kept = r.counterexample.execution.tree["/stage/skills/pdf/SKILL.md"]
    assert kept not in ("file:" + b"skill v1".hex(), "file:" + SKILL.hex())


def test_every_partial_and_torn_copy_is_found() -> None:
    """The parent can see the file empty (after the truncating open), one or two pages in, or
    torn: its first read got the old bytes and its next read, at that offset, the new ones."""
    r = explore(_handoff("write_file"), setup=SETUP, strategy="dpor")
    seen = {dict(o[0])["/stage/skills/pdf/SKILL.md"] for o in r.outcomes}
    torn = b"skill v1" + SKILL[8:]
    assert seen >= {"file:" + d.hex() for d in (b"skill v1", b"", SKILL[:4096], SKILL[:8192], SKILL, torn)}
    assert r.complete


def test_the_windows_are_the_steps_of_the_real_calls() -> None:
    one_step_reader = explore(_handoff("write_file", "atomic_read_file"), setup=SETUP, check=_whole, strategy="dpor")
    assert one_step_reader.verdict == "unsafe"  # the truncating open and the page-sized writes
    one_step_writer = explore(_handoff("atomic_write_file"), setup=SETUP, check=_whole, strategy="dpor")
    assert one_step_writer.verdict == "unsafe"  # the reader's second read sees the new bytes: torn
    both = explore(_handoff("atomic_write_file", "atomic_read_file"), setup=SETUP, check=_whole, strategy="dpor")
    assert (both.verdict, both.complete) == ("safe", True)
