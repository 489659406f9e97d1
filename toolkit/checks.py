"""Checks: the judges of a finished execution, one typed plug-in kind (``Check``) with a registry.

A check has a ``name`` and a ``judge(execution, context)`` that returns violations, each naming
the check (``Violation.check``) and the entry it is about (``Violation.path``). A scenario selects
its checks by name (``checks = [...]``; ``module:attr`` for a user's own, with ``--allow-import``),
``explore()`` and the pytest plugin take ``checks=[...]`` (names or ``Check`` objects), and
``register`` adds a check to the registry under its name.

Built in (the incident's oracles; by default a scenario runs the first four, in this order):

- ``no-worker-error``: no worker raised; ``no-deadlock``: no thread was left waiting forever.
- ``final-tree``: every entry every archive put there is present with its content. A missing
  entry with no worker error is reported as *silent loss*: the postmortem's blind spot. With
  ``stale = "forbid"`` nothing else may remain under a mount root either.
- ``confinement``: nothing was created outside the mount roots.
- ``P1``..``P5``: the keep-alive properties (``raceproof.properties``) through an adapter. They
  are judged together (P5 relabels a P1/P2/P4 violation after a crash), so the violations of the
  properties a list selects come out at the place of its first property, in the properties' order.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from raceproof.errors import InputError, closest
from raceproof.execution import Execution, Violation, default_violations
from raceproof.fs.base import join, parent_of, under
from raceproof.models import tar
from raceproof.properties import PROPERTIES, property_violations
from raceproof.scheduler import Crash

if TYPE_CHECKING:
    from raceproof.injector import Injector
    from raceproof.scenario import Scenario

__all__ = ["CHECKS", "DEFAULT_CHECKS", "Check", "CheckContext", "FunctionCheck", "Properties", "check",
           "expected_tree", "incident_violations", "judge", "register", "resolve", "under"]


class ScenarioProgram(Protocol):
    """What the keep-alive properties read of a scenario's program (``IncidentProgram``)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def roots(self) -> list[str]: ...
    @property
    def expected(self) -> dict[str, str]: ...
    @property
    def injectors(self) -> list[Injector]: ...
    @property
    def crash_free_broken(self) -> set[str]: ...


@dataclass(frozen=True)
class CheckContext:
    """What a check may read besides the execution: the mount roots, what the archives put on
    disk (``expected_tree``), the tree before the run, the scenario's ``stale`` option, and the
    scenario's program (None for ``explore()``'s programs)."""

    roots: tuple[str, ...] = ()
    expected: Mapping[str, str] = field(default_factory=dict)
    initial: Mapping[str, str] = field(default_factory=dict)
    forbid_stale: bool = False
    program: ScenarioProgram | None = None


@runtime_checkable
class Check(Protocol):
    """A judge of one finished execution (its ``results``, ``trace`` and final ``tree``)."""

    @property
    def name(self) -> str: ...

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        """The violations of `execution`: each names this check and the entry it is about."""


@dataclass(frozen=True)
class FunctionCheck:
    """A check made of a function ``fn(execution, context) -> violations`` (see ``check``)."""

    name: str
    fn: Callable[[Execution, CheckContext], Sequence[Violation]]

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        return self.fn(execution, context)


def check(name: str) -> Callable[[Callable[[Execution, CheckContext], Sequence[Violation]]], FunctionCheck]:
    """Decorator: ``@check("my-check")`` over ``def f(execution, context)`` makes a ``Check``."""
    def wrap(fn: Callable[[Execution, CheckContext], Sequence[Violation]]) -> FunctionCheck:
        return FunctionCheck(name, fn)

    return wrap


# the incident's oracles --------------------------------------------------------------------------

