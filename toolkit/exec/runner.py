"""Executions of a real program for the strategies: the driver behind raceproof's ``Runner`` face.

``ExecRunner`` satisfies ``raceproof.execution.RunnerProtocol`` (what ``raceproof.loop.Loop``,
``raceproof.exploration.run_exploration`` and the counterexample pipeline use), so every
strategy, the counterexample's confirmation by replay and its classification run unchanged on real
programs: each execution is a fresh process.

Two kinds of programs (``ExecProgram``):

- ``argv_program``: any command; the sandbox is one or more empty directories (or a scenario's
  initial tree) and an execution fails when the program exits non-zero, is killed, hangs, or a
  system call was refused;
- ``scenario_program``: a guest-download binary on a scenario's mounts (the protocol of
  ``bench/rust/guest_download_once.rs``: ``PROGRAM {variant} {manifest}``, one worker thread per
  mount, one ``ok MOUNT`` / ``error OP ERRNO MOUNT`` line per job). The scenario's own checks judge
  it (worker errors, final tree, confinement), with the model's thread names: thread 0 is the
  binary's main thread, thread i+1 runs job i, as the model's thread i does.
"""

from __future__ import annotations

import errno as E
import hashlib
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from raceproof import token as tokens
from raceproof.checks import CheckContext
from raceproof.checks import judge as check_all
from raceproof.errors import InputError
from raceproof.exec.driver import DEFAULT_TIMEOUT, Driver, RunRecord
from raceproof.exec.sandbox import Sandbox, Tree, check_mount_point, mount_point_for
from raceproof.execution import Execution, Violation, run_without_trio
from raceproof.scenario import Scenario
from raceproof.scheduler import Chooser, ThreadResult

EXEC_VERSION = "exec/1"
T = TypeVar("T")


