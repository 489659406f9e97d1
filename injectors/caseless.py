"""Case-insensitive filesystem (macOS/Windows defaults; the catalogue's #23).

On the ``fake`` backend the pyfakefs filesystem is made case-insensitive (``is_case_sensitive =
False``), so ``Skills/x`` and ``skills/x`` are the same entry. The check reports what a correct
pipeline must reject up front: mount roots or archive members of one mount that collide once
case is ignored (node-tar CVE-2021-37712 class). Limits: the memory and real backends stay
case-sensitive (the injector refuses them rather than pretend), and footprints use the literal
names, so the reduction does not know that two spellings are one entry: use it with ``replay`` or
with a single writer per spelling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raceproof.errors import InputError
from raceproof.execution import Execution, Violation
from raceproof.fs.base import join
from raceproof.inject import BaseInjector
from raceproof.models import tar

if TYPE_CHECKING:
    from raceproof.fs import Vfs
    from raceproof.incident import IncidentProgram


class CaseInsensitive(BaseInjector):
    name = "case-insensitive"
    description = "the filesystem ignores case (fake backend): colliding mounts/members are reported"
    params = ()

    def bind(self, program: IncidentProgram) -> None:
        self.paths: list[str] = []
        for job in program.jobs:
            self.paths.append(job.root)
            for member, _ in tar.parse(job.archive):
                parts = tar.sanitize(member.name)
                if parts is not None:
                    self.paths.append(join(job.root, "/".join(parts)))

    def setup(self, vfs: Vfs) -> None:
        if not vfs.backend.case_insensitive():
            raise InputError(f"injector case-insensitive: needs backend 'fake' (pyfakefs); "
                             f"the {vfs.backend.name} backend is case-sensitive")

    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]:
        seen: dict[str, str] = {}
        for p in self.paths:
            other = seen.setdefault(p.casefold(), p)
            if other != p:
                return [Violation(check="case-collision", path=p,
                                  message=f"{p} and {other} are the same entry on a case-insensitive filesystem; "
                                          "colliding paths must be rejected before extraction")]
        return []
