"""Programs with known Mazurkiewicz trace counts (PRIOR-ART.md §7): ``readers(n)`` (2^n),
``distinct_writers(n)`` (1), ``writers_reader(n)`` ((n+1)!), ``lastzero(n)`` (2, 5, 12, 28, 64)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from raceproof.oracle import ProgramFn
from raceproof.sfs import SchedFS

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
