"""Fault injectors: the Protocol, the registry, spec parsing, and exhaustive fault placement.

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
  may re-judge the incident checks (an injected fault makes a clean job failure legitimate).

Every fault *decision* goes through ``Scheduler.choose_value`` with a label of the form
``"<injector>#<index>"``, so the schedule (and the token) records it and a replay reproduces it
bit for bit. Injectors that make such decisions set ``explores = True``; ``explore_placements``
then enumerates every placement of their faults (an outer loop around optimal DPOR, see below).

The core never imports ``injectors`` by name: ``REGISTRY`` maps names to ``"module:Class"``.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from raceproof.errors import InputError, ScenarioError, UnknownNameError, closest
from raceproof.execution import Body, Execution, Runner, Violation
from raceproof.fs import Vfs
from raceproof.loop import Loop
from raceproof.observe import TraceClasses, naive_count
from raceproof.result import Pin, Placements
from raceproof.scheduler import Chooser, Scheduler
from raceproof.steps import StepEvent
from raceproof.strategies.dpor import Dpor

if TYPE_CHECKING:
    from raceproof.models.guest_download import Job
    from raceproof.scenario import IncidentProgram, Scenario

#: injector name -> "module:Class" (imported lazily)
REGISTRY: dict[str, str] = {
    "errno": "raceproof.injectors.errno_at:ErrnoAtStep",
    "disk-full": "raceproof.injectors.diskfull:DiskFull",
    "truncate": "raceproof.injectors.archive:Truncate",
    "corrupt": "raceproof.injectors.archive:Corrupt",
    "slow-download": "raceproof.injectors.download:SlowDownload",
    "crash": "raceproof.injectors.crash:CrashRerun",
    "stale": "raceproof.injectors.stale:StaleFiles",
    "writer": "raceproof.injectors.writer:PreviousWriter",
    "hostile": "raceproof.injectors.hostile:HostileArchive",
    "case-insensitive": "raceproof.injectors.caseless:CaseInsensitive",
}

#: filesystem operations a generic fault may hit (not is_dir/exists, which swallow errors,
#: nor local steps such as download, take_job or the crash barrier)
FS_OPS = ("lstat", "stat", "mkdir", "rmdir", "unlink", "readdir", "opendir", "open", "write", "read",
          "close", "read_file", "write_file", "rename", "symlink", "readlink", "link", "realpath")


class ParamError(Exception):
    """A bad injector parameter (wrapped into InputError/ScenarioError by the caller)."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


