"""The report document's schema and I/O: validate against ``reports/schema.json``, load, dump,
normalize for golden files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from raceproof.errors import InputError

SCHEMA_VERSION = 1
KIND = "raceproof-report"


class ReportError(InputError):
    """A report JSON that cannot be used: unreadable, not a report, another schema version, invalid."""


def schema() -> dict[str, Any]:
    text = (Path(__file__).parent / "schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def validate(report: Any, source: str = "report") -> None:
    """Raise ReportError (one line) unless `report` is a valid report of this schema version."""
    if not isinstance(report, dict) or "schema_version" not in report:
        raise ReportError(f"{source}: not a raceproof report (no 'schema_version' field)")
    version = report["schema_version"]
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: schema_version {version!r} is not supported "
            f"(this raceproof reads schema_version {SCHEMA_VERSION})"
        )
    found = first_error(schema(), report)
    if found is not None:
        where, message, others = found
        more = f" (+{others} more)" if others else ""
        raise ReportError(f"{source}: invalid report at {where}: {message}{more}")


def first_error(json_schema: dict[str, Any], doc: Any) -> tuple[str, str, int] | None:
    """The first place `doc` breaks `json_schema` (draft 2020-12), in path order: the field as
    ``a/b/0`` (``(top level)``), the message's first line, and how many other errors there are."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json_schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = errors[0]
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    return where, err.message.splitlines()[0][:200], len(errors) - 1


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    validate(data, path)
    return data  # type: ignore[no-any-return]


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def normalize(report: dict[str, Any]) -> dict[str, Any]:
    """A copy with the volatile fields fixed (wall times, environment, version): for golden files."""
    out = copy.deepcopy(report)
    for v in out.get("variants", []):
        v["exploration"]["wall_time_s"] = 0.0
    out["environment"] = {"python": "X", "platform": "X", "trio": "X"}
    out["tool"]["version"] = "X"
    for row in (out.get("keepalive") or {}).get("rows", []):
        row["seconds"] = 0.0
    return out
