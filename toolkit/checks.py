"""Oracles run after every execution of the incident pipeline.

- ``no-worker-error``: no worker raised (P1).
- ``final-tree``: every entry every archive put there is present with its content (P2/P5). A
  missing entry with no worker error is reported as *silent loss*: the postmortem's blind spot.
  With ``stale = "forbid"`` nothing else may remain under a mount root either.
- ``confinement``: nothing was created outside the mount roots (P3).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from raceproof.execution import Execution, Violation, default_violations
from raceproof.fs.base import join, parent_of
from raceproof.models import tar


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def expected_tree(mounts: Sequence[tuple[str, Sequence[tar.Member]]]) -> dict[str, str]:
    """What the archives put on disk, as ``Vfs.tree`` describes it (later mounts win).

    A hard link member adds a second name for its source file: the first of the names in
    ``Vfs.tree``'s walk order keeps ``file:<hex>``, the others read ``hardlink:<first>``. A link
    whose source is absolute, escapes with ``..`` or is missing fails at extraction (tar-rs
    validates it), so it adds nothing here; that failure is the worker's error."""
    out: dict[str, str] = {}
    group: dict[str, int] = {}  # path -> inode group, for files with hard links
    gids = itertools.count()
    for root, members in mounts:
        for anc in _ancestors(root):
            out.setdefault(anc, "dir")
        out[root] = "dir"
        for m in members:
            parts = tar.sanitize(m.name)
            if parts is None:
                continue
            path = join(root, "/".join(parts))
            for anc in _ancestors(path):
                if under(anc, root):
                    out.setdefault(anc, "dir")
            if m.kind == "dir":
                out.setdefault(path, "dir")
            elif m.kind == "symlink":
                out[path] = "link:" + m.target
                group.pop(path, None)
            elif m.kind == "file":
                out[path] = "file:" + m.data.hex()
                group.pop(path, None)
            elif m.kind == "hardlink" and m.target and not m.target.startswith("/"):
                src_parts = tar.sanitize(m.target)
                src = join(root, "/".join(src_parts)) if src_parts else ""
                if out.get(src, "").startswith("file:") and path not in out:
                    out[path] = out[src]
                    if src not in group:
                        group[src] = next(gids)
                    group[path] = group[src]
    members_of: dict[int, list[str]] = {}
    for path, gid in group.items():
        members_of.setdefault(gid, []).append(path)
    for paths in members_of.values():
        paths.sort(key=lambda p: p.split("/"))
        for other in paths[1:]:
            out[other] = "hardlink:" + paths[0]
    return out


def _ancestors(path: str) -> list[str]:
    out = []
    while path != "/":
        path = parent_of(path)
        if path != "/":
            out.append(path)
    return out


def incident_violations(execution: Execution, roots: Sequence[str], expected: Mapping[str, str],
                        initial: Mapping[str, str], *, forbid_stale: bool = False) -> list[Violation]:
    out = default_violations(execution)
    tree = execution.tree
    errors = bool(out)
    missing = [p for p, d in sorted(expected.items()) if tree.get(p) != d and any(under(p, r) for r in roots)]
    if missing:
        lost = missing[0]
        what = "missing" if lost not in tree else "has other content"
        kind = "silent loss (no worker reported an error)" if not errors else "entries lost"
        out.append(Violation(check="final-tree", path=lost,
                             message=f"{kind}: {len(missing)} archive entr{'y' if len(missing) == 1 else 'ies'} "
                                     f"not in the final tree; first: {lost} {what}"))
    if forbid_stale:
        stale = [p for p in sorted(tree) if any(under(p, r) for r in roots) and p not in expected]
        if stale:
            out.append(Violation(check="final-tree", path=stale[0],
                                 message=f"stale entries survived: {len(stale)}; first: {stale[0]}"))
    allowed = set(expected) | set(initial)
    outside = [p for p in sorted(tree) if p not in allowed and not any(under(p, r) for r in roots)]
    if outside:
        out.append(Violation(check="confinement", path=outside[0],
                             message=f"created outside every mount root: {outside[0]}"
                                     + (f" (+{len(outside) - 1} more)" if len(outside) > 1 else "")))
    return out
