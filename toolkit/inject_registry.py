"""The injector registry: names to classes (imported lazily, so the core never imports
``injectors`` by name), ``--inject`` specs and ``[[inject]]`` tables to injector objects."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raceproof.errors import InputError, ScenarioError, UnknownNameError, closest
from raceproof.inject_params import ParamError
from raceproof.injector import BaseInjector, Injector

if TYPE_CHECKING:
    from raceproof.scenario import Scenario

#: injector name -> "module:Class" (imported lazily)
REGISTRY: dict[str, str] = {
    "errno": "raceproof.injectors.errno_at:ErrnoAtStep",
    "disk-full": "raceproof.injectors.diskfull:DiskFull",
    "truncate": "raceproof.injectors.archive:Truncate",
    "corrupt": "raceproof.injectors.archive:Corrupt",
    "slow-download": "raceproof.injectors.download:SlowDownload",
    "crash": "raceproof.injectors.crash:CrashRerun",
    "stale": "raceproof.injectors.stale:StaleFiles",
    "writer": "raceproof.injectors.writer:PreviousWriter",
    "hostile": "raceproof.injectors.hostile:HostileArchive",
    "case-insensitive": "raceproof.injectors.caseless:CaseInsensitive",
}


def injector_class(name: str) -> type[BaseInjector]:
    target = REGISTRY.get(name)
    if target is None:
        raise UnknownNameError("injector", name, REGISTRY)
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"NAME:k=v,k2=v2"`` -> ``("NAME", {"k": "v", "k2": "v2"})``."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise InputError(f"--inject {spec!r}: missing injector name (expected NAME[:PARAM=VALUE,...])")
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--inject {spec!r}: {item!r} is not PARAM=VALUE")
        params[key.strip()] = value.strip()
    return name, params


def make(name: str, params: dict[str, Any], index: int = 0) -> BaseInjector:
    """Instantiate an injector by name (ParamError on a bad parameter)."""
    return injector_class(name)(index, **params)


def build_injectors(scenario: Scenario, specs: Sequence[str] = ()) -> list[BaseInjector]:
    """The scenario's ``[[inject]]`` tables, then the ``--inject`` specs, as injector objects."""
    out: list[BaseInjector] = []
    for i, table in enumerate(scenario.inject):
        params = {k: v for k, v in table.items() if k != "name"}
        name = table["name"]
        if name not in REGISTRY:
            hint = closest(str(name), REGISTRY)
            raise ScenarioError(scenario.file, f"inject[{i}].name",
                                f"unknown injector {name!r}; known: {', '.join(sorted(REGISTRY))}"
                                + (f"; did you mean {hint!r}?" if hint else ""))
        try:
            inj = make(name, params, len(out))
        except ParamError as exc:
            raise ScenarioError(scenario.file, f"inject[{i}].{exc.param}", f"injector {name!r}: {exc}") from None
        inj.origin = (f"{scenario.file}: inject[{i}]", f"injector {name!r}")
        out.append(inj)
    for spec in specs:
        if len(spec) > 4096:
            raise InputError(f"--inject: the spec is too long ({len(spec)} characters)")
        name, params = parse_spec(spec)
        try:
            inj = make(name, params, len(out))
        except ParamError as exc:
            raise InputError(f"--inject {spec!r}: injector {name!r}, parameter {exc.param!r}: {exc}") from None
        inj.origin = (f"--inject {spec!r}", f"injector {name!r}")
        out.append(inj)
    return out


def param_error(inj: Injector, exc: ParamError) -> InputError:
    """A ParamError raised when an injector met the program (``bind``), naming where it came from."""
    where, what = inj.origin
    if where.startswith("--inject"):
        return InputError(f"{where}: {what}, parameter {exc.param!r}: {exc}")
    return InputError(f"{where}.{exc.param}: {what}: {exc}")


def specs_digest(digest: str, specs: Sequence[str]) -> str:
    """A program digest that also covers command-line injectors (so tokens name them)."""
    if not specs:
        return digest
    return hashlib.sha256((digest + "|" + "|".join(specs)).encode()).hexdigest()[:12]


def describe() -> list[dict[str, Any]]:
    """Every injector with its parameters and description (for ``raceproof injectors``)."""
    rows = []
    for name in REGISTRY:
        cls = injector_class(name)
        rows.append({"name": name, "description": cls.description,
                     "params": [{"name": p.name, "type": p.kind.__name__, "default": p.default, "help": p.help,
                                 "choices": list(p.choices), "range": p.range} for p in cls.params],
                     "explores": bool(cls.explores)})
    return rows
