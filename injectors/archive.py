"""Truncated and corrupted downloads: ``Job.delivered`` (what the download returns) is changed.

- ``truncate`` ``at=entry`` cuts the stream on an entry boundary, with no end blocks (tar-rs
  returns success with the later entries missing: silent loss unless the digest is checked);
  ``at=header`` cuts inside the next header ("failed to read entire block"); ``at=data`` cuts
  inside a file's data (a partial file stays on disk, "failed to write entire file").
- ``corrupt`` ``how=checksum`` flips a header byte (tar-rs "archive header checksum mismatch");
  ``how=data`` flips a byte of file data (the archive parses: only the digest can tell).

With ``verify_digest = true`` (the fixed pipeline) the download fails with EIO before
extraction: a clean job failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raceproof.inject import BaseInjector, Param, ParamError
from raceproof.models import tar

if TYPE_CHECKING:
    from raceproof.execution import Body
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


class _DownloadFault(BaseInjector):
    fails_jobs = True
    mount: str

    def payload(self, data: bytes) -> bytes:
        raise NotImplementedError

    def bind(self, program: IncidentProgram) -> None:
        """Resolve the mount and compute the faulty payload once: a parameter that cannot apply to
        this archive is an error naming it, before any run."""
        self.job = self.job_for(program, self.mount)
        self.delivered = self.payload(self.job.archive)

    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]:
        job = self.job
        job.delivered = self.delivered
        self.fired = 1 if job.delivered != job.archive else 0
        return bodies


class Truncate(_DownloadFault):
    at: str
    keep: int
    name = "truncate"
    description = "the download is cut short: on an entry boundary, inside a header, or inside file data"
    params = (
        Param("mount", str, "0", "which mount's archive (index, path or label)"),
        Param("at", str, "entry", "where to cut", ("entry", "header", "data")),
        Param("keep", int, -1, "entries kept before the cut (-1: all but the last)", minimum=-1, maximum=100_000),
    )

    def payload(self, data: bytes) -> bytes:
        bounds = tar.entry_boundaries(data)  # starts of entries + the end of the last one
        n = len(bounds) - 1
        if n < 1:
            raise ParamError("mount", "the archive has no entries to cut")
        if self.keep > n - 1:
            raise ParamError("keep", f"the archive has {n} entries: keep must be at most {n - 1} "
                                     f"(got {self.keep}; -1 keeps all but the last)")
        keep = n - 1 if self.keep < 0 else self.keep
        start = bounds[keep]
        if self.at == "entry":
            return data[:start]
        if self.at == "header":
            return data[:start + 100]
        members = list(tar.parse(data))
        for i in range(keep, n):
            member = members[i][0]
            if member.kind == "file" and len(member.data) > 1:
                return data[:bounds[i] + tar.BLOCK + len(member.data) // 2]
        raise ParamError("at", "at=data needs a file entry with data at or after the cut")


class Corrupt(_DownloadFault):
    how: str
    entry: int
    name = "corrupt"
    description = "the download is corrupted: a header byte (checksum mismatch) or a data byte (digest only)"
    params = (
        Param("mount", str, "0", "which mount's archive (index, path or label)"),
        Param("how", str, "checksum", "what to flip", ("checksum", "data")),
        Param("entry", int, 0, "which entry (from 0)", minimum=0, maximum=100_000),
    )

    def payload(self, data: bytes) -> bytes:
        bounds = tar.entry_boundaries(data)
        n = len(bounds) - 1
        if not 0 <= self.entry < n:
            raise ParamError("entry", f"the archive has {n} entries (0..{n - 1}); got {self.entry}")
        i = self.entry
        buf = bytearray(data)
        if self.how == "checksum":
            buf[bounds[i] + 1] ^= 0x20  # a name byte: the stored checksum no longer matches
            return bytes(buf)
        members = list(tar.parse(data))
        for j in range(i, n):
            if members[j][0].kind == "file" and members[j][0].data:
                buf[bounds[j] + tar.BLOCK] ^= 0x01
                return bytes(buf)
        raise ParamError("how", "how=data needs a file entry with data at or after 'entry'")
