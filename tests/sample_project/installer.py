"""A sample project's own code: a tiny bundle installer (not raceproof's incident model).

Several installers run concurrently. Each stages its bundle's files in a staging directory, moves
them into its destination, then cleans the staging directory up.

- ``install_buggy`` stages in ONE shared directory ``/srv/app/.staging`` and its cleanup removes that
  whole directory: a finished installer deletes files another installer has staged but not yet
  moved (its ``rename`` then fails with ENOENT), or the directory under another's ``write_file``.
- ``install_fixed`` stages in a private ``/srv/app/.staging-<bundle>`` and removes only that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

SETUP = {"/srv/app/": b""}
BUNDLES = {  # nested destinations: both installers create /srv/app/bin
    "bin": ("/srv/app/bin", [("tool", b"#!/bin/sh\necho tool\n")]),
    "plugins": ("/srv/app/bin/plugins", [("px.so", b"\x7fELF-px")]),
}


async def install_buggy(fs: Any, dest: str, bundle: str, files: Sequence[tuple[str, bytes]]) -> None:
    staging = "/srv/app/.staging"  # shared by every installer: the bug
    await fs.create_dir_all(staging)
    for name, data in files:
        await fs.write_file(f"{staging}/{bundle}-{name}", data)
    await fs.create_dir_all(dest)
    for name, _ in files:
        await fs.rename(f"{staging}/{bundle}-{name}", f"{dest}/{name}")
    await fs.remove_dir_all(staging)


async def install_fixed(fs: Any, dest: str, bundle: str, files: Sequence[tuple[str, bytes]]) -> None:
    staging = f"/srv/app/.staging-{bundle}"  # private to this installer
    await fs.create_dir_all(staging)
    for name, data in files:
        await fs.write_file(f"{staging}/{name}", data)
    await fs.create_dir_all(dest)
    for name, _ in files:
        await fs.rename(f"{staging}/{name}", f"{dest}/{name}")
    await fs.remove_dir_all(staging)


def installers(install: Callable[..., Awaitable[None]]) -> list[Callable[[Any], Awaitable[None]]]:
    """One program (virtual thread) per bundle, all running `install`."""

    def program(bundle: str) -> Callable[[Any], Awaitable[None]]:
        dest, files = BUNDLES[bundle]

        async def run(fs: Any) -> None:
            await install(fs, dest, bundle, files)

        run.__name__ = f"install_{bundle}"
        return run

    return [program(b) for b in sorted(BUNDLES)]


def check_installed(execution: Any) -> list[Any]:
    """No installer raised, and every bundle file is in place with its content."""
    from raceproof.execution import Violation, default_violations

    out = list(default_violations(execution))
    for dest, files in BUNDLES.values():
        for name, data in files:
            path = f"{dest}/{name}"
            if execution.tree.get(path) != "file:" + data.hex():
                out.append(Violation(check="installed", path=path, message=f"{path} missing or wrong"))
    return out
