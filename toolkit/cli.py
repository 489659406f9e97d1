"""The ``raceproof`` command: thin parsing and rendering over ``raceproof.runs``.

Exit codes: 0 the run met the scenario's expectation; 1 it did not; 2 bad input; 3 inconclusive
(a budget stopped the search, or only a bounded proof); 4 internal error.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from raceproof import __version__
from raceproof.errors import InputError, RaceproofError, UnknownNameError
from raceproof.execution import DRIVERS
from raceproof.fs import BACKENDS
from raceproof.numbers import format_count
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
    "exec": "raceproof.exec.command:exec_command",
    "compare": "raceproof.keepalive.command:compare",
}

err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

#: exit codes of an interrupted run (128 + signal number, as a shell reports it)
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
#: after a signal, the main thread has this long to unwind (close sandboxes, print the summary)
#: before a watchdog thread cleans up and exits the process itself
INTERRUPT_GRACE_S = 0.6
#: the same with a checkpoint to write on the way out (a large class set takes a while)
CHECKPOINT_GRACE_S = 10.0


def literal(text: str) -> str:
    """User text as printed: control characters (newlines, escapes) shown escaped, so an error is
    one line and a file name cannot restyle the terminal. Rich markup and emoji codes are never
    interpreted (every console here has ``markup=False, emoji=False``)."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _emit_error(message: str, code: int, as_json: bool, kind: str = "error") -> None:
    line = literal(message)
    if as_json:  # --json runs: a JSON object on stdout, and the same one line on stderr
        click.echo(json.dumps({"schema": "raceproof.error/1",
                               "error": {"kind": kind, "exit_code": code, "message": line}}))
    click.echo(f"raceproof: {kind}: {line}" if kind != "error" else f"raceproof: error: {line}", err=True)


def fail_input(message: str, as_json: bool = False) -> None:
    _emit_error(message, 2, as_json)
    sys.exit(2)


# interrupts ------------------------------------------------------------------------------------

class Interrupted(BaseException):
    """Raised in the main thread by raceproof's SIGINT/SIGTERM handler (not an Exception: nothing
    that catches a program's errors can swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: the running command (for the one-line summary of an interrupted run)
STATUS: dict[str, Any] = {"what": "", "rows": None, "as_json": False}
_signal_state: dict[str, Any] = {"signum": None, "raised": False, "reported": False}
_report_lock = threading.Lock()


def interrupt_summary() -> str:
    from raceproof.runs import EXPLORED

    what = STATUS["what"] or "raceproof"
    done = EXPLORED["finished"] + EXPLORED["current"]
    parts = [f"{done} executions explored"]
    if EXPLORED["failing"]:
        parts.append(f"{EXPLORED['failing']} failing in the last search")
    if STATUS["rows"] is not None:
        parts.append(f"{STATUS['rows']} {STATUS.get('row_kind', 'mount-set')} rows done")
    if STATUS.get("checkpoint"):
        kept = "the rows done are" if STATUS["rows"] is not None else "the search's frontier is"
        return (f"{what}: stopped after {', '.join(parts)}; no verdict; {kept} in the checkpoint "
                f"{STATUS['checkpoint']} (add --resume {STATUS['checkpoint']} to continue)")
    return f"{what}: stopped after {', '.join(parts)}; no verdict, nothing written"


def _report_interrupt() -> int:
    signum = _signal_state["signum"] or signal.SIGINT
    code = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
    with _report_lock:
        if not _signal_state["reported"]:
            _signal_state["reported"] = True
            _emit_error(f"{signal.Signals(signum).name}: {interrupt_summary()}", code, STATUS["as_json"],
                        kind="interrupted")
            sys.stderr.flush()
            sys.stdout.flush()
    return code


def _exit_interrupted() -> None:
    """Report, remove any sandbox left, and leave at once: after a signal the event loop may be
    half torn down, and interpreter shutdown would print its objects' complaints."""
    from raceproof.fs.real import cleanup_all

    code = _report_interrupt()
    cleanup_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _watchdog() -> None:
    """The main thread did not finish unwinding in time (e.g. stuck in a long step): clean up the
    real sandboxes and exit from here."""
    from raceproof.fs.real import cleanup_all

    cleanup_all()
    code = _report_interrupt()
    os._exit(code)


