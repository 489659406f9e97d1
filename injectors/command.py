"""``raceproof injectors``: every fault injector, its parameters and a one-line description."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from raceproof.inject_registry import describe


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of the table.")
def injectors(as_json: bool) -> None:
    """List every fault injector (use with --inject NAME[:PARAM=VALUE,...] or [[inject]])."""
    rows = describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="raceproof fault injectors", show_lines=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("explores", no_wrap=True)
    table.add_column("description")
    table.add_column("parameters (default)")
    for row in rows:
        params = "\n".join(
            f"{p['name']}={p['default']!r}" + (f" [{'|'.join(p['choices'])}]" if p["choices"] else "")
            + (f" [{p['range']}]" if p.get("range") else "")
            + f": {p['help']}" for p in row["params"]) or "-"
        table.add_row(row["name"], "yes" if row["explores"] else "no", row["description"], params)
    Console(highlight=False, soft_wrap=False, markup=False, emoji=False).print(table)
