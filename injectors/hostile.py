"""Hostile archive members, appended to one mount's archive (served with a matching digest).

Cases (the catalogue's #17-#22 and #31), with what the tar-rs model does:

- ``dotdot``: ``../escape.txt``, ``a/../../escape2.txt``: skipped silently, success;
- ``absolute``: ``/abs/pwned.txt``, ``//etc/pwned2``: re-rooted under the mount root;
- ``symlink-escape``: ``link -> ../../../outside`` then ``link/pwned.txt``: refused ("outside of
  destination"), the job fails; the link itself stays on disk;
- ``stale-symlink`` (across runs): the previous run left ``child -> /var/outside`` in the root;
  the archive writes ``child/pwned.txt``: refused;
- ``duplicate``: ``dup.txt`` twice (the last wins), and a symlink ``lnk -> /var/outside/target.txt``
  then a regular file ``lnk`` (the link is replaced, the target untouched);
- ``hardlink``: hard links to ``/var/outside/target.txt`` and ``../../x``: refused;
- ``huge``: one ``size``-byte entry; the pipeline has no size cap, so an entry above ``cap``
  bytes is reported (``no-size-cap``), as Cargo's CVE-2022-36114 fix would refuse it.

Refusing a hostile archive (a failed job) is a correct outcome; the checks are that nothing is
ever created outside the mount roots, that ``/var/outside/target.txt`` is untouched, and the
case-specific ones above. ``strict=true`` also reports members skipped while the job succeeded.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from raceproof.execution import Execution, Violation
from raceproof.fs.base import join
from raceproof.inject import BaseInjector, Param
from raceproof.models import tar
from raceproof.models.tar import Member

if TYPE_CHECKING:
    from raceproof.execution import Body
    from raceproof.fs import Vfs
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


OUTSIDE = "/var/outside"
PRECIOUS = b"precious data outside every mount\n"
CASES = ("dotdot", "absolute", "symlink-escape", "stale-symlink", "duplicate", "hardlink", "huge")


def hostile_members(case: str, size: int) -> list[Member]:
    return {
        "dotdot": [Member("../escape.txt", data=b"x"), Member("a/../../escape2.txt", data=b"x")],
        "absolute": [Member("/abs/pwned.txt", data=b"abs"), Member("//etc/pwned2", data=b"abs2")],
        "symlink-escape": [Member("link", "symlink", target="../../../outside"), Member("link/pwned.txt", data=b"p")],
        "stale-symlink": [Member("child/pwned.txt", data=b"p")],
        "duplicate": [Member("dup.txt", data=b"first"), Member("dup.txt", data=b"second"),
                      Member("lnk", "symlink", target=OUTSIDE + "/target.txt"), Member("lnk", data=b"replaced")],
        "hardlink": [Member("hl", "hardlink", target=OUTSIDE + "/target.txt"),
                     Member("hl2", "hardlink", target="../../x")],
        "huge": [Member("huge.bin", data=b"\0" * size)],
    }[case]


class HostileArchive(BaseInjector):
    name = "hostile"
    description = "hostile archive members: '..', absolute names, symlink escapes, duplicates, hard links, huge"
    params = (
        Param("case", str, "dotdot", "which hostile members", CASES),
        Param("mount", str, "0", "whose archive (index, path or label)"),
        Param("size", int, 1 << 20, "for case=huge: the entry's size in bytes", minimum=0, maximum=1 << 24),
        Param("cap", int, 1 << 16, "for case=huge: report entries larger than this (0: never)", minimum=0,
              maximum=1 << 40),
        Param("strict", bool, False, "also report hostile members skipped while the job succeeded"),
    )
    case: str
    mount: str
    size: int
    cap: int
    strict: bool
    fails_jobs = True  # refusing the archive is a correct outcome

    def bind(self, program: IncidentProgram) -> None:
        self.job = self.job_for(program, self.mount)
        members = list(tar.parse(self.job.archive))
        extra = hostile_members(self.case, self.size)
        self.archive = tar.build([m for m, _ in members] + extra)
        self.digest = hashlib.sha256(self.archive).hexdigest()

    def setup(self, vfs: Vfs) -> None:
        vfs.put(OUTSIDE + "/target.txt", PRECIOUS)
        if self.case == "stale-symlink":
            vfs.makedirs(self.job.root)
            vfs.symlink(OUTSIDE, join(self.job.root, "child"))

    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]:
        self.job.delivered = self.archive  # what the server really serves: its digest matches
        self.job.digest = self.digest
        self.fired = 1
        return bodies

    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]:
        out = []
        tree = execution.tree
        if tree.get(OUTSIDE + "/target.txt") != "file:" + PRECIOUS.hex():
            out.append(Violation(check="confinement", path=OUTSIDE + "/target.txt",
                                 message="a file outside every mount was changed through a hostile member"))
        ok = self.job.index in program.pipeline.results
        root = self.job.root
        if self.case == "duplicate" and ok and tree.get(join(root, "dup.txt")) != "file:" + b"second".hex():
            out.append(Violation(check="hostile", path=join(root, "dup.txt"),
                                 message="duplicate names: the last one must win"))
        if self.case == "absolute" and ok and join(root, "abs/pwned.txt") not in tree:
            out.append(Violation(check="hostile", path="/abs/pwned.txt",
                                 message="absolute member not re-rooted under dst"))
        if self.case == "huge" and self.cap and self.size > self.cap and join(root, "huge.bin") in tree:
            out.append(Violation(check="no-size-cap", path=join(root, "huge.bin"),
                                 message=f"a {self.size}-byte entry was extracted: no size cap (limit {self.cap})"))
        if self.strict and ok and self.case == "dotdot":
            out.append(Violation(check="hostile", path=root, message="'..' members were skipped silently "
                                 "and the job reported success (tar-rs behaviour)"))
        return out