@dataclass(frozen=True)
class Param:
    """One parameter of an injector: its type, default, allowed values and one-line help."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    #: every numeric parameter has a finite documented range (``raceproof injectors`` shows it)
    maximum: float | None = None
    #: longest accepted string value (characters)
    max_len: int = 4096

    def __post_init__(self) -> None:
        if self.kind in (int, float) and (self.minimum is None or self.maximum is None):
            raise TypeError(f"parameter {self.name!r}: a numeric parameter needs a finite minimum and maximum")

    def convert(self, raw: Any) -> Any:
        value = raw
        if isinstance(raw, str) and self.kind is not str:
            if len(raw) > 64:
                raise ParamError(self.name, f"must be {self.kind.__name__} (got a {len(raw)}-character value)")
            try:
                value = {"true": True, "false": False}[raw.lower()] if self.kind is bool else self.kind(raw)
            except (ValueError, KeyError):
                raise ParamError(self.name, f"must be {self.kind.__name__} (got {raw!r})") from None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > 1 << 53:
                raise ParamError(self.name, f"must be between {self.range.replace('..', ' and ')} (got {value})")
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise ParamError(self.name, f"must be {self.kind.__name__} (got {raw!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(self.name, f"must be a finite number (got {raw!r})")
        if isinstance(value, str):
            if len(value) > self.max_len:
                raise ParamError(self.name, f"must be at most {self.max_len} characters (got {len(value)})")
            if "\0" in value:
                raise ParamError(self.name, "must not contain NUL")
        if self.choices and value not in self.choices:
            hint = closest(str(value), self.choices)
            raise ParamError(self.name, f"must be one of {', '.join(self.choices)} (got {value!r})"
                             + (f"; did you mean {hint!r}?" if hint else ""))
        if self.kind in (int, float) and not self.minimum <= value <= self.maximum:  # type: ignore[operator]
            raise ParamError(self.name, f"must be between {self.range.replace('..', ' and ')} (got {value!r})")
        return value

    @property
    def range(self) -> str:
        """The documented range of a numeric parameter ('' for others)."""
        if self.kind not in (int, float):
            return ""
        if self.kind is int:
            return f"{int(self.minimum)}..{int(self.maximum)}"  # type: ignore[arg-type]
        return f"{self.minimum:g}..{self.maximum:g}"


def check_path_param(param: str, value: str, *, default_hint: str = "", allow_root: bool = True) -> str:
    """A path parameter: absolute and normalized (no '.', '..', '//', trailing '/'), within NAME_MAX/PATH_MAX.

    `default_hint` (what leaving it out means) makes an empty value an error that says so; with
    ``allow_root=False`` the root '/' is refused too."""
    if default_hint and not value:
        raise ParamError(param, f"must not be empty (leave it out for {default_hint})")
    if not allow_root and value == "/":
        raise ParamError(param, "must not be the root '/'")
    if not value.startswith("/"):
        raise ParamError(param, f"must be an absolute path (got {value!r})")
    parts = value.split("/")[1:]
    if value != "/" and any(p in ("", ".", "..") for p in parts):
        raise ParamError(param, f"must be a normalized path: no '.', '..', '//' or trailing '/' (got {value!r})")
    if len(value.encode("utf-8", "surrogatepass")) >= 4096 or any(len(p.encode("utf-8", "surrogatepass")) > 255
                                                                  for p in parts):
        raise ParamError(param, "is longer than PATH_MAX (4095 bytes) or has a component longer than NAME_MAX (255)")
    return value


def parse_ops(param: str, value: str, known: Sequence[str] = ()) -> tuple[str, ...]:
    """A comma-separated list of filesystem ops (every name must be one of FS_OPS); '' means all."""
    known = tuple(known) or FS_OPS
    ops = tuple(o.strip() for o in value.split(",") if o.strip())
    for op in ops:
        if op not in known:
            hint = closest(op, known)
            raise ParamError(param, f"unknown op {op!r}" + (f"; did you mean {hint!r}?" if hint else "")
                             + f" (ops: {', '.join(known)})")
    if value.strip() and not ops:
        raise ParamError(param, f"names no op (got {value!r})")
    return ops or known


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


# names and specs --------------------------------------------------------------------------------

def injector_class(name: str) -> type[BaseInjector]:
    target = REGISTRY.get(name)
    if target is None:
        raise UnknownNameError("injector", name, REGISTRY)
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"NAME:k=v,k2=v2"`` -> ``("NAME", {"k": "v", "k2": "v2"})``."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise InputError(f"--inject {spec!r}: missing injector name (expected NAME[:PARAM=VALUE,...])")
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--inject {spec!r}: {item!r} is not PARAM=VALUE")
        params[key.strip()] = value.strip()
    return name, params


def make(name: str, params: dict[str, Any], index: int = 0) -> BaseInjector:
    """Instantiate an injector by name (ParamError on a bad parameter)."""
    return injector_class(name)(index, **params)


def build_injectors(scenario: Scenario, specs: Sequence[str] = ()) -> list[BaseInjector]:
    """The scenario's ``[[inject]]`` tables, then the ``--inject`` specs, as injector objects."""
    out: list[BaseInjector] = []
    for i, table in enumerate(scenario.inject):
        params = {k: v for k, v in table.items() if k != "name"}
        name = table["name"]
        if name not in REGISTRY:
            hint = closest(str(name), REGISTRY)
            raise ScenarioError(scenario.file, f"inject[{i}].name",
                                f"unknown injector {name!r}; known: {', '.join(sorted(REGISTRY))}"
                                + (f"; did you mean {hint!r}?" if hint else ""))
        try:
            inj = make(name, params, len(out))
        except ParamError as exc:
            raise ScenarioError(scenario.file, f"inject[{i}].{exc.param}", f"injector {name!r}: {exc}") from None
        inj.origin = (f"{scenario.file}: inject[{i}]", f"injector {name!r}")
        out.append(inj)
    for spec in specs:
        if len(spec) > 4096:
            raise InputError(f"--inject: the spec is too long ({len(spec)} characters)")
        name, params = parse_spec(spec)
        try:
            inj = make(name, params, len(out))
        except ParamError as exc:
            raise InputError(f"--inject {spec!r}: injector {name!r}, parameter {exc.param!r}: {exc}") from None
        inj.origin = (f"--inject {spec!r}", f"injector {name!r}")
        out.append(inj)
    return out