def expected_tree(mounts: Sequence[tuple[str, Sequence[tar.Member]]]) -> dict[str, str]:
    """What the archives put on disk, as ``Vfs.tree`` describes it (later mounts win).

    A hard link member adds a second name for its source file: the first of the names in
    ``Vfs.tree``'s walk order keeps ``file:<hex>``, the others read ``hardlink:<first>``. A link
    whose source is absolute, escapes with ``..`` or is missing fails at extraction (tar-rs
    validates it), so it adds nothing here; that failure is the worker's error."""
    out: dict[str, str] = {}
    group: dict[str, int] = {}  # path -> inode group, for files with hard links
    gids = itertools.count()
    for root, members in mounts:
        for anc in _ancestors(root):
            out.setdefault(anc, "dir")
        out[root] = "dir"
        for m in members:
            parts = tar.sanitize(m.name)
            if parts is None:
                continue
            path = join(root, "/".join(parts))
            for anc in _ancestors(path):
                if under(anc, root):
                    out.setdefault(anc, "dir")
            if m.kind == "dir":
                out.setdefault(path, "dir")
            elif m.kind == "symlink":
                out[path] = "link:" + m.target
                group.pop(path, None)
            elif m.kind == "file":
                out[path] = "file:" + m.data.hex()
                group.pop(path, None)
            elif m.kind == "hardlink" and m.target and not m.target.startswith("/"):
                src_parts = tar.sanitize(m.target)
                src = join(root, "/".join(src_parts)) if src_parts else ""
                if out.get(src, "").startswith("file:") and path not in out:
                    out[path] = out[src]
                    if src not in group:
                        group[src] = next(gids)
                    group[path] = group[src]
    members_of: dict[int, list[str]] = {}
    for path, gid in group.items():
        members_of.setdefault(gid, []).append(path)
    for paths in members_of.values():
        paths.sort(key=lambda p: p.split("/"))
        for other in paths[1:]:
            out[other] = "hardlink:" + paths[0]
    return out


def _ancestors(path: str) -> list[str]:
    out = []
    while path != "/":
        path = parent_of(path)
        if path != "/":
            out.append(path)
    return out


class NoWorkerError:
    """``no-worker-error``: a thread that raised is a failure, reported at the step that raised."""

    name = "no-worker-error"

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        return [v for v in default_violations(execution) if v.check == self.name]


class NoDeadlock:
    """``no-deadlock``: every thread finished (none was left waiting for an event that never came)."""

    name = "no-deadlock"

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        return [Violation(check=self.name, message=execution.deadlock)] if execution.deadlock else []


class FinalTree:
    """``final-tree``: every archive entry is in the final tree with its content; with
    ``stale = "forbid"``, nothing else is under a mount root."""

    name = "final-tree"

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        out = []
        tree = execution.tree
        roots = context.roots
        missing = [p for p, d in sorted(context.expected.items())
                   if tree.get(p) != d and any(under(p, r) for r in roots)]
        if missing:
            errors = bool(execution.deadlock) or any(
                r.error is not None and not isinstance(r.error, Crash) for r in execution.results)
            lost = missing[0]
            what = "missing" if lost not in tree else "has other content"
            kind = "silent loss (no worker reported an error)" if not errors else "entries lost"
            out.append(Violation(check=self.name, path=lost,
                                 message=f"{kind}: {len(missing)} archive entr{'y' if len(missing) == 1 else 'ies'} "
                                         f"not in the final tree; first: {lost} {what}"))
        if context.forbid_stale:
            stale = [p for p in sorted(tree) if any(under(p, r) for r in roots) and p not in context.expected]
            if stale:
                out.append(Violation(check=self.name, path=stale[0],
                                     message=f"stale entries survived: {len(stale)}; first: {stale[0]}"))
        return out


class Confinement:
    """``confinement``: nothing was created outside the mount roots."""

    name = "confinement"

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        tree = execution.tree
        allowed = set(context.expected) | set(context.initial)
        outside = [p for p in sorted(tree) if p not in allowed and not any(under(p, r) for r in context.roots)]
        if not outside:
            return []
        return [Violation(check=self.name, path=outside[0],
                          message=f"created outside every mount root: {outside[0]}"
                                  + (f" (+{len(outside) - 1} more)" if len(outside) > 1 else ""))]


def incident_violations(execution: Execution, roots: Sequence[str], expected: Mapping[str, str],
                        initial: Mapping[str, str], *, forbid_stale: bool = False) -> list[Violation]:
    """The default checks of a scenario (``DEFAULT_CHECKS``) on `execution`."""
    context = CheckContext(tuple(roots), expected, initial, forbid_stale)
    return judge([CHECKS[n] for n in DEFAULT_CHECKS], execution, context)


# the keep-alive properties as checks -------------------------------------------------------------

