"""Filesystem backends and the POSIX layer (``Vfs``) that every step goes through."""

from __future__ import annotations

from raceproof.errors import UnknownNameError
from raceproof.fs.base import Backend, Stat
from raceproof.fs.vfs import Vfs

BACKENDS = ("memory", "fake", "real")


def make_backend(name: str) -> Backend:
    """Create a backend by name (``memory``, ``fake`` or ``real``)."""
    if name == "memory":
        from raceproof.fs.memory import MemoryBackend

        return MemoryBackend()
    if name == "fake":
        from raceproof.fs.fake import FakeBackend

        return FakeBackend()
    if name == "real":
        from raceproof.fs.real import RealBackend

        return RealBackend()
    raise UnknownNameError("backend", name, BACKENDS)


__all__ = ["BACKENDS", "Backend", "Stat", "Vfs", "make_backend"]
