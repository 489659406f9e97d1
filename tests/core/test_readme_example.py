"""The README's "Checking your own code" example says what it returns: keep it true."""

from __future__ import annotations

import re
from pathlib import Path

from raceproof import explore

README = Path(__file__).resolve().parents[2] / "README.md"


async def writer(fs):  # type: ignore[no-untyped-def]
    await fs.write_file("/data/x", b"new")


async def reader(fs):  # type: ignore[no-untyped-def]
    return await fs.read_file("/data/x")


def test_the_readme_example_returns_what_it_says() -> None:
    text = README.read_text(encoding="utf-8")
    said = int(re.search(r"result\.executions +# (\d+):", text).group(1))  # type: ignore[union-attr]
    r = explore([writer, reader, reader], setup={"/data/x": b"old"}, strategy="dpor", backend="fake")
    assert (r.verdict, r.complete, r.executions) == ("safe", True, said)
    second = explore([writer, reader, reader], setup={"/data/x": b"old"}, strategy="stateful", driver="direct")
    assert second.verdict == "safe" and second.outcomes == r.outcomes
    assert f"{second.executions:,} against {said}" in text