class Properties:
    """The adapter of the keep-alive properties `names` (``P1``..``P5``, ``raceproof.properties``)
    to one ``Check``: its violations are named by their property. It needs a scenario's program."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(dict.fromkeys(names))
        self.name = "+".join(self.names)
        self._view: tuple[ScenarioProgram, ScenarioProgram] | None = None

    def judge(self, execution: Execution, context: CheckContext) -> Sequence[Violation]:
        program = context.program
        if program is None:
            raise InputError(f"check {self.name}: the keep-alive properties judge a scenario "
                             "(its mounts and archives): select them in a scenario file")
        return property_violations(execution, self._selecting(program))

    def _selecting(self, program: ScenarioProgram) -> ScenarioProgram:
        """`program`, or a view of it whose scenario selects exactly these properties."""
        if set(program.scenario.properties) == set(self.names):
            return program
        if self._view is None or self._view[0] is not program:
            self._view = (program, _PropertyView(dataclasses.replace(program.scenario, properties=self.names),
                                                 program.roots, program.expected, program.injectors,
                                                 program.crash_free_broken))
        return self._view[1]


@dataclass(frozen=True)
class _PropertyView:
    scenario: Scenario
    roots: list[str]
    expected: dict[str, str]
    injectors: list[Injector]
    crash_free_broken: set[str]  # the program's own set: P5's memory is shared, not copied


# the registry ------------------------------------------------------------------------------------

#: every check by name; ``register`` adds one
CHECKS: dict[str, Check] = {c.name: c for c in (NoWorkerError(), NoDeadlock(), FinalTree(), Confinement())}
CHECKS.update({p: Properties([p]) for p in PROPERTIES})
#: what judges a scenario that names no checks (and no ``properties``)
DEFAULT_CHECKS = ("no-worker-error", "no-deadlock", "final-tree", "confinement")
_BUILTIN = frozenset(CHECKS)


def register(c: Check) -> Check:
    """Add `c` to the registry under its name (a later registration of the name replaces it;
    a built-in check's name is refused). Returns `c`."""
    if not isinstance(c, Check) or not isinstance(c.name, str) or not c.name:
        raise InputError(f"register: {c!r} is not a check (it needs a 'name' and a 'judge(execution, context)')")
    if c.name in _BUILTIN:
        raise InputError(f"register: {c.name!r} is a built-in check's name")
    CHECKS[c.name] = c
    return c


def lookup(item: str | Check, where: str = "checks") -> Check:
    """The check `item` names: a registered name, ``module:attr`` (an object with ``name`` and
    ``judge``, or a class making one with no arguments; the module is imported), or a ``Check``."""
    if not isinstance(item, str):
        if not isinstance(item, Check):
            raise InputError(f"{where}: {item!r} is not a check (it needs a 'name' and a 'judge(execution, context)')")
        return item
    if item in CHECKS:
        return CHECKS[item]
    if ":" in item:
        module, _, attr = item.partition(":")
        from raceproof.scenario import no_bytecode

        try:
            with no_bytecode():
                obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"{where}: {item!r}: cannot import ({exc})") from None
        if isinstance(obj, type):
            obj = obj()
        if not isinstance(obj, Check):
            raise InputError(f"{where}: {item!r} is not a check (it needs a 'name' and a 'judge(execution, context)')")
        return obj
    hint = closest(item, CHECKS)
    raise InputError(f"{where}: unknown check {item!r}{f'; did you mean {hint!r}?' if hint else ''} "
                     f"(known: {', '.join(CHECKS)}; or 'module:attr')")


def resolve(items: Sequence[str | Check], where: str = "checks") -> list[Check]:
    """The checks `items` name, in order; the keep-alive properties among them become one
    ``Properties`` check at the place of the first (they are judged together)."""
    props = [i for i in items if isinstance(i, str) and i in PROPERTIES]
    out: list[Check] = []
    for i, item in enumerate(items):
        if isinstance(item, str) and item in PROPERTIES:
            if item == props[0] and not any(isinstance(c, Properties) for c in out):
                out.append(Properties(props))
            continue
        out.append(lookup(item, f"{where}[{i}]"))
    return out


def judge(checks: Sequence[Check], execution: Execution, context: CheckContext) -> list[Violation]:
    """Every check's violations of `execution`, in the checks' order."""
    out: list[Violation] = []
    for c in checks:
        out.extend(c.judge(execution, context))
    return out
