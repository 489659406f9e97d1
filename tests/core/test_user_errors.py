"""A plain bug in the program is reported as what it is, not as a race (issue 12, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from raceproof import InputError, explore
from raceproof.exploration import PROGRAM_ERROR, RACE


async def buggy(fs: Any) -> None:
    await fs.write_file("/d/x", b"1")
    fs.no_such_method()  # the bug: fails on every interleaving


async def bystander(fs: Any) -> None:
    await fs.write_file("/d/y", b"2")


async def checker(fs: Any) -> None:
    if await fs.exists("/d/go"):
        raise RuntimeError("saw go")


async def goer(fs: Any) -> None:
    await fs.mkdir("/d/go")


@pytest.mark.parametrize("strategy", ["dpor", "random", "pct"])
def test_an_error_on_every_interleaving_is_a_program_error_with_its_traceback(strategy: str) -> None:
    r = explore([buggy, bystander], setup={"/d/": b""}, strategy=strategy, stop_on_failure=True)
    cex = r.counterexample
    assert r.verdict == "unsafe" and cex is not None
    assert cex.kind == PROGRAM_ERROR
    tb = cex.tracebacks["buggy#0"]
    assert __file__ in tb and "fs.no_such_method()" in tb and tb.endswith("no attribute 'no_such_method'")
    assert "raceproof" not in tb.replace(__file__, "")  # no frames of the machinery


def test_an_error_some_interleaving_avoids_is_a_race_with_its_traceback() -> None:
    r = explore([checker, goer], setup={"/d/": b""}, strategy="dpor", stop_on_failure=True)
    cex = r.counterexample
    assert cex is not None and cex.kind == RACE
    assert "raise RuntimeError(\"saw go\")" in cex.tracebacks["checker#0"]


def test_a_sync_function_is_a_usage_error_before_exploring() -> None:
    def not_async(fs: Any) -> None:
        pass

    with pytest.raises(InputError, match=r"program 1 \(.*not_async\) is not an async function"):
        explore([goer, not_async])
