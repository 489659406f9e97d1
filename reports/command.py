"""``raceproof report SCENARIO... -o DIR``: verify scenarios and write report.md/.html/.json and junit.xml.

``--keepalive FILE`` embeds an already computed ``raceproof compare`` matrix as the report's
keep-alive section (checked first: a malformed one, or one computed for another version of its base
scenario, is a one-line error and nothing runs).

Every format is rendered from the report JSON; ``--from-json FILE`` re-renders a saved report.json
(of this schema version) without verifying anything. Exit codes follow ``raceproof verify``: 0 every
variant met its expectation, 1 one did not, 2 bad input, 3 inconclusive, 4 internal error.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from typing import Any

import click

from raceproof.cli import EXIT_HELP, guarded
from raceproof.errors import InputError, UnknownNameError

FORMATS = {"md": "report.md", "html": "report.html", "json": "report.json", "junit": "junit.xml"}


def parse_formats(value: str) -> list[str]:
    names = [f.strip() for f in value.split(",") if f.strip()]
    if not names:
        raise InputError("--format: give at least one of " + ", ".join(FORMATS))
    for name in names:
        if name not in FORMATS:
            raise UnknownNameError("format", name, FORMATS)
    return list(dict.fromkeys(names))


def prepare_output(directory: str) -> bool:
    """Check that `directory` can receive the reports, or raise a one-line InputError. Nothing is
    created here (a run that fails later leaves no empty directory): returns whether it exists."""
    if os.path.isdir(directory):
        if not os.access(directory, os.W_OK | os.X_OK):
            raise InputError(f"{directory}: output directory is not writable")
        return True
    if os.path.lexists(directory):
        raise InputError(f"{directory}: output path exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(directory))
    while not os.path.isdir(parent):  # the nearest existing ancestor must let us create it
        if os.path.lexists(parent):
            raise InputError(f"{directory}: output directory is not writable ({parent} is not a directory)")
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{directory}: cannot create the output directory ({parent} is not writable)")
    return False


def render_all(report: dict[str, Any], directory: str, formats: list[str]) -> list[str]:
    """Render every format in memory, write each to a temporary file in `directory`, then rename
    them all into place: all of them or none (a full disk, an error or an interrupt before the
    renames leaves the previous reports, if any, untouched and no partial file behind)."""
    from raceproof.reports import html, junit, markdown, model

    renderers = {"md": markdown.render, "html": html.render, "json": model.dumps, "junit": junit.render}
    texts = {fmt: renderers[fmt](report) for fmt in formats}  # a renderer's error writes nothing
    created = not os.path.isdir(directory)
    temps: dict[str, str] = {}
    path = directory
    done = False
    try:
        os.makedirs(directory, exist_ok=True)
        for fmt, text in texts.items():
            path = os.path.join(directory, FORMATS[fmt])
            fd, tmp = tempfile.mkstemp(prefix=f".{FORMATS[fmt]}.", suffix=".tmp", dir=directory)
            temps[fmt] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        written = []
        for fmt in texts:  # renames do not need space: they cannot fail on a full disk
            path = os.path.join(directory, FORMATS[fmt])
            os.replace(temps.pop(fmt), path)
            written.append(path)
        done = True
        return written
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        for tmp in temps.values():  # anything not renamed into place (error or interrupt)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if created and not done:
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # only if we created it and it is still empty


def exit_code(report: dict[str, Any]) -> int:
    variants = report["variants"]
    if any(v["verdict"] in ("inconclusive", "bounded") for v in variants):
        return 3
    if any(v["expectation_met"] is False or (v["expected"] is None and v["verdict"] != "safe") for v in variants):
        return 1
    return 0


@click.command(epilog=EXIT_HELP)
@click.argument("scenarios", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(), help="Directory to write the reports to.")
@click.option(
    "--format",
    "formats",
    default="md,html,json,junit",
    show_default=True,
    metavar="LIST",
    help=f"Comma-separated formats: {', '.join(FORMATS)}.",
)
@click.option("--strategy", default="dpor", show_default=True, metavar="NAME", help="Exploration strategy.")
@click.option("--max-executions", type=click.IntRange(min=1, max=10**9), default=None,
              help="Stop after N executions per variant; 1..10^9.")
@click.option("--seed", type=click.IntRange(min=0, max=(1 << 63) - 1), default=0, show_default=True,
              help="Seed for random and pct; 0..2^63-1.")
@click.option("--allow-import", "allow_import", multiple=True, metavar="MODULE|FILE.py",
              help="Allow a scenario's algorithm = 'MODULE:function' to import MODULE (see 'raceproof verify --help').")
@click.option(
    "--from-json",
    "from_json",
    type=click.Path(dir_okay=False),
    default=None,
    help="Re-render a saved report.json instead of verifying scenarios.",
)
@click.option(
    "--keepalive",
    "keepalive",
    type=click.Path(dir_okay=False),
    default=None,
    help="Embed an already computed keep-alive matrix (raceproof compare --json or -o DIR's keepalive.json) "
    "as the report's keep-alive section.",
)
@click.option("--jobs", type=click.IntRange(min=1, max=1024), default=None, metavar="N",
              help="Verify the scenarios in N processes (default: every usable core; 1: in this process). "
                   "The report is the same.")
@guarded
def report(
    scenarios: tuple[str, ...],
    output: str,
    formats: str,
    strategy: str,
    max_executions: int | None,
    seed: int,
    allow_import: tuple[str, ...],
    from_json: str | None,
    keepalive: str | None,
    jobs: int | None,
) -> None:
    """Verify SCENARIO... and write a postmortem verification report (Markdown, HTML, JSON, JUnit) to DIR."""
    from raceproof.cli import usable_cores
    from raceproof.reports import model
    from raceproof.scenario import load
    from raceproof.strategies import REGISTRY

    fmts = parse_formats(formats)
    if from_json and scenarios:
        raise InputError("give scenarios or --from-json, not both")
    if not from_json and not scenarios:
        raise InputError("give at least one scenario file (or --from-json FILE)")
    if strategy not in REGISTRY or strategy == "replay":
        raise UnknownNameError("strategy", strategy, [n for n in REGISTRY if n != "replay"])
    if from_json:
        from raceproof.scenario import read_input

        read_input(from_json, "report JSON file", 1 << 26)  # a regular, bounded, UTF-8 file (no FIFO, no /dev/zero)
        data = model.load(from_json)
    else:
        loaded = [load(s, allow_import=allow_import) for s in scenarios]
    matrix = None
    if keepalive:
        from raceproof.reports.keepalive import load_compare

        matrix = load_compare(keepalive)  # checked before any verification runs
    prepare_output(output)
    if from_json and matrix is not None:
        data["keepalive"] = matrix
        model.validate(data, "report with keep-alive matrix")
    if not from_json:
        argv = ["raceproof", "report", *scenarios, "-o", output]
        if formats != "md,html,json,junit":
            argv += ["--format", formats]
        if strategy != "dpor":
            argv += ["--strategy", strategy]
        if max_executions is not None:
            argv += ["--max-executions", str(max_executions)]
        if seed:
            argv += ["--seed", str(seed)]
        if keepalive:
            argv += ["--keepalive", keepalive]
        data = model.build_report(
            loaded, strategy=strategy, max_executions=max_executions, seed=seed, command=shlex.join(argv),
            keepalive=matrix, jobs=jobs or usable_cores(),
        )
        model.validate(data, "generated report")
    written = render_all(data, output, fmts)
    for v in data["variants"]:
        exp = f" (expected {v['expected']}: {'met' if v['expectation_met'] else 'NOT met'})" if v["expected"] else ""
        click.echo(f"{v['id']}: {v['outcome']}{exp}; {v['exploration']['executions']} executions")
    if data.get("keepalive") is not None:
        win = data["keepalive"]["winner"]
        click.echo(f"keep-alive: recommended {win}" if win else "keep-alive: no candidate proved on every cell")
    for path in written:
        click.echo(f"wrote {path}")
    sys.exit(exit_code(data))