@dataclass
class ExecProgram:
    """A real program and how to judge its executions."""

    argv: list[str]
    mount_point: str
    tree: Tree
    digest: str
    judge: Callable[[RunRecord], tuple[list[str], list[ThreadResult], list[Violation]]]
    env: dict[str, str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    workdir: str | None = None  # files the program reads (archives, manifest), removed by close()
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors_are_final(self) -> bool:
        """The judge is the scenario's or the caller's: no thread error is known to be final."""
        return False

    def close(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class ExecRunner:
    """Runs executions of an ``ExecProgram``, one traced process each."""

    backend_name = "exec"
    #: no model filesystem: the counterexample pipeline records no per-step trees for a real program
    vfs = None

    def __init__(self, program: ExecProgram) -> None:
        self.program = program
        self.driver = Driver(program.argv, Sandbox(program.mount_point, program.tree), env=program.env,
                             timeout=program.timeout)
        self.records: list[RunRecord] = []

    def close(self) -> None:
        self.program.close()

    def __enter__(self) -> ExecRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def run_one(self, chooser: Chooser, *, check: bool = True) -> Execution:
        return self.execute(chooser, check=check)

    def execute(self, chooser: Chooser, *, check: bool = True) -> Execution:
        rec = self.driver.run(chooser)
        self.last = rec
        names, results, violations = self.program.judge(rec)
        ex = Execution(choices=list(rec.choices), trace=rec.trace, results=results, names=names,
                       tree=rec.tree, aborted=rec.aborted)
        ex.extra["exec"] = rec
        if check and not rec.aborted:
            ex.violations = violations
        return ex

    def run(self, driver: Callable[[Self], Coroutine[Any, Any, T]]) -> T:
        """Run an async `driver(self)` that awaits only ``run_one`` (which never suspends)."""
        return run_without_trio(driver(self), "an exec exploration awaited something other than run_one")

    def run_single(self, chooser: Chooser) -> Execution:
        return self.execute(chooser)


# programs ------------------------------------------------------------------------------------

def _base_violations(rec: RunRecord) -> list[Violation]:
    out = []
    for r in rec.refusals:
        out.append(Violation(check="sandbox", thread=f"t{r.thread}", op=r.call, path=r.path,
                             errno="EPERM", message=f"refused: {r.call}({r.path}): {r.reason}"))
    if rec.hang:
        out.append(Violation(check="no-hang", message=rec.hang))
    return out


def argv_program(argv: Sequence[str], sandboxes: Sequence[str] = (), tree: Tree | None = None, *,
                 env: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 expect_exit: int = 0) -> ExecProgram:
    """Any program; its sandbox holds `tree` plus the (empty) directories `sandboxes`."""
    if not argv:
        raise InputError("exec: PROGRAM is missing (raceproof exec [OPTIONS] -- PROGRAM ARGS...)")
    exe = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    if exe is None or not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise InputError(f"exec: PROGRAM {argv[0]!r}: not an executable file")
    tree = tree or Tree()
    dirs = [_check_abs(d) for d in sandboxes]
    tree = Tree([*tree.dirs, *dirs], tree.files, tree.links)
    paths = tree.paths()
    if not paths:
        raise InputError("exec: no sandbox: give --sandbox DIR (the directory the program may change) or --scenario")
    mp = mount_point_for(paths)
    check_mount_point(mp)
    digest = _digest({"v": EXEC_VERSION, "argv": list(argv), "dirs": sorted(tree.dirs),
                      "files": sorted((k, v.hex()) for k, v in tree.files.items()),
                      "links": sorted(tree.links.items())})

    def judge(rec: RunRecord) -> tuple[list[str], list[ThreadResult], list[Violation]]:
        names = ["main", *[f"t{i}" for i in range(1, rec.threads)]]
        out = _base_violations(rec)
        if rec.signal is not None and not rec.hang:
            out.append(Violation(check="exit-status", message=f"the program was killed by signal {rec.signal}"))
        elif rec.exit_code is not None and rec.exit_code != expect_exit:
            last = (rec.stderr.strip().splitlines() or rec.stdout.strip().splitlines() or [""])[-1]
            out.append(Violation(check="exit-status", message=f"the program exited with status {rec.exit_code}"
                                 + (f": {last[:300]}" if last else "")))
        return names, [ThreadResult() for _ in names], out

    return ExecProgram(list(argv), mp, tree, digest, judge, env=env, timeout=timeout, label=shlex.join(argv))


def _check_abs(path: str) -> str:
    if not path.startswith("/") or path.rstrip("/") == "" or ".." in path.split("/"):
        raise InputError(f"exec: --sandbox {path!r}: must be an absolute path below a top-level directory")
    return path.rstrip("/")


def scenario_tree(sc: Scenario) -> Tree:
    return Tree(list(sc.initial_dirs), dict(sc.initial_files), dict(sc.initial_links))


def scenario_program(sc: Scenario, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> ExecProgram:
    """A guest-download binary on the scenario's mounts (``{variant}``/``{manifest}`` in `argv` are
    replaced by the scenario's algorithm and a manifest of its archives)."""
    if sc.algorithm not in ("fixed", "pre-cleanup"):
        raise InputError(f"{sc.file}: algorithm: a binary runs 'fixed' or 'pre-cleanup', not {sc.algorithm!r}")
    if sc.inject:
        raise InputError(f"{sc.file}: inject: fault injectors apply to the model only (not to a binary)")
    if sc.workers < len(sc.mounts):
        raise InputError(f"{sc.file}: workers: the binary runs one thread per mount (workers >= mounts)")
    tree = scenario_tree(sc)
    mp = mount_point_for([*tree.paths(), *[m.path for m in sc.mounts]])
    check_mount_point(mp)
    work = tempfile.mkdtemp(prefix="raceproof-exec-in-")
    lines = []
    for i, m in enumerate(sc.mounts):
        arch = os.path.join(work, f"{i}.tar")
        with open(arch, "wb") as f:
            f.write(m.archive)
        lines.append(f"M\t{m.path}\t{arch}")
    manifest = os.path.join(work, "manifest")
    with open(manifest, "w") as text:
        text.write("\n".join(lines) + "\n")
    real_argv = [a.replace("{variant}", sc.algorithm).replace("{manifest}", manifest) for a in argv]
    program = sc.program()
    labels = list(program.names)
    mounts = [m.path for m in sc.mounts]
    digest = _digest({"v": EXEC_VERSION, "scenario": sc.digest, "argv": [os.path.basename(argv[0]), *argv[1:]]})

    # the scenario's checks, exactly as for the model (``stale = "forbid"`` included)
    context = CheckContext(tuple(program.roots), program.expected, _initial(tree, mp), sc.stale == "forbid",
                           program=program)

    def judge(rec: RunRecord) -> tuple[list[str], list[ThreadResult], list[Violation]]:
        names = ["main", *labels, *[f"t{i}" for i in range(len(labels) + 1, rec.threads)]]
        results = [ThreadResult() for _ in names]
        for line in rec.stdout.splitlines():
            parts = line.split(" ")
            if len(parts) >= 4 and parts[0] == "error" and parts[-1] in mounts:
                job = mounts.index(parts[-1])
                code = getattr(E, parts[2], 0)
                err = OSError(code, f"{parts[1]}: {os.strerror(code) if code else parts[2]}", parts[-1])
                results[job + 1].error = err
                results[job + 1].failed_step = _failed_step(rec, job + 1, parts[2])
        ex = Execution(choices=rec.choices, trace=rec.trace, results=results, names=names, tree=rec.tree)
        out = check_all(program.checks, ex, context)
        out += _base_violations(rec)
        if rec.signal is not None and not rec.hang:
            out.append(Violation(check="exit-status", message=f"the binary was killed by signal {rec.signal}"))
        return names, results, out

    return ExecProgram(real_argv, mp, tree, digest, judge, timeout=timeout, workdir=work,
                       label=shlex.join(argv), extra={"scenario": sc})


def _initial(tree: Tree, mp: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in tree.dirs:
        parts = d.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            out["/" + "/".join(parts[:i])] = "dir"
    out.update({p: "file:" + v.hex() for p, v in tree.files.items()})
    out.update({p: "link:" + v for p, v in tree.links.items()})
    return out


def _failed_step(rec: RunRecord, thread: int, errname: str) -> int | None:
    for ev in reversed(rec.trace):
        if ev.thread == thread and ev.result == f"-1 {errname}":
            return ev.index
    return None


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def token_for(program: ExecProgram, execution: Execution) -> str:
    return tokens.encode(program.digest, execution.choices)
