"""The ``raceproof`` command: thin parsing and rendering over ``raceproof.runs``.

Exit codes: 0 the run met the scenario's expectation; 1 it did not; 2 bad input; 3 inconclusive
(a budget stopped the search, or only a bounded proof); 4 internal error.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from raceproof import __version__
from raceproof.errors import InputError, RaceproofError, UnknownNameError
from raceproof.execution import DRIVERS
from raceproof.fs import BACKENDS
from raceproof.scenario import load
from raceproof.strategies import REGISTRY

EXIT_HELP = """\b
Exit codes:
  0  the run met the scenario's expectation (replay: reproduced as expected; verify: proved/refuted as expected)
  1  it did not (a counterexample where a proof was expected, or a replay that did not fail as expected)
  2  bad input (scenario, token, option, unknown name): a one-line error, nothing written
  3  inconclusive: a budget stopped the search, or the strategy only gives a bounded verdict
  4  internal error (a raceproof bug: please report it)"""

#: sub-commands contributed by sibling packages, imported lazily ("module:attribute")
EXTRA_COMMANDS = {
    "report": "raceproof.reports.command:report",
    "injectors": "raceproof.injectors.command:injectors",
}

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail_input(message: str) -> None:
    err_console.print(f"raceproof: error: {message}", markup=False)
    sys.exit(2)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn raceproof's errors into one-line messages and exit codes."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            fail_input(str(exc))
        except RaceproofError as exc:
            err_console.print(f"raceproof: error: {exc}", markup=False)
            sys.exit(4)
        except (KeyboardInterrupt, click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            err_console.print(f"raceproof: [raceproof internal bug] {type(exc).__name__}: {exc}", markup=False)
            sys.exit(4)

    return wrapper


class Main(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *EXTRA_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in EXTRA_COMMANDS:
            module, attr = EXTRA_COMMANDS[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
            except (ImportError, AttributeError):
                return None
        return super().get_command(ctx, name)


@click.group(cls=Main, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="raceproof")
def main() -> None:
    """Reproduce concurrency incidents deterministically and prove their fixes."""


def _read_token(token: str | None, token_file: str | None) -> str | None:
    if token and token_file:
        fail_input("give --token or --token-file, not both")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            fail_input(f"{token_file}: cannot read token file: {exc.strerror}")
    return token


inject_option = click.option("--inject", "inject", multiple=True, metavar="NAME[:PARAM=VALUE,...]",
                             help="Add a fault injector (repeatable); see 'raceproof injectors'.")
backend_option = click.option("--backend", default=None, metavar="|".join(BACKENDS),
                              help="Filesystem backend (default: the scenario's, else memory).")


def check_backend(backend: str | None) -> None:
    if backend is not None and backend not in BACKENDS:
        raise UnknownNameError("backend", backend, BACKENDS)


@main.command(epilog=EXIT_HELP)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--token", help="Replay this schedule token (default: the scenario's pinned token).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="Read the token from a file.")
@backend_option
@click.option("--mount-set", "mount_set", metavar="NAME:wW",
              help="Replay on one generated mount set of 'verify --mount-sets' (e.g. 2:chain:r0/spine:w2).")
@inject_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the trace.")
@guarded
def replay(scenario: str, token: str | None, token_file: str | None, backend: str | None,
           mount_set: str | None, inject: tuple[str, ...], as_json: bool) -> None:
    """Replay one execution of SCENARIO, step by step, and judge it."""
    from raceproof.runs import replay as do_replay
    from raceproof.trace import render_lines

    check_backend(backend)
    sc = load(scenario)
    if mount_set is not None:
        from raceproof.mountsets import scenario_for_name

        sc = scenario_for_name(sc, mount_set)
    tok = _read_token(token, token_file)
    rr = do_replay(sc, tok, backend, inject, mount_set)
    ex = rr.execution
    expected = rr.expected
    if expected is None:
        code = 0 if rr.verdict == "pass" else 1
    else:
        code = 0 if rr.verdict == expected else 1
    if as_json:
        click.echo(json.dumps(rr.to_json(), indent=2))
        sys.exit(code)
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"scenario  {sc.file}  ({sc.name}, {sc.algorithm}, {sc.workers} workers)", markup=False)
    out.print(f"backend   {rr.backend}    schedule: {rr.schedule_source}", markup=False)
    out.print(f"threads   {', '.join(ex.names)}", markup=False)
    failing = [v.step for v in ex.violations if v.step is not None]
    for line in render_lines(ex.trace, ex.names, highlight=failing):
        out.print(line, markup=False, style="bold red" if line.startswith(">>") else None)
    for v in ex.violations:
        where = f" [{v.thread}] {v.op}({v.path})" if v.thread else (f" {v.path}" if v.path else "")
        out.print(f"violation {v.check}:{where} {v.errno} - {v.message}", markup=False, style="red")
    tag = {"fail": "FAIL", "pass": "PASS"}[rr.verdict]
    exp = f" (expected: {expected})" if expected else ""
    out.print(f"verdict   {tag}{exp}", markup=False, style="bold")
    out.print(f"replay    {rr.command}", markup=False)
    sys.exit(code)


@main.command(epilog=EXIT_HELP)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--strategy", default="dpor", show_default=True, metavar="NAME",
              help=f"Exploration strategy: {', '.join(REGISTRY)}.")
@click.option("--max-executions", type=click.IntRange(min=1), default=None,
              help="Stop after N executions (inconclusive).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random and pct.")
@click.option("--bound", type=click.IntRange(min=0), default=2, show_default=True,
              help="Preemption bound (strategy 'preemption').")
@click.option("--depth", type=click.IntRange(min=1), default=3, show_default=True, help="PCT depth.")
@click.option("--mount-sets", type=click.IntRange(min=0, max=5), default=None,
              help="Verify every mount topology up to K mounts, for 1..4 workers; prints a table.")
@backend_option
@click.option("--driver", default="trio", show_default=True, metavar="trio|direct",
              help="Run virtual threads as Trio tasks, or drive the same coroutines directly (faster; "
                   "no virtual time inside steps).")
@inject_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def verify(scenario: str, strategy: str, max_executions: int | None, seed: int, bound: int, depth: int,
           mount_sets: int | None, backend: str | None, driver: str, inject: tuple[str, ...], as_json: bool) -> None:
    """Explore every interleaving of SCENARIO (up to equivalence) and prove or refute it."""
    from raceproof.runs import verify as do_verify
    from raceproof.runs import verify_exit_code, verify_json

    if strategy not in REGISTRY or strategy == "replay":
        raise UnknownNameError("strategy", strategy, [n for n in REGISTRY if n != "replay"])
    check_backend(backend)
    if driver not in DRIVERS:
        raise UnknownNameError("driver", driver, DRIVERS)
    sc = load(scenario)
    k = mount_sets if mount_sets is not None else sc.mount_sets
    if k:
        from raceproof.mountsets import verify_mount_sets

        sys.exit(verify_mount_sets(sc, k, strategy=strategy, max_executions=max_executions, as_json=as_json,
                                   driver=driver))
    options: dict[str, Any] = {}
    if strategy == "preemption":
        options["bound"] = bound
    if strategy == "pct":
        options["depth"] = depth
    progress, finish = _progress(as_json)
    try:
        vr = do_verify(sc, strategy, max_executions, seed, backend, inject, progress=progress, driver=driver,
                       **options)
    finally:
        finish()
    r = vr.result
    code = verify_exit_code(r.verdict, vr.expected)
    if as_json:
        click.echo(json.dumps(verify_json(vr), indent=2))
        sys.exit(code)
    out = Console(highlight=False, soft_wrap=True)
    cex = r.counterexample
    if cex is not None:
        from raceproof.trace import render_timeline

        ex = cex.execution
        how = "shrunk; " if cex.explanation.get("shrunk") else ""
        conflict = cex.explanation.get("conflict", {})
        lines, elided = render_timeline(ex, conflict["first"]["index"] if conflict else None)
        cone = f"; the failure's causal past: {len(ex.trace) - elided} of {len(ex.trace)} steps" if elided else ""
        out.print(f"counterexample ({how}threads {', '.join(ex.names)}{cone}):", markup=False)
        for line in lines:
            out.print(line, markup=False, style="bold red" if line.startswith(">>") else None)
        for v in ex.violations:
            out.print(f"violation {v.check}: {v.message}", markup=False, style="red")
        if "mechanism" in cex.explanation:
            out.print(f"why       {cex.explanation['mechanism']}", markup=False)
        if cex.explanation.get("certain_after") is not None:
            c = cex.explanation["certain_after"]
            out.print(f"certain   failure was certain after step {c['index']} ({c['thread']} {c['op']} {c['path']})",
                      markup=False)
        out.print(f"replay    {cex.replay_command}", markup=False)
    classes = f"{r.classes} equivalence classes, " if r.complete else ""
    exp = f" (expected: {vr.expected})" if vr.expected else ""
    out.print(f"{r.verdict.upper()}{exp}: {r.executions} executions ({classes}{r.blocked} blocked) "
              f"of {r.naive_interleavings:.3e} naive interleavings; strategy {r.strategy}; "
              f"stopped: {r.stop_reason}; {r.wall_time:.2f} s", markup=False, style="bold")
    if r.verdict == "bounded":
        out.print("note: a bounded search is NOT a proof: interleavings beyond the bound were not explored",
                  markup=False)
    sys.exit(code)


def _progress(quiet: bool) -> tuple[Callable[[int, int, int], None] | None, Callable[[], None]]:
    if quiet or not err_console.is_terminal:
        return None, lambda: None
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True)
    task = prog.add_task("exploring", total=None)
    prog.start()
    t0 = time.perf_counter()

    def update(done: int, failing: int, pending: int = -1) -> None:
        if done % 25:
            return
        rate = done / max(time.perf_counter() - t0, 1e-9)
        left = f", >= {pending} branches pending" if pending >= 0 else ""
        prog.update(task, description=f"exploring: {done} executions, {rate:,.0f}/s, {failing} counterexamples{left}")

    return update, prog.stop


def table(rows: list[dict[str, Any]], columns: list[str], title: str) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*[str(row.get(c, "")) for c in columns])
    return t
