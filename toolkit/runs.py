"""Replaying and verifying scenarios: the operations behind the CLI, the plugin and reports."""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from raceproof import render
from raceproof import token as tokens
from raceproof.errors import InputError, TokenError
from raceproof.execution import Runner
from raceproof.exploration import run_exploration
from raceproof.incident import IncidentProgram
from raceproof.pipeline import counterexample
from raceproof.result import Result
from raceproof.scenario import Scenario
from raceproof.strategies import Strategy, make_strategy, with_defaults
from raceproof.strategies.random import RandomWalk
from raceproof.strategies.replay import ReplayChooser
from raceproof.symmetry import SymmetryBroken, describe, job_groups, unpooled
from raceproof.tails import TailBroken, deferrable

if TYPE_CHECKING:
    from raceproof.checkpoint import Call, SearchCheckpoint


def replay_command(scenario: Scenario, token: str, backend: str = "memory", inject: Sequence[str] = (),
                   mount_set: str | None = None) -> str:
    parts = ["raceproof", "replay", scenario.file]
    if mount_set:
        parts += ["--mount-set", mount_set]
    parts += ["--token", token]
    if backend != "memory":
        parts += ["--backend", backend]
    for spec in inject:
        parts += ["--inject", spec]
    return shlex.join(parts)


#: what ``replay`` and ``verify`` return: the one result type (``raceproof.result.Result``)
ReplayResult = Result
VerifyResult = Result


def program_for(scenario: Scenario, inject: Sequence[str] = ()) -> IncidentProgram:
    injectors = []
    specs = list(inject)
    if scenario.inject or specs:
        from raceproof.inject_registry import build_injectors

        injectors = build_injectors(scenario, specs)
    program = scenario.program(injectors)
    if specs:  # command-line injectors change the program: tokens must say so
        from raceproof.inject_registry import specs_digest

        program.digest = specs_digest(program.digest, specs)
    return program


def replay(scenario: Scenario, token: str | None = None, backend: str | None = None,
           inject: Sequence[str] = (), mount_set: str | None = None,
           token_source: str | None = None, explain: bool = False) -> Result:
    """Run one execution: the given token, else the scenario's pinned token, else a seeded walk.

    With `explain`, a failing run also gets a ``Counterexample`` (confirmed, explained, with the
    tree before each step) for reports; its "failure certain after" step is the bound that needs
    no search (a search over the continuations of a long schedule as it happened costs more than
    the verification: ``verify`` searches it for the shrunk counterexample)."""
    backend = backend or scenario.backend
    program = program_for(scenario, inject)
    source_file = scenario.file
    if token_source is None:
        token_source = "--token" if token is not None else f"{scenario.file}: token"
    if token is None and scenario.token:
        token, source = scenario.token, "pinned token (scenario 'token')"
    elif token is not None:
        source = "token"
    else:
        source = f"seeded random walk (seed {scenario.seed})"
    choices: list[int] = []
    if token is not None:  # decoded before any sandbox exists
        try:
            choices = tokens.decode(token, program.digest, source_file)
        except TokenError as exc:
            raise TokenError(f"{token_source}: {str(exc).removeprefix('token: ')}") from None
    with Runner(program, backend) as runner:
        if token is not None:
            # a misfit never raises inside the scheduler: the run completes on the first enabled
            # thread, and the misfit (or leftover choices) is a TokenError here (exit 2)
            replayer = ReplayChooser(choices, collect=True)
            execution = runner.run_single(replayer)
            if (misfit := replayer.leftover()) is not None:
                raise TokenError(f"{token_source}: {misfit.removeprefix('token: ')}")
        else:
            walk = RandomWalk(seed=scenario.seed).next_execution()
            assert walk is not None
            execution = runner.run_single(walk)
        tok = tokens.encode(program.digest, execution.choices)
        command = replay_command(scenario, tok, backend, inject, mount_set)
        cex = None
        if explain and execution.violations:  # the failing schedule as it happened, explained
            cex = counterexample(runner, execution, digest=program.digest, shrink=False, classify_it=False,
                                 command=lambda _: command, search=False)
    return Result(verdict="fail" if execution.violations else "pass", kind="replay", complete=True,
                  executions=1, strategy="replay", steps=len(execution.trace),
                  failing=1 if execution.violations else 0, counterexample=cex, scenario=scenario,
                  backend=backend, inject=tuple(inject), expected=scenario.expect_replay, execution=execution,
                  schedule_source=source, token=tok, command=command)


