"""JSON Schemas of the documents ``raceproof … --json`` prints (``reports/schemas/*.json``): find a
document's schema by its ``schema`` field and validate it, for scripts that consume the CLI."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from raceproof.errors import InputError
from raceproof.reports.schema_io import first_error

DIR = Path(__file__).parent / "schemas"
_NAME = re.compile(r"raceproof\.([a-z-]+)/1")


def names() -> list[str]:
    """Every document name with a schema (``verify`` for ``raceproof.verify/1``)."""
    return sorted(p.stem for p in DIR.glob("*.json"))


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((DIR / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def validate(doc: Any, source: str = "document") -> None:
    """Raise InputError (one line, naming the field) unless `doc` is a valid CLI document."""
    tag = doc.get("schema") if isinstance(doc, dict) else None
    m = _NAME.fullmatch(tag) if isinstance(tag, str) else None
    if m is None or m.group(1) not in names():
        raise InputError(f"{source}: schema: {tag!r} is not a raceproof CLI document ({', '.join(names())})")
    found = first_error(schema(m.group(1)), doc)
    if found is not None:
        where, message, _others = found
        raise InputError(f"{source}: {where}: {message}")
