"""Stable fingerprints of user programs: what a replay token of ``explore()`` is bound to.

A digest of the programs' code (and closure constants), the set-up and the names. Unlike a repr it
contains no memory addresses, so a token written by one process replays in another, and it
changes when the code or the set-up does.

What it covers: each program's bytecode and constants, its closure cells, and, recursively (three
levels deep), the functions and plain values (numbers, strings, bytes, tuples of them) it names
from its own module's globals, so editing a helper in the test module changes the digest. What
it does not cover: code in other modules (a library the program imports), mutable module state
(lists, dicts, objects) and anything read at run time. A token replayed against such a change
may no longer fit: the replay then stops with a one-line error (it never passes silently).
"""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Mapping, Sequence
from typing import Any

PRIMITIVES = (str, bytes, int, float, bool, type(None))


def _value_fp(value: Any, depth: int) -> Any:
    if isinstance(value, PRIMITIVES):
        return repr(value)
    if isinstance(value, tuple | list | frozenset):
        return [type(value).__name__, [_value_fp(v, depth) for v in value]]
    if isinstance(value, types.CodeType):
        return _code_fp(value, depth)
    if callable(value) and depth < 3:
        return _callable_fp(value, depth + 1)
    return type(value).__qualname__


def _code_fp(code: types.CodeType, depth: int) -> Any:
    return [code.co_name, code.co_code.hex(), list(code.co_names), list(code.co_varnames),
            [_value_fp(c, depth) for c in code.co_consts]]


def _callable_fp(fn: Any, depth: int = 0) -> Any:
    import functools

    if isinstance(fn, functools.partial):
        return ["partial", _callable_fp(fn.func, depth), [_value_fp(a, depth) for a in fn.args],
                sorted((k, _value_fp(v, depth)) for k, v in fn.keywords.items())]
    code = getattr(fn, "__code__", None)
    if code is None:
        call = type(fn).__dict__.get("__call__")
        return ["object", type(fn).__qualname__, _callable_fp(call, depth) if callable(call) else None]
    cells = [_value_fp(c.cell_contents, depth) if _cell_filled(c) else None for c in (fn.__closure__ or ())]
    return [getattr(fn, "__qualname__", ""), _code_fp(code, depth), cells, _globals_fp(fn, code, depth)]


def _names(code: types.CodeType) -> set[str]:
    """Every global name the code (and the code of its nested functions) may load."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _names(const)
    return out


def _plain(value: Any) -> bool:
    return isinstance(value, PRIMITIVES) or (isinstance(value, tuple) and all(isinstance(v, PRIMITIVES) for v in value))


def _globals_fp(fn: Any, code: types.CodeType, depth: int) -> Any:
    """The same-module helpers and plain constants the function names (see the module doc)."""
    if depth >= 3:
        return None
    module = getattr(fn, "__module__", None)
    glb = getattr(fn, "__globals__", {})
    out = []
    for name in sorted(_names(code)):
        if name not in glb:
            continue
        value = glb[name]
        if isinstance(value, types.FunctionType) and value.__module__ == module and value is not fn:
            out.append([name, _callable_fp(value, depth + 1)])
        elif _plain(value):
            out.append([name, _value_fp(value, depth)])
    return out


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def fingerprint(programs: Sequence[Any], setup: Any, names: Sequence[str] | None) -> str:
    """A stable digest of the programs' code (and closure constants), the set-up and the names.

    Unlike a repr it does not contain memory addresses, so a token written by one pytest process
    replays in another, and it changes when the code or the set-up does.
    """
    if isinstance(setup, Mapping):
        setup_fp: Any = sorted((str(k), v.hex() if isinstance(v, bytes) else repr(v)) for k, v in setup.items())
    elif setup is None:
        setup_fp = None
    else:
        setup_fp = _callable_fp(setup)
    doc = [[_callable_fp(p) for p in programs], setup_fp, list(names or [])]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:12]