#: executions explored by ``verify`` in this process: finished calls, and the running one (the
#: one-line summary of an interrupted command reports them)
EXPLORED = {"finished": 0, "current": 0, "failing": 0}


def _counting(progress: Callable[[int, int, int], None] | None) -> Callable[[int, int, int], None]:
    def note(done: int, failing: int, pending: int = -1) -> None:
        EXPLORED["current"] = done
        EXPLORED["failing"] = failing
        if progress is not None:
            progress(done, failing, pending)

    return note


def verify(scenario: Scenario, strategy: str = "dpor", max_executions: int | None = None, seed: int = 0,
           backend: str | None = None, inject: Sequence[str] = (), shrink: bool = True,
           progress: Callable[[int, int, int], None] | None = None, driver: str = "trio",
           evidence: bool = False, certain: bool = True, symmetry: bool = True, confluence: bool = True,
           checkpoint: str | None = None, resume: str | None = None, checkpoint_every: float | None = None,
           jobs: int = 1, **options: Any) -> Result:
    """Explore `scenario` and prove or refute it; a counterexample is shrunk (unless `shrink` is
    False), explained and given its replay command. Its "failure certain after" step is searched
    for (prefix-pinned DPOR searches) unless `certain` is False: then it is the bound that needs
    no search, and ``explanation["certain_searched"]`` says so.

    With `evidence`, the result also carries what a report shows and nothing re-runs later: the
    conflict-pair coverage of the explored executions and, for a scenario with a pinned token, that
    schedule replayed and explained (``Result.pinned``).

    With `symmetry` (the default), a sound search defers the built-in jobs' tails and explores
    identical jobs as one (``raceproof.tails``, ``raceproof.symmetry``); with `confluence` too (the
    default), heads that only create directories are explored in one execution
    (``raceproof.confluence``). A counterexample any of them finds is searched again without them,
    so its token replays on the program as it is.
    Not with `evidence`: a report's coverage describes the program's own interleavings.

    With `checkpoint` (a file), the state of each exploration is written as it goes (every
    `checkpoint_every` seconds, at its end, on an interrupt); with `resume`, a run continues from
    such a file, which must be of this very search (``raceproof.checkpoint.SearchCheckpoint``). The
    result is that of an uninterrupted run (its wall time the sum of the runs').

    With `jobs` > 1, a DPOR search (alone or a portfolio's) on the memory backend is shared with
    `jobs` - 1 worker processes once it has run a few hundred executions (``raceproof.subtrees``):
    the result is the serial one."""
    EXPLORED["current"] = 0
    saving = None
    if checkpoint is not None or resume is not None:
        saving = {"path": checkpoint, "resume": resume, "every": checkpoint_every}
    vr = _verify(scenario, strategy, max_executions, seed, backend, inject, shrink, _counting(progress), driver,
                 evidence, certain, symmetry, confluence, saving, jobs, **options)
    EXPLORED["finished"] += vr.executions
    EXPLORED["current"] = 0
    if evidence and scenario.token:
        vr = replace(vr, pinned=replay(scenario, explain=True))
    return vr