def param_error(inj: Injector, exc: ParamError) -> InputError:
    """A ParamError raised when an injector met the program (``bind``), naming where it came from."""
    where, what = inj.origin
    if where.startswith("--inject"):
        return InputError(f"{where}: {what}, parameter {exc.param!r}: {exc}")
    return InputError(f"{where}.{exc.param}: {what}: {exc}")


def specs_digest(digest: str, specs: Sequence[str]) -> str:
    """A program digest that also covers command-line injectors (so tokens name them)."""
    if not specs:
        return digest
    return hashlib.sha256((digest + "|" + "|".join(specs)).encode()).hexdigest()[:12]


def describe() -> list[dict[str, Any]]:
    """Every injector with its parameters and description (for ``raceproof injectors``)."""
    rows = []
    for name in REGISTRY:
        cls = injector_class(name)
        rows.append({"name": name, "description": cls.description,
                     "params": [{"name": p.name, "type": p.kind.__name__, "default": p.default, "help": p.help,
                                 "choices": list(p.choices), "range": p.range} for p in cls.params],
                     "explores": bool(cls.explores)})
    return rows


# exhaustive fault placement -----------------------------------------------------------------------


class PinnedChooser:
    """Delegates thread picks to `inner`; answers fault decisions from a fixed placement.

    Decisions are numbered per (label, thread): a thread's n-th decision depends only on the
    thread's own steps, so the same placement means the same fault in every interleaving."""

    def __init__(self, inner: Chooser, pins: dict[tuple[str, int, int], int],
                 points: set[tuple[str, int, int, int]]) -> None:
        self.inner = inner
        self.sees_forced = inner.sees_forced
        self.pins = pins
        self.points = points
        self.counts: dict[tuple[str, int], int] = {}

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        return self.inner.choose(enabled, trace)

    def choose_value(self, thread: int, label: str, n: int) -> int:
        k = self.counts.get((label, thread), 0)
        self.counts[(label, thread)] = k + 1
        self.points.add((label, thread, k, n))
        value = self.pins.get((label, thread, k), 0)
        return value if value < n else 0


class PinnedStrategy:
    name = "dpor+placements"
    sound = True
    bounded = False

    def __init__(self, pins: dict[tuple[str, int, int], int]) -> None:
        self.inner = Dpor()
        self.pins = pins
        self.points: set[tuple[str, int, int, int]] = set()

    def next_execution(self) -> Chooser | None:
        chooser = self.inner.next_execution()
        return None if chooser is None else PinnedChooser(chooser, self.pins, self.points)

    def observe(self, execution: Execution) -> None:
        self.inner.observe(execution)

    def pending(self) -> int:
        return self.inner.pending()


#: what ``explore_placements`` returns (``raceproof.result.Placements``)
PlacementResult = Placements


