"""Deliberately wrong pipeline algorithms (``module:function``) the injector tests must catch."""

from __future__ import annotations

from typing import Any

from raceproof.models import tar
from raceproof.models.rust_fs import create_dir_all


async def swallow_errors(fs: Any, job: Any) -> list[str]:
    """Extracts, but reports success whatever happens (a 'never fail' wrapper)."""
    try:
        await create_dir_all(fs, job.root)
        return await tar.unpack(fs, job.root, job.payload())
    except OSError:
        return []


async def marker_first(fs: Any, job: Any) -> list[str]:
    """Writes its completion marker *before* extracting, and skips when the marker exists:
    a crash between the two leaves a marked but incomplete mount that no rerun repairs."""
    marker = job.root + "/.done"
    await create_dir_all(fs, job.root)
    if await fs.exists(marker):
        return []
    await fs.write_file(marker, b"ok")
    return await tar.unpack(fs, job.root, job.payload())


async def marker_last(fs: Any, job: Any) -> list[str]:
    """The correct order: extract, then write the marker (Cargo's .cargo-ok)."""
    marker = job.root + "/.done"
    await create_dir_all(fs, job.root)
    if await fs.exists(marker):
        return []
    written = await tar.unpack(fs, job.root, job.payload())
    await fs.write_file(marker, b"ok")
    return written