def _verify(scenario: Scenario, strategy: str, max_executions: int | None, seed: int, backend: str | None,
            inject: Sequence[str], shrink: bool, progress: Callable[[int, int, int], None], driver: str,
            evidence: bool, certain: bool = True, symmetry: bool = True, confluence: bool = True,
            saving: dict[str, Any] | None = None, jobs: int = 1, **options: Any) -> Result:
    backend = backend or scenario.backend
    program = program_for(scenario, inject)
    max_executions = with_defaults(strategy, max_executions, seed, options, scenario.max_executions)
    if any(inj.needs_trio for inj in program.injectors):
        driver = "trio"  # e.g. slow downloads wait in Trio's virtual time
    ck = None
    if saving is not None:
        ck = _search_checkpoint(scenario, program, strategy, options, max_executions, backend, inject, symmetry,
                                confluence, evidence, saving)

    def subject(result: Result, **more: Any) -> Result:
        return replace(result, kind="verify", scenario=scenario, backend=backend, inject=tuple(inject),
                       expected=scenario.expect_verify, **more)

    if strategy in ("dpor", "portfolio") and any(inj.explores for inj in program.injectors):
        # fault placements are one DPOR search each (a portfolio's probes do not pin placements)
        return subject(_verify_placements(scenario, program, backend, max_executions, inject, progress, driver, ck,
                                          jobs))

    def command(token: str) -> str:
        return replay_command(scenario, token, backend, inject)

    strat = make_strategy(strategy, **options)
    note = ""
    if symmetry and strat.sound and not evidence:
        search = functools.partial(_symmetric_search, backend=backend, driver=driver, max_executions=max_executions,
                                   progress=progress, command=command,
                                   new_strategy=lambda: make_strategy(strategy, **options), ck=ck, jobs=jobs)
        # a pool's executions are among those of a worker per job (``unpooled``): a proof of that
        # program proves the pool. Only a proof is kept
        wide = unpooled(scenario, program)
        wide_program = program_for(wide) if wide is not None else None
        pooled = (f"; proved with a worker per job ({len(scenario.mounts)}), which covers {scenario.workers} "
                  "workers (raceproof.symmetry.unpooled)")
        dropped = ""  # why confluent heads were given up after trying them (not: why they did not apply)
        if confluence:
            outcome = _confluent_search(wide_program or program, backend=backend, driver=driver,
                                        progress=progress, command=command, ck=ck)
            if isinstance(outcome, Result):
                return subject(outcome, symmetry=outcome.symmetry + (pooled if wide_program else ""))
            dropped = outcome
        # with deferred tails, jobs into sibling roots are identical up to their tails: worth a
        # worker per job when that groups them
        if wide_program is not None:
            outcome = search(wide_program, grouped_only=True)
            if isinstance(outcome, Result) and outcome.verdict == "safe":
                return subject(outcome, symmetry=_said(dropped, outcome.symmetry + pooled))
        outcome = search(program)
        if isinstance(outcome, Result):
            return subject(outcome, symmetry=_said(dropped, outcome.symmetry))
        note = _said(dropped, outcome)
    with Runner(program, backend, driver) as runner:
        result = run_exploration(runner, strat, max_executions=max_executions, progress=progress,
                                 coverage=evidence, shrink=shrink, explain=shrink, certain=certain,
                                 command=command, checkpoint=_call(ck, f"{strat.name} of {program.digest[:16]}"),
                                 jobs=jobs)
    cex = result.counterexample
    return subject(result, token=cex.token if cex else None, command=cex.replay_command if cex else None,
                   symmetry=note)


