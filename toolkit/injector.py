"""The injector plug-in: the ``Injector`` Protocol (every hook the incident program calls) and
``BaseInjector``, its defaults.

An injector is a small object (one module per family in ``injectors/``) that the incident
program calls at fixed points:

- ``bind(program)``: once, when the program is built (learn the mounts and jobs);
- ``setup(vfs)``: after the scenario's initial tree is built (stale files, planted links);
- ``attach(sched, program)``: once per execution, before the threads start (register
  ``sched.hooks``; a hook ``hook(sched, tid, op, path)`` runs inside each step before the
  operation, and an ``OSError`` it raises is that step's result);
- ``bodies(sched, program, bodies)``: once per execution, after the jobs were reset: may set
  ``Job.delivered`` (what a download returns), wrap thread bodies, or append the bodies of the
  extra threads named by ``extra_threads(program)``;
- ``check(execution, program)``: extra violations; ``judge(execution, program, violations)``:
  may re-judge the scenario's checks (an injected fault makes a clean job failure legitimate:
  ``raceproof.faulted``).

Every fault *decision* goes through ``Scheduler.choose_value`` with a label of the form
``"<injector>#<index>"`` (``BaseInjector.decide``), so the schedule (and the token) records it and
a replay reproduces it bit for bit. Injectors that make such decisions set ``explores = True``;
``raceproof.placements`` then enumerates every placement of their faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from raceproof.errors import closest
from raceproof.execution import Body, Execution, Violation
from raceproof.faulted import judge_faulted
from raceproof.fs import Vfs
from raceproof.inject_params import Param, ParamError
from raceproof.scheduler import Scheduler

if TYPE_CHECKING:
    from raceproof.incident import IncidentProgram
    from raceproof.models.guest_download import Job


class Injector(Protocol):
    """Every hook the incident program calls on an injector, in the order of a run (``BaseInjector``
    gives each a no-op default); the program calls these and nothing else."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    #: True when it records fault decisions with ``choose_value`` (placements to enumerate)
    explores: bool
    #: True when its steps wait in Trio's virtual time (verify then uses the Trio driver)
    needs_trio: bool
    #: where it was declared, for messages: (``file: inject[i]`` or ``--inject SPEC``, ``injector NAME``)
    origin: tuple[str, str]
    #: the label of its recorded decisions (``"<name>#<index>"``) and how many may be faults per execution
    label: str
    max_faults: int

    def bind(self, program: IncidentProgram) -> None: ...
    def extra_threads(self, program: IncidentProgram) -> list[str]: ...
    def check_program(self, program: IncidentProgram) -> None: ...
    def setup(self, vfs: Vfs) -> None: ...
    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]: ...
    def attach(self, sched: Scheduler, program: IncidentProgram) -> None: ...
    def judge(self, execution: Execution, program: IncidentProgram,
              violations: list[Violation]) -> list[Violation]: ...
    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]: ...


class BaseInjector:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    explores = False
    needs_trio = False
    #: faults of this injector make a job fail on purpose: a clean, reported failure is fine
    fails_jobs = False
    #: at most this many decisions with value != 0 per execution (for placement enumeration)
    max_faults = 1

    def __init__(self, index: int = 0, **values: Any) -> None:
        self.index = index
        self.label = f"{self.name}#{index}"
        self.origin = (f"injector {self.name!r}", "")
        known = {p.name: p for p in self.params}
        for key in values:
            if key not in known:
                hint = closest(key, known)
                raise ParamError(key, "unknown parameter" + (f"; did you mean {hint!r}?" if hint else "")
                                 + f" (known: {', '.join(known) or 'none'})")
        self._given = frozenset(values)
        for p in self.params:
            setattr(self, p.name.replace("-", "_"), p.convert(values[p.name]) if p.name in values else p.default)
        self.values = {k: getattr(self, k.replace("-", "_")) for k in known}
        self.fired = 0
        self.validate()

    def validate(self) -> None:
        """Cross-parameter checks (raise ParamError)."""

    def bind(self, program: IncidentProgram) -> None:
        """Learn the program (mounts, jobs) once, before any set-up."""

    def setup(self, vfs: Vfs) -> None:
        """Nothing to plant by default."""

    def attach(self, sched: Scheduler, program: IncidentProgram) -> None:
        self.fired = 0

    def bodies(self, sched: Scheduler, program: IncidentProgram, bodies: list[Body]) -> list[Body]:
        return bodies

    def extra_threads(self, program: IncidentProgram) -> list[str]:
        return []

    def check_program(self, program: IncidentProgram) -> None:
        """Check parameters that name parts of the program (threads); raise ParamError."""

    def check(self, execution: Execution, program: IncidentProgram) -> list[Violation]:
        return []

    def judge(self, execution: Execution, program: IncidentProgram, violations: list[Violation]) -> list[Violation]:
        if self.fails_jobs and self.fired:
            return judge_faulted(execution, program, violations, self.name)
        return violations

    def decide(self, sched: Scheduler, tid: int, n: int = 2) -> int:
        """A recorded fault decision (0 = no fault), within the per-execution budget."""
        if self.fired >= self.max_faults:
            return 0
        value = int(sched.choose_value(tid, self.label, n))
        if value:
            self.fired += 1
        return value

    def job_for(self, program: IncidentProgram, mount: str) -> Job:
        """The job of parameter `mount` (an index or a mount path)."""
        for job in program.jobs:
            if mount in (str(job.index), job.root, job.label):
                return job
        raise ParamError("mount", f"{mount!r} is not a mount of this scenario "
                                  f"(mounts: {', '.join(j.root for j in program.jobs)})")
