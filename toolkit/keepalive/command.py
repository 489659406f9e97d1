"""``raceproof compare`` and ``verify --stale``: thin rendering over ``compare`` and ``stale``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from raceproof.cli import EXIT_HELP, STATUS, guarded, literal, table
from raceproof.errors import InputError, closest
from raceproof.keepalive.compare import CRASH, Matrix, cell_scenario
from raceproof.keepalive.compare import compare as do_compare
from raceproof.properties import PROPERTIES
from raceproof.scenario import ALGORITHMS, Scenario, load

__all__ = ["cell_replay_command", "cell_scenario", "compare", "verify_stale"]

DEFAULT_BASE = "scenarios/keepalive.toml"


def check_algorithms(names: tuple[str, ...]) -> None:
    from raceproof.keepalive import CANDIDATES

    known = (*CANDIDATES, *ALGORITHMS)
    for name in names:
        if name not in known:
            hint = closest(name, known)
            raise InputError(f"compare: unknown algorithm {name!r} (known: {', '.join(known)})"
                             + (f"; did you mean {hint!r}?" if hint else ""))


def cell_text(cell: Any) -> str:
    if cell.verdict == "proved":
        return f"proved ({cell.executions} ex)"
    if cell.verdict == "refuted":
        return f"REFUTED @ {cell.where}"
    return str(cell.verdict)


def render_text(m: Matrix) -> list[str]:
    lines = []
    for a in m.algorithms:
        for c in m.row(a):
            if c.replay_command:
                lines.append(f"replay {a} {c.prop}: {c.replay_command}")
    win = m.winner
    lines.append(f"recommended: {win}" if win else "recommended: none (every candidate refuted on some cell)")
    return lines


@click.command(epilog=EXIT_HELP)
@click.argument("algorithms", nargs=-1, required=True)
@click.option("--scenario", "base", default=DEFAULT_BASE, show_default=True, type=click.Path(dir_okay=False),
              help="The base scenario (its properties, archives' flavour and backend).")
@click.option("--mount-sets", type=click.IntRange(min=1, max=3), default=2, show_default=True,
              help="Every mount set up to K mounts (workers 1..min(4, mounts)).")
@click.option("--stale", type=click.IntRange(min=0, max=3), default=1, show_default=True,
              help="Every previous-session tree of up to K stale entries.")
@click.option("--crash", is_flag=True, help="Also run every cell with a crash at every step, then a rerun (P5).")
@click.option("--max-executions", type=click.IntRange(min=1, max=10**9), default=None,
              help="Budget per run (a budget stop makes a cell inconclusive).")
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=1, show_default=True, metavar="N",
              help="Explore the runs in N processes (the verdicts, proved counts and replay commands of a "
                   "serial run; a refuted row's totals may be larger).")
@click.option("--no-split", "no_split", is_flag=True,
              help="With --crash: explore every crash run in full, not in two stages (each distinct crash "
                   "tree's rerun once; the same verdicts, fewer executions).")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False), default=None,
              help="Also write the matrix as keepalive.md, keepalive.html, keepalive.json and keepalive.xml.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema raceproof.compare/1).")
@guarded
def compare(algorithms: tuple[str, ...], base: str, mount_sets: int, stale: int, crash: bool,
            max_executions: int | None, jobs: int, no_split: bool, out: str | None, as_json: bool) -> None:
    """Prove or refute each keep-alive candidate against P1-P5 over mount sets x stale states."""
    check_algorithms(algorithms)
    sc = load(base)
    if not sc.properties:
        raise InputError(f"{base}: properties: the base scenario must select the properties (P1..P5)")
    m = do_compare(sc, algorithms, mount_sets, stale, crash, budget=max_executions, jobs=jobs, split=not no_split)
    if out is not None:
        from raceproof.reports.keepalive import write_all

        write_all(m, out)
    code = 0 if m.winner is not None else 1
    if any(c.verdict == "inconclusive" for c in m.cells.values()) and m.winner is None:
        code = 3
    if as_json:
        click.echo(json.dumps(m.to_json(), indent=2))
        sys.exit(code)
    from rich.console import Console

    console = Console(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 220)
    rows = [{"candidate": a, **{c.prop: cell_text(c) for c in m.row(a)}, "runs": m.runs.get(a, 0),
             "executions": m.executions.get(a, 0), "time": f"{m.seconds.get(a, 0):.1f}s"} for a in m.algorithms]
    console.print(table(rows, ["candidate", *PROPERTIES, "runs", "executions", "time"],
                        f"keep-alive candidates: mount sets <= {mount_sets}, stale <= {stale}"
                        + (", crash + rerun" if crash else "")))
    for line in render_text(m):
        console.print(literal(line), markup=False, soft_wrap=True)
    sys.exit(code)


def verify_stale(sc: Scenario, k_mounts: int, k_stale: int, inject: tuple[str, ...], budget: int | None,
                 as_json: bool, checkpoint: str | None = None, resume: str | None = None, jobs: int = 1) -> int:
    """``verify --stale K [--mount-sets K]``: one row per (mount set, workers, stale state).

    With `checkpoint`, the rows done are written to that file after each row; with `resume`,
    the rows of that checkpoint (of this very table) are not explored again
    (``raceproof.checkpoint``, as for ``--mount-sets``). With `jobs` > 1, once ``STALE_WARMUP``
    executions ran here, the other rows are explored in that many processes
    (``raceproof.mountsets.parallel_map``) and taken in order: the table of a serial run."""
    from raceproof import checkpoint as ckpt
    from raceproof.keepalive.compare import runs_for
    from raceproof.keepalive.stale import apply, states

    if not sc.properties:
        raise InputError(f"{sc.file}: properties: --stale needs the keep-alive properties (properties = [...])")
    crash = CRASH in inject
    if k_mounts:
        plan = [(spec, s) for spec, s in runs_for(sc, sc.algorithm, k_mounts, k_stale, False)]
    else:
        from raceproof.keepalive.compare import RunSpec

        plan = [(RunSpec(sc.algorithm, "", sc.workers, st, crash), apply(sc, st)) for st in states(sc, k_stale)]
    search = {"command": "verify --stale", "scenario": os.path.basename(sc.file), "digest": sc.digest,
              "algorithm": sc.algorithm, "max_stale": k_stale, "max_mounts": k_mounts, "inject": list(inject),
              "max_executions": budget}
    rows: list[dict[str, Any]] = []
    if checkpoint is not None:
        ckpt.writable(checkpoint)
    if resume is not None:
        rows = ckpt.read_rows(resume, search, [{"mount_set": spec.mount_set or "(scenario)", "workers": spec.workers,
                                                "stale": spec.state} for spec, _s in plan])
    units = [(spec, s, crash, set(sc.properties), budget) for spec, s in plan[len(rows):]]
    ran = 0
    for i, unit in enumerate(units):
        if jobs > 1 and ran >= STALE_WARMUP and len(units) - i > 1:
            from raceproof.mountsets import parallel_map, user_modules

            done = parallel_map(_stale_row, units[i:], jobs, modules=user_modules(sc))
            try:
                for row in done:
                    _stale_done(rows, row, checkpoint, search)
            finally:
                done.close()  # the processes stop at once on an interrupt or an error
            break
        row = _stale_row(unit)
        ran += row["executions"]
        _stale_done(rows, row, checkpoint, search)
    ok = all(row["verdict"] != "unsafe" for row in rows)
    met = (sc.expect_verify is None and ok) or (sc.expect_verify == ("safe" if ok else "unsafe"))
    if as_json:
        click.echo(json.dumps({"schema": "raceproof.stale-states/1", "scenario": sc.file, "algorithm": sc.algorithm,
                               "max_stale": k_stale, "max_mounts": k_mounts, "rows": rows}, indent=2))
    else:
        from rich.console import Console

        console = Console(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 200)
        console.print(table(rows, ["mount_set", "workers", "stale", "verdict", "violated", "executions"],
                            f"{sc.algorithm}: every stale state up to {k_stale} entries"))
        console.print(f"{len(rows)} rows; {'all safe' if ok else 'UNSAFE rows above'}", markup=False)
    return 0 if met else 1


#: executions of a ``--stale`` table run in this process before its other rows go to ``--jobs``
#: processes (a small table never pays for starting them)
STALE_WARMUP = 500


def _stale_done(rows: list[dict[str, Any]], row: dict[str, Any], checkpoint: str | None,
                search: dict[str, Any]) -> None:
    from raceproof import checkpoint as ckpt

    rows.append(row)
    STATUS["rows"] = len(rows)  # for the summary of an interrupted run
    if checkpoint is not None:
        ckpt.write(checkpoint, ckpt.Checkpoint(search, rows))


def _stale_row(unit: tuple[Any, Scenario, bool, set[str], int | None]) -> dict[str, Any]:
    """One row of ``verify --stale``: its run explored up to the first broken property (in this
    process or a worker's)."""
    from raceproof.keepalive.compare import explore_run

    spec, s, crash, properties, budget = unit
    first, n, complete, _r, _p = explore_run(s, crash, properties, budget, stop_at_first=True)
    verdict = "unsafe" if first else "safe" if complete else "inconclusive"
    return {"mount_set": spec.mount_set or "(scenario)", "workers": spec.workers, "stale": spec.state,
            "verdict": verdict, "violated": " ".join(sorted(first)), "executions": n}


def cell_replay_command(file: str, sc: Scenario, mount_set: str | None, state: str | None,
                        inject: tuple[str, ...], token: str, backend: str) -> str:
    """The replay command of a run of ``replay --algorithm/--stale-state`` (the same cell again)."""
    import shlex

    parts = ["raceproof", "replay", file, "--algorithm", sc.algorithm]
    if mount_set:
        parts += ["--mount-set", mount_set]
    if state:
        parts += ["--stale-state", state]
    for spec in inject:
        parts += ["--inject", spec]
    if backend != "memory":
        parts += ["--backend", backend]
    return shlex.join([*parts, "--token", token])
