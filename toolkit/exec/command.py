"""``raceproof exec`` and ``raceproof replay SCENARIO --binary PATH``: rendering over the runner."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any

import click
from rich.console import Console

from raceproof import token as tokens
from raceproof.errors import InputError, TokenError
from raceproof.exec.driver import DEFAULT_TIMEOUT
from raceproof.execution import Execution

EXEC_HELP = """\b
Exit codes:
  0  the run met the expectation (--expect: safe, or unsafe)
  1  it did not (a failing execution where safe was expected, or none where unsafe was)
  2  bad input (option, scenario, token, program): a one-line error
  3  inconclusive: a budget stopped the search, or the strategy only samples
  4  internal error (a raceproof bug: please report it)"""


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def exec_replay_command(scenario: str | None, sandboxes: tuple[str, ...], token: str, argv: list[str],
                        timeout: float) -> str:
    parts = ["raceproof", "exec"]
    if scenario:
        parts += ["--scenario", scenario]
    for d in sandboxes:
        parts += ["--sandbox", d]
    if timeout != DEFAULT_TIMEOUT:
        parts += ["--timeout", f"{timeout:g}"]
    parts += ["--token", token, "--", *argv]
    return shlex.join(parts)


def build_program(argv: list[str], scenario: str | None, sandboxes: tuple[str, ...], timeout: float) -> Any:
    from raceproof.exec import ptrace
    from raceproof.exec.runner import argv_program, scenario_program

    why = ptrace.unavailable()
    if why:
        raise InputError(f"exec: {why}")
    if not argv:
        raise InputError("exec: PROGRAM is missing (raceproof exec [OPTIONS] -- PROGRAM ARGS...)")
    exe = argv[0]
    if not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        import shutil

        if "/" in exe or shutil.which(exe) is None:
            raise InputError(f"exec: PROGRAM {exe!r}: not an executable file")
    if scenario:
        from raceproof.scenario import load

        if sandboxes:
            raise InputError("exec: --sandbox and --scenario exclude each other (the scenario gives the sandbox)")
        return scenario_program(load(scenario), argv, timeout=timeout)
    return argv_program(argv, sandboxes, timeout=timeout)


def render_trace(out: Console, ex: Execution, failing: set[int]) -> None:
    for ev in ex.trace:
        mark = ">>" if ev.index in failing else "  "
        out.print(f"{mark} {ev.index:4d} [{ex.names[ev.thread]}] {ev.op}({ev.path}) = {ev.result}",
                  style="bold red" if mark == ">>" else None)


def render_violations(out: Console, ex: Execution) -> None:
    for v in ex.violations:
        where = f" [{v.thread}] {v.op}({v.path})" if v.thread else (f" {v.path}" if v.path else "")
        out.print(f"violation {v.check}:{where} {v.errno} - {v.message}", style="red")


@click.command("exec", epilog=EXEC_HELP, context_settings={"ignore_unknown_options": False})
@click.option("--scenario", type=click.Path(dir_okay=False),
              help="Run a guest-download binary on this scenario's mounts ({variant} and {manifest} in ARGS).")
@click.option("--sandbox", "sandboxes", multiple=True, metavar="DIR",
              help="A directory the program may change (created empty, private; repeatable).")
@click.option("--strategy", default="dpor", show_default=True, metavar="NAME",
              help="dpor, dfs, random, pct (a fresh process per execution).")
@click.option("--max-executions", type=click.IntRange(min=1, max=10**9), default=None)
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option("--token", help="Replay this schedule token (one execution).")
@click.option("--expect", type=click.Choice(["safe", "unsafe"]), default=None,
              help="What the search must show (default: the scenario's expect.verify, else safe).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=3600), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one execution may take before it is killed (reported as a hang).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def exec_command(scenario: str | None, sandboxes: tuple[str, ...], strategy: str, max_executions: int | None,
                 seed: int, token: str | None, expect: str | None, timeout: float, as_json: bool,
                 argv: tuple[str, ...]) -> None:
    """Run PROGRAM under the syscall gate: each file system call in the sandbox is one step."""
    from raceproof.cli import guarded

    guarded(_exec)(scenario=scenario, sandboxes=sandboxes, strategy=strategy, max_executions=max_executions,
                   seed=seed, token=token, expect=expect, timeout=timeout, as_json=as_json, argv=list(argv))


def _exec(scenario: str | None, sandboxes: tuple[str, ...], strategy: str, max_executions: int | None, seed: int,
          token: str | None, expect: str | None, timeout: float, as_json: bool, argv: list[str]) -> None:
    from raceproof.exec.runner import ExecRunner
    from raceproof.exploration import run_exploration
    from raceproof.strategies import REGISTRY, make_strategy, with_defaults
    from raceproof.strategies.replay import ReplayChooser

    if strategy not in REGISTRY or strategy in ("replay", "preemption"):
        from raceproof.errors import UnknownNameError

        raise UnknownNameError("strategy", strategy, ["dpor", "dfs", "random", "pct"])
    program = build_program(argv, scenario, sandboxes, timeout)
    if expect is None:
        sc = program.extra.get("scenario")
        expect = (sc.expect_verify if sc is not None else None) or "safe"
    out = _console()
    with ExecRunner(program) as runner:
        if token is not None:
            choices = tokens.decode(token, program.digest, "this program")
            chooser = ReplayChooser(choices, collect=True)
            ex = runner.execute(chooser)
            if (misfit := chooser.leftover()) is not None:
                raise TokenError(f"--token: {misfit.removeprefix('token: ')}")
            tok = tokens.encode(program.digest, ex.choices)
            cmd = exec_replay_command(scenario, sandboxes, tok, argv, timeout)
            verdict = "fail" if ex.violations else "pass"
            code = 0 if (verdict == "fail") == (expect == "unsafe") else 1
            if as_json:
                click.echo(json.dumps({"schema": "raceproof.exec-replay/1", "verdict": verdict, "token": tok,
                                       "steps": len(ex.trace), "violations": [v.to_json() for v in ex.violations],
                                       "replay_command": cmd}, indent=2))
                sys.exit(code)
            out.print(f"program   {program.label}")
            out.print(f"threads   {', '.join(ex.names)}")
            render_trace(out, ex, {v.step for v in ex.violations if v.step is not None})
            render_violations(out, ex)
            out.print(f"verdict   {verdict.upper()} (expected: {'fail' if expect == 'unsafe' else 'pass'})")
            out.print(f"replay    {cmd}")
            sys.exit(code)
        options: dict[str, Any] = {}
        budget = with_defaults(strategy, max_executions, seed, options)
        res = run_exploration(runner, make_strategy(strategy, **options), max_executions=budget)
    code = 0 if res.verdict == expect else (3 if res.verdict in ("inconclusive", "bounded") else 1)
    cmd = ""
    if res.counterexample is not None:
        ex = res.counterexample.execution
        cmd = exec_replay_command(scenario, sandboxes, tokens.encode(program.digest, ex.choices), argv, timeout)
    rate = res.executions / res.wall_time if res.wall_time else 0.0
    if as_json:
        click.echo(json.dumps({"schema": "raceproof.exec-verify/1", "verdict": res.verdict, "expected": expect,
                               "executions": res.executions, "stop_reason": res.stop_reason,
                               "strategy": res.strategy, "wall_time": round(res.wall_time, 3),
                               "violations": [v.to_json() for v in (res.counterexample.violations
                                                                     if res.counterexample else [])],
                               "replay_command": cmd}, indent=2))
        sys.exit(code)
    out.print(f"program   {program.label}")
    if res.counterexample is not None:
        ex = res.counterexample.execution
        render_trace(out, ex, {v.step for v in ex.violations if v.step is not None})
        render_violations(out, ex)
    out.print(f"{res.verdict}: {res.executions} executions ({strategy}, {res.stop_reason}) in {res.wall_time:.1f} s "
              f"({rate:.1f}/s); expected {expect}")
    if cmd:
        out.print(f"replay    {cmd}")
    sys.exit(code)


def replay_binary(sc: Any, binary: str, token: str | None, token_source: str | None, as_json: bool) -> None:
    """``raceproof replay SCENARIO --binary PATH``: the model's schedule on the binary, side by side."""
    from raceproof.exec import ptrace
    from raceproof.exec.compare import side_by_side

    why = ptrace.unavailable()
    if why:
        raise InputError(f"--binary: {why}")
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        raise InputError(f"--binary {binary!r}: not an executable file")
    s = side_by_side(sc, os.path.abspath(binary), token, token_source=token_source or "--token")
    model_fail, real_fail = bool(s.model.violations), bool(s.real.violations)
    verdict = "fail" if real_fail else "pass"
    expected = sc.expect_replay
    code = 0 if s.agree and model_fail == real_fail and (expected is None or verdict == expected) else 1
    cmd = shlex.join(["raceproof", "replay", sc.file, "--binary", binary, "--token", s.model_token])
    if as_json:
        click.echo(json.dumps({
            "schema": "raceproof.replay-binary/1", "scenario": sc.file, "binary": binary,
            "model_token": s.model_token, "binary_token": s.binary_token, "agree": s.agree,
            "diverged_at": s.diverged, "model_verdict": "fail" if model_fail else "pass", "verdict": verdict,
            "expected": expected, "rows": [{"step": r.index, "thread": r.thread, "model": list(r.model),
                                            "real": list(r.real), "match": r.mark} for r in s.rows],
            "violations": [v.to_json() for v in s.real.violations], "replay_command": cmd}, indent=2))
        sys.exit(code)
    out = _console()
    out.print(f"scenario  {sc.file}  ({sc.name}, {sc.algorithm})   binary: {binary}")
    out.print("step  thread                 model                                          real")
    for r in s.rows:
        m = f"{r.model[0]}({r.model[1]}) = {r.model[2]}"
        real = "same" if r.same else f"{r.real[0]}({r.real[1]}) = {r.real[2]}"
        out.print(f"{r.mark} {r.index:3d} [{r.thread}] {m:<60} {real}", style=None if r.same else "yellow")
    if any(r.order_only for r in s.rows):
        out.print("~ the same step on a sibling entry: the kernel listed the directory in hash order, the model "
                  "in name order (a documented model limitation)")
    render_violations(out, s.real)
    diff = s.first_difference
    agree = ("model and binary agree on every step" if s.agree else
             f"model and binary differ at step {diff.index if diff else s.diverged}")
    out.print(f"result    {agree}; model {'FAIL' if model_fail else 'PASS'}, binary {verdict.upper()}"
              + (f" (expected: {expected})" if expected else ""))
    out.print(f"replay    {cmd}")
    sys.exit(code)