def _search_checkpoint(scenario: Scenario, program: IncidentProgram, strategy: str, options: dict[str, Any],
                       max_executions: int | None, backend: str, inject: Sequence[str], symmetry: bool,
                       confluence: bool, evidence: bool, saving: dict[str, Any]) -> SearchCheckpoint:
    """The checkpoint of this verify (``raceproof.checkpoint``), named by everything that decides
    its explorations; refused where it is not kept."""
    from raceproof import __version__
    from raceproof.checkpoint import EVERY, SearchCheckpoint

    flag = "--checkpoint" if saving["path"] is not None else "--resume"
    if evidence:
        raise InputError(f"{flag}: not for a report's evidence (its coverage is not kept in a checkpoint)")
    if not hasattr(make_strategy(strategy, **options), "snapshot"):
        raise InputError(f"{flag}: strategy {strategy!r} cannot be checkpointed (dpor, portfolio and pct can)")
    search = {"command": "verify", "scenario": os.path.basename(scenario.file), "digest": program.digest,
              "strategy": strategy, "options": {k: options[k] for k in sorted(options)},
              "max_executions": max_executions, "backend": backend, "inject": list(inject), "symmetry": symmetry,
              "confluence": confluence, "raceproof": __version__,
              # trace-class hashes are tuple hashes of ints: the same in every process of one version
              "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    every = EVERY if saving["every"] is None else float(saving["every"])
    return SearchCheckpoint(search, path=saving["path"], resume=saving["resume"], every=every)


def _call(ck: SearchCheckpoint | None, label: str) -> Call | None:
    return None if ck is None else ck.call(label)


def _said(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _confluent_search(program: IncidentProgram, *, backend: str, driver: str,
                      progress: Callable[[int, int, int], None], command: Callable[[str], str],
                      ck: SearchCheckpoint | None = None) -> Result | str:
    """One execution of `program` with its tails deferred, when its heads are confluent
    (``raceproof.confluence``): its result if safe, else why it was given up ("": it does not
    apply, ``raceproof.confluence.why_not``)."""
    from raceproof.confluence import NotConfluent, Once, why_not

    if why_not(program):
        return ""
    try:
        with program.reduced(tails=True, confluent=True), Runner(program, backend, driver) as runner:
            result = run_exploration(runner, Once(), progress=progress, shrink=False, explain=False,
                                     certain=False, command=command,
                                     checkpoint=_call(ck, f"confluent heads of {program.digest[:16]}"))
    except (NotConfluent, TailBroken) as exc:
        return f"heads not confluent ({exc}): explored with DPOR"
    if result.verdict != "safe":
        return f"{result.verdict} with confluent heads: explored with DPOR"
    return replace(result, symmetry="heads confluent: every job's create_dir_all only creates directories, so "
                                    "every interleaving reaches one state, and one execution is the proof "
                                    "(raceproof.confluence; --no-confluence explores them with DPOR); tails "
                                    "deferred (raceproof.tails)")


def _symmetric_search(program: IncidentProgram, *, backend: str, driver: str, max_executions: int | None,
                      progress: Callable[[int, int, int], None], command: Callable[[str], str],
                      new_strategy: Callable[[], Strategy], grouped_only: bool = False,
                      ck: SearchCheckpoint | None = None, jobs: int = 1) -> Result | str:
    """A search of `program` with its tails deferred (``raceproof.tails``) and its identical jobs
    under the leader rule: its result if it found no counterexample, else why it gives none ("":
    neither applies; with `grouped_only`, no identical jobs). A broken deferral is tried again
    without it; a counterexample is searched again without either, so that its token replays on
    the program as it is."""
    why = ""
    for tails in (True, False) if deferrable(program) else (False,):
        groups = job_groups(program, tails=tails)
        if not groups and (grouped_only or not tails):
            continue
        label = f"{'tails deferred' if tails else 'tails inline'}, {len(groups)} groups of {program.digest[:16]}"
        try:
            with program.reduced(tails=tails, groups=groups), Runner(program, backend, driver) as runner:
                result = run_exploration(runner, new_strategy(), max_executions=max_executions, progress=progress,
                                         shrink=False, explain=False, certain=False, command=command,
                                         checkpoint=_call(ck, label), jobs=jobs)
        except (SymmetryBroken, TailBroken) as exc:
            why = f"dropped ({exc}): explored without it"
            continue
        if result.verdict == "unsafe":
            return "found a counterexample; searched again without it for one that replays as is"
        said = [describe(program, groups)] if groups else []
        if tails:
            said.append("tails deferred: each job's unpack ran once after the interleaved part (raceproof.tails)")
        return replace(result, symmetry="; ".join(said))
    return why


def _verify_placements(scenario: Scenario, program: IncidentProgram, backend: str, max_executions: int | None,
                       inject: Sequence[str], progress: Callable[[int, int, int], None] | None,
                       driver: str = "trio", ck: SearchCheckpoint | None = None, jobs: int = 1) -> Result:
    """Every placement of the injected faults, one optimal DPOR each (``raceproof.placements``;
    with `ck`, each placement's search is checkpointed; with `jobs` > 1, a long enumeration's
    placements are searched in that many processes, with the serial result)."""
    from raceproof.mountsets import user_modules
    from raceproof.placements import explore_placements

    with Runner(program, backend, driver) as runner:
        pr = explore_placements(runner, program.injectors, max_executions=max_executions, progress=progress,
                                checkpoint=ck, jobs=jobs,
                                rebuild=(scenario, tuple(inject)),
                                modules=user_modules(scenario))
        cex = None
        if pr.first is not None:  # the fault decisions are in the choices: it must replay exactly
            cex = counterexample(runner, pr.first, digest=program.digest, shrink=False, explain=False,
                                 classify_it=False,
                                 command=lambda token: replay_command(scenario, token, backend, inject),
                                 explanation={"fault_placement": [list(p) for p in pr.first_pins]})
    return Result(
        verdict="unsafe" if cex is not None else ("safe" if pr.complete else "inconclusive"),
        complete=pr.complete, stop_reason=pr.stop_reason, executions=pr.executions,
        blocked=pr.blocked, strategy=f"dpor over {pr.placements} fault placements", naive_interleavings=pr.naive,
        counterexample=cex, failing=1 if cex is not None else 0, steps=pr.steps,
        wall_time=pr.wall_time, classes=pr.classes, placements=pr,
        token=cex.token if cex else None, command=cex.replay_command if cex else None)


def verify_exit_code(verdict: str, expected: str | None) -> int:
    if verdict == "inconclusive":
        return 3
    if expected is None:
        return {"safe": 0, "unsafe": 1, "bounded": 3}[verdict]
    if verdict == "bounded":
        return 3
    return 0 if verdict == expected else 1


def verify_json(vr: Result) -> dict[str, Any]:
    """The ``raceproof.verify/1`` document (``raceproof.render.verify_json``)."""
    return render.verify_json(vr)
