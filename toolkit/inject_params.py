"""Injector parameters: typed, ranged values with one-line errors (``Param``), path and op lists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raceproof.errors import closest

#: filesystem operations a generic fault may hit (not is_dir/exists, which swallow errors,
#: nor local steps such as download, take_job or the crash barrier)
FS_OPS = ("lstat", "stat", "mkdir", "rmdir", "unlink", "readdir", "opendir", "open", "write", "read",
          "close", "read_file", "write_file", "rename", "symlink", "readlink", "link", "realpath")


class ParamError(Exception):
    """A bad injector parameter (wrapped into InputError/ScenarioError by the caller)."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


@dataclass(frozen=True)
class Param:
    """One parameter of an injector: its type, default, allowed values and one-line help."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    #: every numeric parameter has a finite documented range (``raceproof injectors`` shows it)
    maximum: float | None = None
    #: longest accepted string value (characters)
    max_len: int = 4096

    def __post_init__(self) -> None:
        if self.kind in (int, float) and (self.minimum is None or self.maximum is None):
            raise TypeError(f"parameter {self.name!r}: a numeric parameter needs a finite minimum and maximum")

    def convert(self, raw: Any) -> Any:
        value = raw
        if isinstance(raw, str) and self.kind is not str:
            if len(raw) > 64:
                raise ParamError(self.name, f"must be {self.kind.__name__} (got a {len(raw)}-character value)")
            try:
                value = {"true": True, "false": False}[raw.lower()] if self.kind is bool else self.kind(raw)
            except (ValueError, KeyError):
                raise ParamError(self.name, f"must be {self.kind.__name__} (got {raw!r})") from None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > 1 << 53:
                raise ParamError(self.name, f"must be between {self.range.replace('..', ' and ')} (got {value})")
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise ParamError(self.name, f"must be {self.kind.__name__} (got {raw!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(self.name, f"must be a finite number (got {raw!r})")
        if isinstance(value, str):
            if len(value) > self.max_len:
                raise ParamError(self.name, f"must be at most {self.max_len} characters (got {len(value)})")
            if "\0" in value:
                raise ParamError(self.name, "must not contain NUL")
        if self.choices and value not in self.choices:
            hint = closest(str(value), self.choices)
            raise ParamError(self.name, f"must be one of {', '.join(self.choices)} (got {value!r})"
                             + (f"; did you mean {hint!r}?" if hint else ""))
        if self.kind in (int, float) and not self.minimum <= value <= self.maximum:  # type: ignore[operator]
            raise ParamError(self.name, f"must be between {self.range.replace('..', ' and ')} (got {value!r})")
        return value

    @property
    def range(self) -> str:
        """The documented range of a numeric parameter ('' for others)."""
        if self.kind not in (int, float):
            return ""
        if self.kind is int:
            return f"{int(self.minimum)}..{int(self.maximum)}"  # type: ignore[arg-type]
        return f"{self.minimum:g}..{self.maximum:g}"


def check_path_param(param: str, value: str, *, default_hint: str = "", allow_root: bool = True) -> str:
    """A path parameter: absolute and normalized (no '.', '..', '//', trailing '/'), within NAME_MAX/PATH_MAX.

    `default_hint` (what leaving it out means) makes an empty value an error that says so; with
    ``allow_root=False`` the root '/' is refused too."""
    if default_hint and not value:
        raise ParamError(param, f"must not be empty (leave it out for {default_hint})")
    if not allow_root and value == "/":
        raise ParamError(param, "must not be the root '/'")
    if not value.startswith("/"):
        raise ParamError(param, f"must be an absolute path (got {value!r})")
    parts = value.split("/")[1:]
    if value != "/" and any(p in ("", ".", "..") for p in parts):
        raise ParamError(param, f"must be a normalized path: no '.', '..', '//' or trailing '/' (got {value!r})")
    if len(value.encode("utf-8", "surrogatepass")) >= 4096 or any(len(p.encode("utf-8", "surrogatepass")) > 255
                                                                  for p in parts):
        raise ParamError(param, "is longer than PATH_MAX (4095 bytes) or has a component longer than NAME_MAX (255)")
    return value


def parse_ops(param: str, value: str, known: Sequence[str] = ()) -> tuple[str, ...]:
    """A comma-separated list of filesystem ops (every name must be one of FS_OPS); '' means all."""
    known = tuple(known) or FS_OPS
    ops = tuple(o.strip() for o in value.split(",") if o.strip())
    for op in ops:
        if op not in known:
            hint = closest(op, known)
            raise ParamError(param, f"unknown op {op!r}" + (f"; did you mean {hint!r}?" if hint else "")
                             + f" (ops: {', '.join(known)})")
    if value.strip() and not ops:
        raise ParamError(param, f"names no op (got {value!r})")
    return ops or known
