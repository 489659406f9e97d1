"""Previous-session trees as an enumerated dimension, like mount sets.

For a mount forest, a stale *letter* is one thing the previous session left, placed relative to
the forest (``mount 0`` is the first mount; the *child* is the last nested mount, its *spine* the
directory it sits in when that is not its parent's root):

- ``file``: a stale file in mount 0; ``dir``: a stale directory with a file in mount 0;
- ``link-in``: a symlink in mount 0 to inside it; ``link-out``: a symlink to ``/var/outside``
  (which holds a file, and a directory named like the child's root) where the child's spine goes
  (else in mount 0);
- ``file-spine``: a file where the child's spine directory goes; ``file-root``: a file where the
  child's root goes; ``empty-root``: the child's root exists, empty;
- ``previous``: the last mount's previous complete extraction, with one file since removed
  upstream, and D's manifest of it (``STATE_DIR``).

With ``mount_points = true`` every root is mounted (it exists, as do its spine directories), so the
letters that put something else there (``link-out`` on the spine, ``file-spine``, ``file-root``)
and ``empty-root`` (the same tree as ``none``) do not apply; ``link-out`` goes in mount 0.

A stale *state* is a set of up to K compatible letters (two letters on one path, or one below a
file or symlink, are incompatible). ``none`` is the empty state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from raceproof.errors import InputError, closest
from raceproof.fs.base import join, parent_of
from raceproof.keepalive.pipeline import parent_mount
from raceproof.models import tar
from raceproof.scenario import Scenario

OUTSIDE = "/var/outside"
LETTERS = ("file", "dir", "link-in", "link-out", "file-spine", "file-root", "empty-root", "previous")


@dataclass(frozen=True)
class Plant:
    """What one letter adds to the initial tree."""

    dirs: tuple[str, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()
    links: tuple[tuple[str, str], ...] = ()


def _child(roots: list[str]) -> tuple[str, str] | None:
    """(child root, its spine or '') of the last nested mount, or None."""
    for root in reversed(roots):
        parent = parent_mount(root, roots)
        if parent is not None:
            spine = parent_of(root)
            return root, spine if spine != parent else ""
    return None


def plants(scenario: Scenario) -> dict[str, Plant]:
    """Every letter that applies to the scenario's mounts, with what it plants."""
    from raceproof.keepalive.candidates import manifest_path

    roots = [m.path for m in scenario.mounts]
    r0 = roots[0]
    child = _child(roots)
    out = {
        "file": Plant(files=((join(r0, "stale.txt"), b"previous session\n"),)),
        "dir": Plant(files=((join(r0, "old-skill/OLD.md"), b"removed skill\n"),)),
        "link-in": Plant(links=((join(r0, "link-in"), r0),)),
    }
    outside = (OUTSIDE + "/keep", b"not ours\n")
    spine = child[1] if child else ""
    if scenario.mount_points:  # the child root and its spine are directories (mounted), and exist
        spine, child = "", None
    if spine:
        name = child[0].rsplit("/", 1)[1] if child else ""
        out["link-out"] = Plant(files=(outside, (join(OUTSIDE, name + "/keep"), b"not ours\n")),
                                links=((spine, OUTSIDE),))
        out["file-spine"] = Plant(files=((spine, b"a file where a directory belongs\n"),))
    else:
        out["link-out"] = Plant(files=(outside,), links=((join(r0, "link-out"), OUTSIDE),))
    if child:
        out["file-root"] = Plant(files=((child[0], b"a file where a mount root belongs\n"),))
        out["empty-root"] = Plant(dirs=(child[0],))
    last = scenario.mounts[-1]
    previous = [(join(last.path, "/".join(p)), m.data) for m in last.members
                if m.kind == "file" and (p := tar.sanitize(m.name))]
    previous.append((join(last.path, "REMOVED-UPSTREAM.md"), b"gone from the new archive\n"))
    manifest = "\n".join(sorted(p[len(last.path) + 1:] for p, _ in previous)).encode()
    out["previous"] = Plant(files=(*previous, (manifest_path(last.path), manifest)))
    return out


def _paths(p: Plant) -> list[tuple[str, str]]:
    return [(d, "dir") for d in p.dirs] + [(f, "file") for f, _ in p.files] + [(link, "link") for link, _ in p.links]


def compatible(chosen: list[Plant]) -> bool:
    kinds: dict[str, str] = {}
    for plant in chosen:
        for path, kind in _paths(plant):
            if kinds.setdefault(path, kind) != kind or (kind != "dir" and kinds[path] != kind):
                return False
            if kind != "dir" and sum(1 for q, _ in _paths(plant) if q == path) > 1:
                return False
    for path, kind in kinds.items():
        if kind != "dir" and any(q.startswith(path + "/") for q in kinds):
            return False  # something below a file or a symlink
        if kind != "dir" and sum(1 for pl in chosen for q, _ in _paths(pl) if q == path) > 1:
            return False  # two letters plant one file or link
    return True


def states(scenario: Scenario, k: int) -> list[str]:
    """Every stale state of up to `k` letters for the scenario's mounts (``none`` first)."""
    table = plants(scenario)
    names = [n for n in LETTERS if n in table]
    out = ["none"]
    for size in range(1, k + 1):
        for combo in itertools.combinations(names, size):
            if compatible([table[n] for n in combo]):
                out.append("+".join(combo))
    return out


def apply(scenario: Scenario, state: str) -> Scenario:
    """The scenario with the stale state planted in its initial tree (``none``: unchanged)."""
    if state == "none":
        return scenario
    table = plants(scenario)
    letters = state.split("+")
    for letter in letters:
        if letter not in table:
            hint = closest(letter, table)
            raise InputError(f"--stale-state {state!r}: {letter!r} is not a stale letter for these mounts "
                             f"(letters: {', '.join(table)})" + (f"; did you mean {hint!r}?" if hint else ""))
    chosen = [table[n] for n in letters]
    if not compatible(chosen):
        raise InputError(f"--stale-state {state!r}: the letters plant conflicting entries on one path")
    dirs = list(scenario.initial_dirs)
    files = dict(scenario.initial_files)
    links = dict(scenario.initial_links)
    for p in chosen:
        dirs.extend(p.dirs)
        files.update(p.files)
        links.update(p.links)
    return scenario.with_changes(initial_dirs=dirs, initial_files=files, initial_links=links, token=None,
                                 name=f"{scenario.name}[stale {state}]")
