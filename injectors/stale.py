"""Stale files from a previous run (VM keep-alive reuse), planted by ``setup(vfs)``.

- ``kind=files``: the previous run's content under a mount root: a removed skill's file, a renamed
  file, a partial file (the fixed algorithm never cleans: with ``stale = "forbid"`` that fails P2);
- ``kind=file-for-dir``: a regular file where a directory is expected (``at``, default the parent
  of the last mount root): ``create_dir_all`` fails with ENOTDIR/EEXIST, a clean job failure;
- ``kind=symlink-for-dir``: a symlink there, pointing outside every mount (``target``):
  ``create_dir_all`` accepts it (``is_dir`` follows links) and tar canonicalizes through it, so the
  archive lands *outside* the mounts: the confinement check reports it (P3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raceproof.fs.base import join, parent_of
from raceproof.inject import BaseInjector, Param, ParamError, check_path_param

if TYPE_CHECKING:
    from raceproof.fs import Vfs
    from raceproof.incident import IncidentProgram


class StaleFiles(BaseInjector):
    name = "stale"
    description = "the previous run left files, or a file/symlink where a directory is expected"
    params = (
        Param("kind", str, "files", "what was left", ("files", "file-for-dir", "symlink-for-dir")),
        Param("mount", str, "0", "for kind=files: which mount root (index or path)"),
        Param("at", str, "", "for file-for-dir/symlink-for-dir: the path (default: parent of the last mount)"),
        Param("target", str, "/var/outside", "for symlink-for-dir: where the link points"),
    )

    kind: str
    mount: str
    at: str
    target: str

    def __init__(self, index: int = 0, **values: Any) -> None:
        super().__init__(index, **values)
        self.roots: list[str] = []

    def validate(self) -> None:
        if "at" in self._given:
            check_path_param("at", self.at, default_hint="the parent of the last mount", allow_root=False)
            if self.kind == "files":
                raise ParamError("at", "applies to kind=file-for-dir or symlink-for-dir, not kind=files")
        if "target" in self._given:
            if not self.target:
                raise ParamError("target", "must not be empty")
            check_path_param("target", self.target)
            if self.kind != "symlink-for-dir":
                raise ParamError("target", f"applies to kind=symlink-for-dir only (kind is {self.kind!r})")
        if "mount" in self._given and self.kind != "files":
            raise ParamError("mount", f"applies to kind=files only (kind is {self.kind!r})")

    def bind(self, program: IncidentProgram) -> None:
        self.roots = [j.root for j in program.jobs]
        if self.kind == "files":
            self.root = self.job_for(program, self.mount).root

    def setup(self, vfs: Vfs) -> None:
        roots = self.roots
        if self.kind == "files":
            root = self.root
            vfs.put(join(root, "removed-skill/OLD.md"), b"from the previous run\n")
            vfs.put(join(root, "renamed-before.md"), b"old name\n")
            vfs.put(join(root, "partial.bin"), b"\0" * 100)
            return
        at = self.at or parent_of(roots[-1])
        vfs.makedirs(parent_of(at))
        if self.kind == "file-for-dir":
            vfs.put(at, b"a stale file where a directory belongs\n")
        else:
            vfs.makedirs(self.target)
            vfs.symlink(self.target, at)