def explore_placements(runner: Runner, injectors: Sequence[Injector], *, max_executions: int | None = None,
                       stop_on_failure: bool = True,
                       progress: Callable[[int, int, int], None] | None = None,
                       observe: Callable[[Execution], bool | None] | None = None) -> PlacementResult:
    """Every placement of every exploring injector's faults, each with a full optimal DPOR.

    Level 0 runs DPOR with no fault and records every decision point (label, thread, n-th
    decision, arity) any execution reached. Each point and non-zero value extends a placement by
    one fault (up to the injector's ``max_faults``); the placements of level k+1 are built from
    the points reached under the placements of level k, so a second fault placed after the first
    one changed the run is found too. One DPOR per placement explores every interleaving with the
    faults pinned there. Placements are sets, so each is explored once. `observe` sees every
    execution (after the failure bookkeeping) and may stop the whole enumeration by returning True."""
    t0 = time.perf_counter()
    limits = {inj.label: inj.max_faults for inj in injectors if inj.explores}
    tally = {"placements": 0, "executions": 0, "blocked": 0, "steps": 0, "naive": 0, "failing_placements": 0,
             "clean_failure_executions": 0, "classes": 0}
    stop = "exhausted"
    first: Execution | None = None
    first_pins: tuple[Pin, ...] = ()
    per_placement: list[tuple[tuple[Pin, ...], int, int]] = []

    def done() -> Placements:
        return Placements(**tally, complete=stop == "exhausted", stop_reason=stop, first=first,
                          first_pins=first_pins, per_placement=tuple(per_placement),
                          wall_time=time.perf_counter() - t0)

    level: list[frozenset[Pin]] = [frozenset()]
    seen: set[frozenset[Pin]] = {frozenset()}
    while level:
        nxt: list[frozenset[Pin]] = []
        for placement in level:
            pins = {(lb, t, k): v for lb, t, k, v in placement}
            strat = PinnedStrategy(pins)
            tally["placements"] += 1
            classes = TraceClasses()
            counts = [0, 0]  # executions, failing ones

            def visit(ex: Execution, placement: frozenset[Pin] = placement, counts: list[int] = counts,
                      classes: TraceClasses = classes) -> bool:
                nonlocal first, first_pins, stop
                counts[0] += 1
                tally["steps"] += len(ex.trace)
                tally["naive"] = max(tally["naive"], naive_count(ex))
                classes.visit(ex)
                if ex.extra.get("clean_failures"):
                    tally["clean_failure_executions"] += 1
                if ex.violations:
                    counts[1] += 1
                    if first is None:
                        first, first_pins = ex, tuple(sorted(placement))
                    if stop_on_failure:
                        stop = "counterexample"
                        return True
                if progress is not None:
                    progress(tally["executions"] + counts[0], counts[1], -1)
                if observe is not None and observe(ex):  # the caller has seen enough
                    stop = "observer"
                    return True
                return False

            left = None if max_executions is None else max_executions - tally["executions"]
            loop = Loop(runner, strat, budget=left)

            async def driver(r: Runner, loop: Loop = loop, visit: Callable[[Execution], bool] = visit) -> None:
                await loop.run(visit)

            runner.run(driver)
            if loop.budget_hit:
                stop = "budget"
            tally["executions"] += counts[0]
            tally["blocked"] += loop.blocked
            tally["classes"] += classes.count
            tally["failing_placements"] += 1 if counts[1] else 0
            per_placement.append((tuple(sorted(placement)), counts[0], counts[1]))
            if stop != "exhausted":
                return done()
            pinned = {(lb, t, k) for lb, t, k, _ in placement}
            used: dict[str, int] = {}
            for lb, *_ in placement:
                used[lb] = used.get(lb, 0) + 1
            for lb, t, k, n in sorted(strat.points):
                if (lb, t, k) in pinned or used.get(lb, 0) >= limits.get(lb, 0):
                    continue
                for v in range(1, n):
                    new = placement | {(lb, t, k, v)}
                    if new not in seen:
                        seen.add(new)
                        nxt.append(new)
        level = nxt
    return done()
