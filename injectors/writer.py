"""A still-running writer from the previous session (keep-alive reuse without quiescing).

An extra virtual thread, ``prev-writer``, appends ``writes`` files to a directory under a mount
root (default ``<first root>/.session``) while the pipeline runs, creating the directory as it
goes, as an agent process left alive would. Its own errors are its business (it stops and the
error is noted in the trace), not a job failure. Against the ``pre-cleanup`` algorithm it makes
``remove_dir_all`` fail with ENOTEMPTY (the catalogue's #16); the fixed algorithm never deletes,
so the writer's files simply survive (a stale-content question, see ``stale = "forbid"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raceproof.fs.base import join
from raceproof.inject import BaseInjector, Param, check_path_param
from raceproof.models.rust_fs import create_dir_all
from raceproof.sfs import SchedFS

if TYPE_CHECKING:
    from raceproof.execution import Body
    from raceproof.incident import IncidentProgram
    from raceproof.scheduler import Scheduler


class PreviousWriter(BaseInjector):
    name = "writer"
    description = "a writer from the previous session is still running: an extra thread writing under a root"
    params = (
        Param("dir", str, "", "directory it writes into (default: <first mount root>/.session)"),
        Param("writes", int, 2, "how many files it writes", minimum=1, maximum=1000),
    )

    dir: str
    writes: int

    def validate(self) -> None:
        if "dir" in self._given:
            check_path_param("dir", self.dir, default_hint="<first mount root>/.session", allow_root=False)

    def bind(self, program: IncidentProgram) -> None:
        self.where = self.dir or join(program.jobs[0].root, ".session")

    def extra_threads(self, program: IncidentProgram) -> list[str]:
        return ["prev-writer"]

    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]:
        tid = len(bodies)
        fs = SchedFS(sched, tid)

        async def writer() -> int:
            done = 0
            try:
                await create_dir_all(fs, self.where)
                for i in range(self.writes):
                    await fs.write_file(join(self.where, f"history-{i}.jsonl"), b'{"turn": %d}\n' % i)
                    done += 1
            except OSError:
                pass  # the failing step is in the trace; the result says how many files it wrote
            return done

        return [*bodies, writer]