def _on_signal(signum: int, frame: Any) -> None:
    if _signal_state["signum"] is None:
        _signal_state["signum"] = signum
        # the unwinding may drop coroutines that were created but never awaited: their
        # RuntimeWarnings are noise on the way out (stderr gets the one summary line)
        warnings.simplefilter("ignore")
        # writing a checkpoint on the way out can take longer than the clean-up alone
        timer = threading.Timer(CHECKPOINT_GRACE_S if STATUS.get("checkpoint") else INTERRUPT_GRACE_S, _watchdog)
        timer.daemon = True
        timer.start()
    if _signal_state["raised"]:
        return  # already unwinding: let the clean-up finish (the watchdog bounds it)
    _signal_state["raised"] = True
    raise Interrupted(signum)


def _unraisable(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """An ``Interrupted`` raised inside a finalizer (``__del__``) is swallowed by Python: deliver the
    signal again a moment later instead of printing 'Exception ignored'."""

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, Interrupted):
            _signal_state["raised"] = False
            timer = threading.Timer(0.01, os.kill, (os.getpid(), info.exc_value.signum))
            timer.daemon = True
            timer.start()
            return
        hook(info)

    return unraisable


def _install_signal_handlers() -> Callable[[], None]:
    """SIGINT and SIGTERM stop the command: the real sandbox is cleaned, one summary line, exit 130/143."""
    try:  # a SIGINT ignored by the parent (a background job, nohup) stays ignored
        old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
               if signal.getsignal(sig) is not signal.SIG_IGN}
    except ValueError:  # not the main thread (e.g. an embedding application): leave signals alone
        return lambda: None
    old_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(old_hook)

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sys.unraisablehook = old_hook

    return restore


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn raceproof's errors into one-line messages and exit codes."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        STATUS.update(what=f"{fn.__name__} {kwargs.get('scenario') or ' '.join(kwargs.get('scenarios') or ())}".strip(),
                      rows=None, row_kind="mount-set", as_json=as_json, checkpoint=kwargs.get("checkpoint"))
        from raceproof.runs import EXPLORED

        EXPLORED.update(finished=0, current=0, failing=0)
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            if _signal_state["signum"] is not None and not isinstance(exc, SystemExit):
                _exit_interrupted()
            if isinstance(exc, InputError):
                fail_input(str(exc), as_json)
            if isinstance(exc, RaceproofError):
                _emit_error(str(exc), 4, as_json)
                sys.exit(4)
            if isinstance(exc, (KeyboardInterrupt, click.exceptions.Exit, click.ClickException, SystemExit)):
                raise
            if isinstance(exc, RecursionError):
                fail_input(f"input nested too deeply ({exc})", as_json)
            if isinstance(exc, Exception):
                _emit_error(f"[raceproof internal bug] {type(exc).__name__}: {exc}", 4, as_json)
                sys.exit(4)
            raise

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

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's main, with every error one line (``raceproof: error: …``, exit 2 for usage errors),
        a JSON error object for ``--json`` runs, and SIGINT/SIGTERM handled (see ``_on_signal``)."""
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        _signal_state.update(signum=None, raised=False, reported=False)
        STATUS.update(what="raceproof " + (argv[0] if argv else ""), rows=None, as_json=as_json)
        restore = _install_signal_handlers()
        try:
            try:
                rv = super().main(argv, "raceproof", complete_var, standalone_mode=False, **extra)
            except click.exceptions.NoArgsIsHelpError as exc:  # bare 'raceproof': the help, as click does
                click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
                code = 2
            except click.exceptions.UsageError as exc:
                where = f"{exc.ctx.info_name}: " if exc.ctx is not None and exc.ctx.parent is not None else ""
                hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
                _emit_error(f"{where}{exc.format_message()}{hint}", 2, as_json)
                code = 2
            except click.ClickException as exc:
                _emit_error(exc.format_message(), exc.exit_code if exc.exit_code != 1 else 2, as_json)
                code = exc.exit_code if exc.exit_code != 1 else 2
            except click.exceptions.Abort:
                if _signal_state["signum"] is not None:
                    _exit_interrupted()
                code = EXIT_SIGINT
            else:
                code = rv if isinstance(rv, int) else 0
        except SystemExit:
            raise
        except BaseException:
            if _signal_state["signum"] is None:
                raise
            _exit_interrupted()
            raise
        finally:
            restore()
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=Main, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="raceproof")
def main() -> None:
    """Reproduce concurrency incidents deterministically and prove their fixes."""


def _read_token(token: str | None, token_file: str | None) -> str | None:
    if token and token_file:
        raise InputError("give --token or --token-file, not both")
    if token_file:
        from raceproof.scenario import read_input

        return read_input(token_file, "token file", MAX_TOKEN).strip()
    if token is not None and len(token) > MAX_TOKEN:
        raise InputError(f"--token: too long ({len(token)} characters; at most {MAX_TOKEN})")
    return token


#: the longest token accepted (characters)
MAX_TOKEN = 1 << 20
#: the largest exploration budget and seed the options accept
MAX_BUDGET = 10**9
MAX_SEED = (1 << 63) - 1


def load_scenario(path: str, allow_import: tuple[str, ...]) -> Any:
    """Load a scenario; ``--allow-import`` modules are imported first, before any sandbox exists."""
    return load(path, allow_import=allow_import)


inject_option = click.option("--inject", "inject", multiple=True, metavar="NAME[:PARAM=VALUE,...]",
                             help="Add a fault injector (repeatable); see 'raceproof injectors'.")
allow_import_option = click.option(
    "--allow-import", "allow_import", multiple=True, metavar="MODULE|FILE.py",
    help="Allow the scenario's algorithm = 'MODULE:function' to import MODULE (a module name, or a .py file "
         "imported as its stem). Scenario files are data: without this, code is never imported.")
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
@click.option("--algorithm", "algorithm", metavar="NAME",
              help="Replay with this algorithm instead of the scenario's (a 'raceproof compare' cell).")
@click.option("--stale-state", "stale_state", metavar="STATE",
              help="Plant this previous-session tree first (a state of 'verify --stale', e.g. file+link-out).")
@inject_option
@allow_import_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the trace.")
@click.option("--binary", type=click.Path(dir_okay=False), default=None,
              help="Map the schedule onto this guest-download binary and compare it with the model, step by step.")
@guarded
def replay(scenario: str, token: str | None, token_file: str | None, backend: str | None,
           mount_set: str | None, algorithm: str | None, stale_state: str | None, inject: tuple[str, ...],
           allow_import: tuple[str, ...], as_json: bool, binary: str | None = None) -> None:
    """Replay one execution of SCENARIO, step by step, and judge it."""
    from raceproof.runs import replay as do_replay
    from raceproof.trace import render_lines

    check_backend(backend)
    sc = load_scenario(scenario, allow_import)
    if binary is not None:  # the model's schedule on the real binary (raceproof.exec)
        from raceproof.exec.command import replay_binary

        replay_binary(sc, binary, _read_token(token, token_file), f"{token_file} (token file)" if token_file else None,
                      as_json)
    if algorithm is not None or stale_state is not None:
        from raceproof.keepalive.command import cell_scenario

        sc = cell_scenario(sc, algorithm or "", mount_set, stale_state)
    elif mount_set is not None:
        from raceproof.mountsets import scenario_for_name

        sc = scenario_for_name(sc, mount_set)
    tok = _read_token(token, token_file)
    rr = do_replay(sc, tok, backend, inject, mount_set,
                   token_source=f"{token_file} (token file)" if token_file else None)
    if algorithm is not None or stale_state is not None:  # the command names the cell it replays
        from raceproof.keepalive.command import cell_replay_command

        rr = dataclasses.replace(rr, command=cell_replay_command(scenario, sc, mount_set, stale_state, inject,
                                                                 rr.token or "", backend or sc.backend))
    ex = rr.execution
    assert ex is not None, "a replay result has its execution"
    expected = rr.expected
    if expected is None:
        code = 0 if rr.verdict == "pass" else 1
    else:
        code = 0 if rr.verdict == expected else 1
    if as_json:
        click.echo(json.dumps(rr.to_json(), indent=2))
        sys.exit(code)
    out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
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
@click.option("--strategy", default=None, metavar="NAME",
              help=f"Exploration strategy: {', '.join(n for n in REGISTRY if n != 'replay')}. Default: portfolio "
                   "(a few seeded PCT probes, then the complete dpor search) for one search, dpor for the "
                   "--mount-sets rows.")
@click.option("--max-executions", type=click.IntRange(min=1, max=MAX_BUDGET), default=None,
              help="Stop after N executions (inconclusive); 1..10^9.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True,
              help="Seed for random, pct and portfolio's probes; 0..2^63-1.")
@click.option("--certain", is_flag=True,
              help="Search for the step after which failure was certain (prefix-pinned exhaustive searches; "
                   "can take seconds). Default: the bound that needs no search, when there is one.")
@click.option("--bound", type=click.IntRange(min=0, max=64), default=2, show_default=True,
              help="Preemption bound (strategy 'preemption'); 0..64.")
@click.option("--depth", type=click.IntRange(min=1, max=64), default=3, show_default=True,
              help="PCT depth; 1..64.")
@click.option("--symmetry/--no-symmetry", default=True, show_default=True,
              help="Reductions that keep the verdict: each job's unpack, which only it can see, runs "
                   "once after the interleaved part (deferred tails); jobs into sibling roots are then "
                   "explored as one, a pool of them with a worker per job. Only a proof is kept: a "
                   "counterexample is searched again without them, so its token replays as is.")
@click.option("--confluence/--no-confluence", default=True, show_default=True,
              help="With the reductions on: when every job only creates directories before its deferred "
                   "unpack (the fixed algorithm), every interleaving reaches one state, so one execution "
                   "is the proof (raceproof.confluence); --no-confluence explores them with DPOR.")
@click.option("--mount-sets", type=click.IntRange(min=0, max=5), default=None,
              help="Verify every mount topology up to K mounts, for 1..4 workers; prints a table.")
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=None, metavar="N",
              help="Use N processes; default: every core this process may use. With --mount-sets, "
                   "independent rows; a single DPOR search (dpor, portfolio; memory backend) shares its "
                   "subtrees with N-1 workers once it has run a few hundred executions; past as many, the "
                   "fault placements of an exploring injector (crash, errno) go to N processes (not with a "
                   "budget or a checkpoint). Results are those of a serial run.")
@click.option("--dask", default=None, metavar="ADDRESS",
              help="With --mount-sets: prove the rows as tasks on the Dask cluster at ADDRESS "
                   "(tcp://host:8786) instead of local processes.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Keep the progress in FILE so that an interrupted run can resume (--resume FILE): "
                   "with --mount-sets or --stale the rows done, after each row; else the exploration's frontier, "
                   "every --checkpoint-every seconds, at its end and on an interrupt.")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Seconds between two writes of a single search's checkpoint (default 60).")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Continue from the checkpoint FILE (it must be of this very search): the result is "
                   "that of an uninterrupted run.")
@click.option("--stale", "stale", type=click.IntRange(min=0, max=3), default=None,
              help="Verify every previous-session tree of up to K stale entries (keep-alive); with "
                   "--mount-sets, on every mount set; prints a table.")
@backend_option
@click.option("--driver", default=None, metavar="trio|direct",
              help="Run virtual threads as Trio tasks, or drive the same coroutines directly (faster; "
                   "no virtual time inside steps; same executions). Default: direct for the built-in "
                   "algorithms, trio for a user's 'module:function' (it may await Trio); an injector "
                   "that needs virtual time always gets trio.")
@inject_option
@allow_import_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def verify(scenario: str, strategy: str | None, max_executions: int | None, seed: int, certain: bool, bound: int,
           depth: int, symmetry: bool, confluence: bool,
           mount_sets: int | None, stale: int | None, jobs: int | None, dask: str | None, checkpoint: str | None,
           checkpoint_every: float | None, resume: str | None, backend: str | None, driver: str | None,
           inject: tuple[str, ...], allow_import: tuple[str, ...], as_json: bool) -> None:
    """Explore every interleaving of SCENARIO (up to equivalence) and prove or refute it."""
    from raceproof.runs import verify as do_verify
    from raceproof.runs import verify_exit_code, verify_json

    if strategy is not None and (strategy not in REGISTRY or strategy == "replay"):
        raise UnknownNameError("strategy", strategy, [n for n in REGISTRY if n != "replay"])
    check_backend(backend)
    if driver is not None and driver not in DRIVERS:
        raise UnknownNameError("driver", driver, DRIVERS)
    sc = load_scenario(scenario, allow_import)
    if driver is None:
        driver = "trio" if ":" in sc.algorithm else "direct"
    k = mount_sets if mount_sets is not None else sc.mount_sets
    ks = stale if stale is not None else sc.stale_states
    if strategy is None:  # tables of many small rows: no probes per row
        strategy = "dpor" if k or ks else "portfolio"
    if dask is not None and (not k or ks):
        raise InputError("--dask: only with --mount-sets, without --stale (a single search and the stale-state "
                         "table are not split into tasks)")
    if checkpoint_every is not None and (checkpoint is None or k or ks):
        raise InputError("--checkpoint-every: only with --checkpoint, without --mount-sets or --stale (a table "
                         "is written after each row)")
    if ks:
        from raceproof.keepalive.command import verify_stale

        STATUS["row_kind"] = "stale-state"
        sys.exit(verify_stale(sc, k, ks, inject, max_executions, as_json, checkpoint, resume,
                              jobs=jobs or usable_cores()))
    if k:
        sys.exit(_verify_mount_sets(sc, k, strategy, max_executions, as_json, driver, jobs or usable_cores(),
                                    checkpoint, resume, dask, confluence))
    options: dict[str, Any] = {}
    if strategy == "preemption":
        options["bound"] = bound
    if strategy == "pct":
        options["depth"] = depth
    progress, finish = _progress(as_json)
    try:
        vr = do_verify(sc, strategy, max_executions, seed, backend, inject, progress=progress, driver=driver,
                       certain=certain, symmetry=symmetry, confluence=confluence, checkpoint=checkpoint,
                       resume=resume, checkpoint_every=checkpoint_every, jobs=jobs or usable_cores(), **options)
    finally:
        finish()
    r = vr.result
    code = verify_exit_code(r.verdict, vr.expected)
    if as_json:
        click.echo(json.dumps(verify_json(vr), indent=2))
        sys.exit(code)
    out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
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
        searched = cex.explanation.get("certain_searched", True)
        if cex.explanation.get("certain_after") is not None:
            c = cex.explanation["certain_after"]
            latest = "" if searched else " at the latest (--certain searches for the earliest step)"
            out.print(f"certain   failure was certain after step {c['index']} ({c['thread']} {c['op']} {c['path']})"
                      f"{latest}", markup=False)
        elif not searched and "certain_searched" in cex.explanation:
            out.print("certain   not searched (--certain searches for the step after which failure was certain)",
                      markup=False)
        out.print(f"replay    {cex.replay_command}", markup=False)
    classes = f"{r.classes} equivalence classes, " if r.complete else ""
    exp = f" (expected: {vr.expected})" if vr.expected else ""
    probes = f"{_count(r.probes, 'PCT probe')}, {r.executions - r.probes} by dpor; " if r.probes else ""
    out.print(f"{r.verdict.upper()}{exp}: {_count(r.executions, 'execution')} ({probes}{classes}{r.blocked} blocked) "
              f"of {format_count(r.naive_interleavings)} naive interleavings; strategy {r.strategy}; "
              f"stopped: {r.stop_reason}; {r.wall_time:.2f} s", markup=False, style="bold")
    if r.symmetry:
        out.print(f"symmetry  {r.symmetry}", markup=False)
    if r.split is not None:
        sp = r.split
        out.print(f"split     {_count(sp.executions, 'execution')} in {_count(sp.taken, 'subtree')} run by "
                  f"{_count(sp.workers, 'worker process')} ({sp.sent} sent, {sp.handed_over} handed "
                  f"over unfinished, {sp.dropped} dropped, {sp.resent} sent again; raceproof.subtrees)"
                  f"{'; a worker died or hung, the rest ran in this process' if sp.worker_lost else ''}", markup=False)
    if r.verdict == "bounded":
        out.print("note: a bounded search is NOT a proof: interleavings beyond the bound were not explored",
                  markup=False)
    sys.exit(code)


def _count(n: int, noun: str) -> str:
    """``1 execution``, ``2 executions``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _progress(quiet: bool) -> tuple[Callable[[int, int, int], None] | None, Callable[[], None]]:
    if quiet or not err_console.is_terminal:
        return None, lambda: None
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    # refreshed from the search, not by rich's refresh thread: a search shares its subtrees with
    # processes forked from this one (``raceproof.subtrees``), best forked with no other thread
    prog = Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True,
                    auto_refresh=False)
    task = prog.add_task("exploring", total=None)
    prog.start()
    t0 = time.perf_counter()

    def update(done: int, failing: int, pending: int = -1) -> None:
        if done % 25:
            return
        rate = done / max(time.perf_counter() - t0, 1e-9)
        left = f", >= {pending} branches pending" if pending >= 0 else ""
        prog.update(task, description=f"exploring: {done} executions, {rate:,.0f}/s, {failing} counterexamples{left}",
                    refresh=True)

    return update, prog.stop


