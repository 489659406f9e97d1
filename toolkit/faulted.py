"""Re-judging an execution in which an injected fault fired: a clean, reported job failure is the
right reaction; a job that reported success must still have put its archive in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raceproof.execution import Execution, Violation

if TYPE_CHECKING:
    from raceproof.incident import IncidentProgram


def judge_faulted(execution: Execution, program: IncidentProgram, violations: list[Violation],
                  name: str) -> list[Violation]:
    """Re-judge an execution in which a fault fired: a worker that *reported* an error failed
    cleanly (that is the correct reaction), but a worker that reported success must have put all
    of its archive's entries in place (else: silent loss under a fault). Confinement stays."""
    kept = [v for v in violations if v.check not in ("no-worker-error", "final-tree")]
    failed = sum(1 for r in execution.results if r.error is not None)
    execution.extra["clean_failures"] = failed
    succeeded = set(program.pipeline.results)
    roots = sorted((j.root for j in program.jobs), key=len, reverse=True)
    for path, desc in sorted(program.expected.items()):
        if any(r == path or r.startswith(path + "/") for r in roots):
            continue  # a mount root or a spine directory: created by create_dir_all, not by an archive
        owner = next((r for r in roots if path == r or path.startswith(r + "/")), None)
        job = next((j for j in program.jobs if j.root == owner), None)
        if job is None or job.index not in succeeded:
            continue
        if execution.tree.get(path) != desc:
            kept.append(Violation(check="final-tree", path=path,
                                  message=f"silent loss under an injected fault ({name}): the job for {owner} "
                                          f"reported success but {path} is "
                                          f"{'missing' if path not in execution.tree else 'different'}"))
            break
    return kept
