"""File identities in footprints must not depend on the interleaving (DPOR compares footprints
across executions). Two threads create files in either order; a third reads one of them through
its content while the creator writes it through a file descriptor."""

from __future__ import annotations

import pytest

from raceproof import explore


def creator(path: str, data: bytes):
    async def create(fs):
        h = await fs.open(path, "x")
        await fs.write(h, data, path)
        await fs.close(h, path)

    return create


async def reader(fs):
    try:
        return await fs.read_file("/d/a")
    except FileNotFoundError:
        return "ENOENT"


@pytest.mark.parametrize("backend", ["memory", pytest.param("fake", marks=pytest.mark.slow)])
def test_dpor_matches_dfs_when_creation_order_varies(backend: str) -> None:
    programs = [creator("/d/a", b"A"), creator("/d/b", b"B"), reader]
    dpor = explore(programs, setup={"/d/": b""}, strategy="dpor", backend=backend)
    dfs = explore(programs, setup={"/d/": b""}, strategy="dfs", backend=backend)
    assert dpor.complete and dfs.complete
    assert dpor.outcomes == dfs.outcomes
    seen = {o[1][2] for o in dpor.outcomes}
    assert seen == {("ok", "'ENOENT'"), ("ok", "b''"), ("ok", "b'A'")}
    assert dpor.executions < dfs.executions


def test_same_file_same_name_in_every_execution() -> None:
    """The content resource of a thread's write names the same file whatever the order."""
    names = set()
    programs = [creator("/d/a", b"A"), creator("/d/b", b"B")]
    from raceproof.execution import Runner
    from raceproof.exploration import FunctionProgram
    from raceproof.strategies.dfs import Dfs

    strat = Dfs()
    with Runner(FunctionProgram(programs, {"/d/": b""})) as runner:
        async def driver(r):
            while (chooser := strat.next_execution()) is not None:
                ex = await r.run_one(chooser)
                strat.observe(ex)
                for ev in ex.trace:
                    if ev.op == "write" and ev.thread == 0:
                        names.add(ev.footprint.writes)

        runner.run(driver)
    assert strat.started
    assert names == {frozenset({"c:0.0"})}  # thread 0's first creation, in every order
