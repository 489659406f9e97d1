"""``raceproof report SCENARIO... -o DIR``: verify scenarios and write report.md/.html/.json and junit.xml.

Every format is rendered from the report JSON; ``--from-json FILE`` re-renders a saved report.json
(of this schema version) without verifying anything. Exit codes follow ``raceproof verify``: 0 every
variant met its expectation, 1 one did not, 2 bad input, 3 inconclusive, 4 internal error.
"""

from __future__ import annotations

import os
import shlex
import sys
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


def prepare_output(directory: str) -> None:
    """Create `directory` and prove it is writable, or raise a one-line InputError."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".raceproof-write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("")
        os.unlink(probe)
    except FileExistsError:
        raise InputError(f"{directory}: output path exists and is not a directory") from None
    except OSError as exc:
        raise InputError(f"{directory}: output directory is not writable: {exc.strerror or exc}") from None


def render_all(report: dict[str, Any], directory: str, formats: list[str]) -> list[str]:
    from raceproof.reports import html, junit, markdown, model

    renderers = {"md": markdown.render, "html": html.render, "json": model.dumps, "junit": junit.render}
    written = []
    for fmt in formats:
        path = os.path.join(directory, FORMATS[fmt])
        text = renderers[fmt](report)
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        written.append(path)
    return written


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
@click.option("--max-executions", type=click.IntRange(min=1), default=None, help="Stop after N executions per variant.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random and pct.")
@click.option(
    "--from-json",
    "from_json",
    type=click.Path(dir_okay=False),
    default=None,
    help="Re-render a saved report.json instead of verifying scenarios.",
)
@guarded
def report(
    scenarios: tuple[str, ...],
    output: str,
    formats: str,
    strategy: str,
    max_executions: int | None,
    seed: int,
    from_json: str | None,
) -> None:
    """Verify SCENARIO... and write a postmortem verification report (Markdown, HTML, JSON, JUnit) to DIR."""
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
        data = model.load(from_json)
    else:
        loaded = [load(s) for s in scenarios]
    prepare_output(output)
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
        data = model.build_report(
            loaded, strategy=strategy, max_executions=max_executions, seed=seed, command=shlex.join(argv)
        )
        model.validate(data, "generated report")
    written = render_all(data, output, fmts)
    for v in data["variants"]:
        exp = f" (expected {v['expected']}: {'met' if v['expectation_met'] else 'NOT met'})" if v["expected"] else ""
        click.echo(f"{v['id']}: {v['outcome']}{exp}; {v['exploration']['executions']} executions")
    for path in written:
        click.echo(f"wrote {path}")
    sys.exit(exit_code(data))