def _row_progress(total: int) -> tuple[Callable[[str | None, int], None], Callable[[int, int, int], None] | None]:
    """A progress line on stderr (only on a terminal): which mount-set row is being proved and,
    inside a long row, its executions and rate; it also keeps the interrupt summary's row count."""
    err = Console(stderr=True, markup=False, emoji=False)
    prog = None
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=True)
        task = prog.add_task("mount sets", total=total)

    current: dict[str, Any] = {"label": "", "t0": 0.0}

    def update(label: str | None, done: int) -> None:
        STATUS["rows"] = done  # for the summary of an interrupted run
        if prog is None:
            return
        if label is None:
            prog.stop()
            return
        if done == 0:
            prog.start()
        current["label"], current["t0"] = label, time.perf_counter()
        prog.update(task, completed=done, description=f"proving {label}")

    def inside(executions: int, failing: int, pending: int = -1) -> None:
        if prog is None or executions % 50:
            return
        rate = executions / max(time.perf_counter() - current["t0"], 1e-9)
        left = f", >= {pending} branches pending" if pending >= 0 else ""
        prog.update(task, description=f"proving {current['label']}: {executions} executions, {rate:,.0f}/s{left}")

    return update, (inside if prog is not None else None)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _verify_mount_sets(sc: Any, k: int, strategy: str, max_executions: int | None, as_json: bool,
                       driver: str, jobs: int = 1, checkpoint: str | None = None, resume: str | None = None,
                       dask: str | None = None, confluence: bool = True) -> int:
    """Render ``raceproof.mountsets.mount_set_rows``: a table (or JSON) and each refuted row's replay."""
    from raceproof.mountsets import all_mount_sets, mount_set_rows

    workers = (1, 2, 3, 4)
    on_row, inside = _row_progress(len(all_mount_sets(k)) * len(workers))
    found = mount_set_rows(sc, k, strategy=strategy, max_executions=max_executions, workers=workers,
                           driver=driver, on_row=on_row, progress=inside, jobs=jobs, checkpoint=checkpoint,
                           resume=resume, dask=dask, confluence=confluence)
    rows = found.rows
    if as_json:
        click.echo(json.dumps({"schema": "raceproof.mount-sets/1", "scenario": sc.file, "algorithm": sc.algorithm,
                               "max_mounts": k, "rows": rows, "all_met": found.all_met}, indent=2))
        return found.exit_code
    cols = ["set", "mounts", "nested", "workers", "verdict", "expected", "ok", "executions", "stop"]
    # the terminal's width on a terminal; wide enough for whole rows in a pipe or a CI log
    console = Console(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 200)
    console.print(table(rows, cols, f"{sc.algorithm}: every mount set up to {k} mounts"))
    for row in rows:
        if row.get("replay_command"):
            console.print(f"replay {row['set']} w{row['workers']}: {row['replay_command']}", markup=False,
                          soft_wrap=True)
    total = sum(int(row["executions"]) for row in rows)
    console.print(f"{len(rows)} rows, {total} executions; "
                  f"{'all expectations met' if found.all_met else 'MISMATCHES above'}", markup=False)
    return found.exit_code


def table(rows: list[dict[str, Any]], columns: list[str], title: str) -> Table:
    from rich.text import Text

    t = Table(title=Text(title))
    for c in columns:
        t.add_column(c)
    for row in rows:  # cells are Text: user text is never read as rich markup
        t.add_row(*[Text(literal("-" if row.get(c) is None else str(row[c]))) for c in columns])
    return t
