"""renameat2 (``rename(..., noreplace=True)`` / ``exchange=True``): what each leaves on every backend,
that the step's footprint orders it against what it reveals, and that DPOR explores its races."""

from __future__ import annotations

import errno as E

import pytest

from raceproof import explore
from raceproof.fs import BACKENDS, Vfs, make_backend
from raceproof.testing import GeneratedProgram, Op, compare_strategies


def _vfs(backend: str) -> Vfs:
    vfs = Vfs(make_backend(backend))
    vfs.put("/a/x", b"A")
    vfs.put("/b/y", b"B")
    vfs.put("/f", b"F")
    return vfs


@pytest.mark.parametrize("backend", BACKENDS)
def test_exchange_swaps_two_trees_and_open_dirs_follow(backend: str) -> None:
    vfs = _vfs(backend)
    try:
        ino = vfs.open_dir("/a")
        vfs.rename("/a", "/b", "exchange")
        assert vfs.tree() == {
            "/a": "dir",
            "/a/y": "file:" + b"B".hex(),
            "/b": "dir",
            "/b/x": "file:" + b"A".hex(),
            "/f": "file:" + b"F".hex(),
        }
        assert vfs.listdir("/", at=ino) == [("x", "file")]  # the fd still names the directory, now at /b
        vfs.rename("/b", "/f", "exchange")  # a directory and a file swap too
        assert vfs.tree()["/b"] == "file:" + b"F".hex() and vfs.tree()["/f/x"] == "file:" + b"A".hex()
    finally:
        vfs.backend.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_noreplace_never_replaces(backend: str) -> None:
    vfs = _vfs(backend)
    try:
        before = vfs.tree()
        with pytest.raises(FileExistsError):
            vfs.rename("/f", "/a", "noreplace")
        with pytest.raises(FileExistsError):
            vfs.rename("/a/x", "/f", "noreplace")  # a plain rename would replace the file
        assert vfs.tree() == before
        vfs.rename("/a", "/c", "noreplace")
        assert "/c/x" in vfs.tree() and "/a" not in vfs.tree()
        with pytest.raises(OSError) as info:
            vfs.rename("/c", "/c/x/in", "noreplace")  # into itself
        assert info.value.errno in (E.EINVAL, E.ENOTDIR)
        with pytest.raises(ValueError):
            vfs.rename("/c", "/d", "bogus")
    finally:
        vfs.backend.close()


def test_the_footprint_orders_noreplace_against_a_creator() -> None:
    """Two publishers race for one name with NOREPLACE: exactly one wins in each order, and DPOR
    explores both orders (the EEXIST outcome is reachable for either thread)."""

    def publisher(name: str):  # type: ignore[no-untyped-def]
        async def run(fs):  # type: ignore[no-untyped-def]
            try:
                await fs.rename(f"/stage-{name}", "/live", noreplace=True)
                return "won"
            except FileExistsError:
                return "lost"

        return run

    result = explore([publisher("a"), publisher("b")], setup={"/stage-a/": b"", "/stage-b/": b""}, strategy="dpor")
    results = {tuple(v for _k, v in (o[1])) for o in result.outcomes}
    assert results == {("'won'", "'lost'"), ("'lost'", "'won'")}
    assert result.executions == 2


@pytest.mark.parametrize(
    "program",
    [
        GeneratedProgram(
            threads=((Op("rename_exchange", "/d", "/e"),), (Op("listdir", "/d"),), (Op("read_file", "/e/f"),)),
            initial=(("/d", None), ("/e", None), ("/e/f", b"0")),
        ),
        GeneratedProgram(
            threads=((Op("rename_noreplace", "/d", "/e"),), (Op("mkdir", "/e"),), (Op("exists", "/d/f"),)),
            initial=(("/d", None), ("/d/f", b"0")),
        ),
    ],
)
def test_dpor_agrees_with_dfs_on_renameat2_races(program: GeneratedProgram) -> None:
    assert compare_strategies(program.functions(), setup=program.setup, optimal=False) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_exists_is_false_below_a_file(backend: str) -> None:
    """``Path::exists``/``os.path.exists``: ENOTDIR (a file used as a directory) is false, not an error."""

    async def probe(fs):  # type: ignore[no-untyped-def]
        return (await fs.exists("/f/x"), await fs.exists("/f"), await fs.is_dir("/f/x"))

    result = explore([probe], setup={"/f": b"F"}, strategy="dpor", backend=backend)
    assert result.verdict == "safe"
    assert {o[1] for o in result.outcomes} == {(("ok", "(False, True, False)"),)}
