"""Scenario files (TOML) -> a validated ``Scenario`` (its runnable program: ``raceproof.incident``).

Every validation error is one line naming the file and the field, e.g.
``scenario.toml: mounts[2].path: must be absolute (got 'skills/a')``; unknown keys suggest the
closest known one. The keys are documented in ``scenarios/README.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import stat as S
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raceproof.archives import generate
from raceproof.checks import CHECKS, Check, lookup
from raceproof.errors import InputError, ScenarioError, closest
from raceproof.fs import BACKENDS
from raceproof.incident import IncidentProgram as IncidentProgram  # re-exported: the old import path
from raceproof.models import tar

if TYPE_CHECKING:
    from raceproof.injector import Injector

MODEL_VERSION = "guest-download/3"  # 2: fd-relative remove_dir_all walk, tar-rs fixes; 3: fidelity (issue 9)
ALGORITHMS = ("pre-cleanup", "fixed")
TOP_KEYS = {"name", "description", "algorithm", "workers", "backend", "expect", "token", "seed", "mounts",
            "initial", "verify_digest", "rust_enoent_tolerant", "stale", "mount_sets", "inject", "max_executions",
            "properties", "preserve", "stale_states", "checks", "mount_points"}
MOUNT_KEYS = {"path", "files", "members", "flavor", "seed"}
MEMBER_KEYS = {"name", "kind", "data", "target"}
EXPECT_KEYS = {"replay", "verify"}
INITIAL_KEYS = {"dirs", "files", "symlinks"}
#: the largest scenario or token file read (bytes): inputs are never read unbounded
MAX_INPUT = 1 << 22
#: POSIX limits the Vfs models on every backend (bytes): a component, and a whole path with its NUL
NAME_MAX = 255
PATH_MAX = 4096
#: integers in scenario files (seeds, budgets) must fit in 63 bits
MAX_INT = (1 << 63) - 1
MAX_BUDGET = 10**9
#: the largest explicit archive member (bytes), and how many of each thing a scenario may list
MAX_MEMBER = 1 << 20
MAX_MEMBERS = 1000
MAX_MOUNTS = 64
MAX_INITIAL = 10_000
MAX_INJECT = 32


@dataclass
class Mount:
    path: str
    members: list[tar.Member]
    archive: bytes = b""


@dataclass
class Scenario:
    file: str
    name: str
    description: str
    algorithm: str
    workers: int
    backend: str
    mounts: list[Mount]
    expect_replay: str | None = None
    expect_verify: str | None = None
    token: str | None = None
    seed: int = 0
    verify_digest: bool = True
    rust_enoent_tolerant: bool = True
    stale: str = "allow"
    mount_sets: int = 0
    max_executions: int | None = None
    initial_dirs: list[str] = field(default_factory=list)
    initial_files: dict[str, bytes] = field(default_factory=dict)
    initial_links: dict[str, str] = field(default_factory=dict)
    inject: list[dict[str, Any]] = field(default_factory=list)
    #: keep-alive: the properties judged (``P1``..``P5``; empty: the incident checks), the paths
    #: under mount roots that may survive (P2), and how many stale entries ``verify`` enumerates
    properties: tuple[str, ...] = ()
    preserve: tuple[str, ...] = ()
    stale_states: int = 0
    #: the checks that judge each execution (``raceproof.checks``: names, ``module:attr``, or
    #: ``Check`` objects from Python); empty: ``properties`` if given, else ``DEFAULT_CHECKS``
    checks: tuple[str | Check, ...] = ()
    #: every mount root is a real mount point (``Vfs.mount``): it exists from the start, has an
    #: st_dev of its own, cannot be removed or renamed (EBUSY) and nothing is renamed across it (EXDEV)
    mount_points: bool = False

    @property
    def digest(self) -> str:
        canon = {
            "model": MODEL_VERSION, "algorithm": self.algorithm, "workers": self.workers,
            "mounts": [[m.path, hashlib.sha256(m.archive).hexdigest()] for m in self.mounts],
            "verify_digest": self.verify_digest, "enoent": self.rust_enoent_tolerant,
            "initial": [sorted(self.initial_dirs), sorted((k, v.hex()) for k, v in self.initial_files.items()),
                        sorted(self.initial_links.items())],
            "inject": self.inject,
        }
        if self.properties or self.preserve:  # keep-alive keys (absent: the digest of before)
            canon["properties"] = [list(self.properties), list(self.preserve)]
        if self.checks:  # absent: the digest of before
            canon["checks"] = [c if isinstance(c, str) else c.name for c in self.checks]
        if self.mount_points:  # absent: the digest of before
            canon["mount_points"] = True
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:12]

    def program(self, inject: Sequence[Injector] = ()) -> IncidentProgram:
        return IncidentProgram(self, inject)

    def with_changes(self, **changes: Any) -> Scenario:
        import dataclasses

        return dataclasses.replace(self, **changes)


# loading -------------------------------------------------------------------------------------

def _err(file: str, fld: str, msg: str) -> ScenarioError:
    return ScenarioError(file, fld, msg)


def _check_keys(file: str, where: str, table: dict[str, Any], known: set[str]) -> None:
    for key in table:
        if key not in known:
            hint = closest(key, known)
            fld = f"{where}.{key}" if where else key
            raise _err(file, fld, f"unknown key{f'; did you mean {hint!r}?' if hint else ''} "
                                  f"(known: {', '.join(sorted(known))})")


def _typed(file: str, fld: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _err(file, fld, f"must be {what} (got {value!r})")
    return value


def _int(file: str, fld: str, value: Any, lo: int, hi: int) -> int:
    _typed(file, fld, value, int, "an integer")
    if not lo <= value <= hi:
        raise _err(file, fld, f"must be between {lo} and {hi} (got {value})")
    return int(value)


def check_path_limits(file: str, fld: str, path: str) -> None:
    """NAME_MAX and PATH_MAX, as every backend's ``Vfs`` enforces them (ENAMETOOLONG)."""
    if len(path.encode("utf-8", "surrogatepass")) >= PATH_MAX:
        raise _err(file, fld, f"is longer than PATH_MAX ({PATH_MAX - 1} bytes)")
    for comp in path.split("/"):
        if len(comp.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise _err(file, fld, f"component {comp[:20]!r}... is longer than NAME_MAX ({NAME_MAX} bytes)")


def check_mount_path(file: str, fld: str, path: Any) -> str:
    """Mount paths must be absolute and normalized: no '.', '..', empty component or trailing '/'."""
    _typed(file, fld, path, str, "a string")
    if not path.startswith("/"):
        raise _err(file, fld, f"must be absolute (got {path!r})")
    if path == "/":
        raise _err(file, fld, "must not be the root '/'")
    if path.endswith("/"):
        raise _err(file, fld, f"must not end with '/' (got {path!r}; write {path.rstrip('/')!r})")
    comps = path.split("/")[1:]
    if "" in comps:
        raise _err(file, fld, f"must not contain an empty component '//' (got {path!r})")
    if "." in comps or ".." in comps:
        raise _err(file, fld, f"must be normalized: no '.' or '..' components (got {path!r})")
    if "\0" in path:
        raise _err(file, fld, "must not contain NUL")
    check_path_limits(file, fld, path)
    return str(path)


def read_input(file: str, what: str = "scenario file", limit: int = MAX_INPUT) -> str:
    """The text of a small, regular, UTF-8 input file, or a one-line InputError naming the file.

    FIFOs, devices and sockets are refused before reading (``O_NONBLOCK``: opening a FIFO with no
    writer does not block), and at most `limit` bytes are ever read."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read {what}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if S.S_ISDIR(st.st_mode):
            raise InputError(f"{file}: is a directory, not a {what}")
        if not S.S_ISREG(st.st_mode):
            raise InputError(f"{file}: is not a regular file (a FIFO, device or socket); give a {what}")
        if st.st_size > limit:
            raise InputError(f"{file}: {what} is too large ({st.st_size} bytes; at most {limit})")
        chunks = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"{file}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise InputError(f"{file}: {what} is too large (more than {limit} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") \
            from None


def load(path: str | os.PathLike[str], *, allow_import: Sequence[str] = ()) -> Scenario:
    """Load and validate a scenario file.

    A scenario file is data: ``algorithm = "module:function"`` is refused unless `allow_import`
    names the module (or a ``.py`` file defining it): see ``allow_algorithms``."""
    file = os.fspath(path)
    text = read_input(file, "scenario file")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "", f"malformed TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(file, "", "malformed TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (int conversion limit)
        raise ScenarioError(file, "", f"unreadable value: {str(exc).split(';')[0]}") from None
    return parse(raw, file, allow_import=allow_import)


@contextlib.contextmanager
def no_bytecode() -> Iterator[None]:
    """Import a user's module without writing its bytecode cache (a ``__pycache__`` beside the
    user's file: raceproof writes nothing outside its sandbox and the outputs asked for)."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


def import_allowed(specs: Sequence[str]) -> set[str]:
    """Import the modules the user opted into (``--allow-import``), now, before any sandbox exists.

    Each spec is a module name (``mypkg.algos``) or the path of a ``.py`` file (imported as its
    stem). Returns the module names a scenario's ``algorithm = "module:function"`` may then use."""
    names: set[str] = set()
    for spec in specs:
        if spec.endswith(".py"):
            name = os.path.basename(spec)[:-3]
            if not name.isidentifier():
                raise InputError(f"--allow-import {spec!r}: {name!r} is not a valid module name")
            if name not in sys.modules:
                read_input(spec, "Python file")  # a regular, small, readable file
                try:
                    mod_spec = importlib.util.spec_from_file_location(name, spec)
                    assert mod_spec is not None and mod_spec.loader is not None
                    module = importlib.util.module_from_spec(mod_spec)
                    sys.modules[name] = module
                    with no_bytecode():
                        mod_spec.loader.exec_module(module)
                except Exception as exc:  # the user's own code: report it on one line
                    sys.modules.pop(name, None)
                    raise InputError(f"--allow-import {spec!r}: cannot import: {type(exc).__name__}: {exc}") \
                        from None
        else:
            name = spec
            if not all(part.isidentifier() for part in name.split(".")):
                raise InputError(f"--allow-import {spec!r}: not a module name or a .py file")
            try:
                with no_bytecode():
                    importlib.import_module(name)
            except Exception as exc:
                raise InputError(f"--allow-import {spec!r}: cannot import: {type(exc).__name__}: {exc}") from None
        names.add(name)
    return names


def _user_algorithm(file: str, algorithm: str, allow_import: Sequence[str]) -> None:
    """Check ``module:function`` against the opt-in list; it must be an ``async def`` function."""
    module, _, attr = algorithm.partition(":")
    if not module or not attr or ":" in attr:
        raise _err(file, "algorithm", f"must be 'pre-cleanup', 'fixed' or 'module:function' (got {algorithm!r})")
    allowed = import_allowed(allow_import)
    if module not in allowed:
        raise _err(file, "algorithm", f"{algorithm!r} names Python code, and a scenario file is data: it runs "
                                      f"only when you allow it (raceproof --allow-import {module} ...; "
                                      f"Python: load(path, allow_import=[{module!r}]))")
    fn = getattr(sys.modules[module], attr, None)
    if fn is None:
        raise _err(file, "algorithm", f"module {module!r} has no attribute {attr!r}")
    if not inspect.iscoroutinefunction(fn):
        raise _err(file, "algorithm", f"{algorithm!r} must be an 'async def' function (fs, job)")


def parse(raw: dict[str, Any], file: str = "<scenario>", *, allow_import: Sequence[str] = ()) -> Scenario:
    """Validate a scenario table; `allow_import` as in ``load``."""
    _check_keys(file, "", raw, TOP_KEYS)
    if "name" not in raw:
        raise _err(file, "name", "is required")
    name = _typed(file, "name", raw["name"], str, "a string")
    algorithm = _typed(file, "algorithm", raw.get("algorithm", "fixed"), str, "a string")
    from raceproof.keepalive import CANDIDATES

    if algorithm not in ALGORITHMS and algorithm not in CANDIDATES and ":" not in algorithm:
        hint = closest(algorithm, (*ALGORITHMS, *CANDIDATES))
        raise _err(file, "algorithm", f"must be 'pre-cleanup', 'fixed', a keep-alive candidate "
                                      f"({', '.join(CANDIDATES)}) or 'module:function' (got {algorithm!r})"
                                      + (f"; did you mean {hint!r}?" if hint else ""))
    if algorithm not in ALGORITHMS and algorithm not in CANDIDATES:
        _user_algorithm(file, algorithm, allow_import)
    workers = _typed(file, "workers", raw.get("workers", 4), int, "an integer")
    if not 1 <= workers <= 64:
        raise _err(file, "workers", f"must be between 1 and 64 (got {workers})")
    backend = _typed(file, "backend", raw.get("backend", "memory"), str, "a string")
    if backend not in BACKENDS:
        raise _err(file, "backend", f"must be one of {', '.join(BACKENDS)} (got {backend!r})")
    seed = _int(file, "seed", raw.get("seed", 0), 0, MAX_INT)
    expect = _typed(file, "expect", raw.get("expect", {}), dict, "a table")
    _check_keys(file, "expect", expect, EXPECT_KEYS)
    er = expect.get("replay")
    if er is not None and er not in ("fail", "pass"):
        raise _err(file, "expect.replay", f"must be 'fail' or 'pass' (got {er!r})")
    ev = expect.get("verify")
    if ev is not None and ev not in ("unsafe", "safe"):
        raise _err(file, "expect.verify", f"must be 'unsafe' or 'safe' (got {ev!r})")
    stale = _typed(file, "stale", raw.get("stale", "allow"), str, "a string")
    if stale not in ("allow", "forbid"):
        raise _err(file, "stale", f"must be 'allow' or 'forbid' (got {stale!r})")
    token = raw.get("token")
    if token is not None:
        _typed(file, "token", token, str, "a string")
    mounts_raw = raw.get("mounts")
    if not isinstance(mounts_raw, list) or not mounts_raw:
        raise _err(file, "mounts", "must be a non-empty array of tables ([[mounts]])")
    if len(mounts_raw) > MAX_MOUNTS:
        raise _err(file, "mounts", f"at most {MAX_MOUNTS} mounts (got {len(mounts_raw)})")
    mounts: list[Mount] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(mounts_raw):
        where = f"mounts[{i}]"
        _typed(file, where, m, dict, "a table")
        _check_keys(file, where, m, MOUNT_KEYS)
        if "path" not in m:
            raise _err(file, f"{where}.path", "is required")
        mp = check_mount_path(file, f"{where}.path", m["path"])
        if mp in seen:
            raise _err(file, f"{where}.path", f"duplicate mount {mp!r} (also mounts[{seen[mp]}])")
        seen[mp] = i
        members = _members(file, where, m, seed + i)
        mounts.append(Mount(mp, members, tar.build(members)))
    initial = _typed(file, "initial", raw.get("initial", {}), dict, "a table")
    _check_keys(file, "initial", initial, INITIAL_KEYS)
    dirs = _typed(file, "initial.dirs", initial.get("dirs", ["/home/user"]), list, "an array of paths")
    for j, d in enumerate(dirs):
        check_mount_path(file, f"initial.dirs[{j}]", d)
    files = _typed(file, "initial.files", initial.get("files", {}), dict, "a table of path = text")
    for p, v in files.items():
        check_mount_path(file, f"initial.files.{p!r}", p)
        _typed(file, f"initial.files.{p!r}", v, str, "a string")
    links = _typed(file, "initial.symlinks", initial.get("symlinks", {}), dict, "a table of path = target")
    for p, v in links.items():
        check_mount_path(file, f"initial.symlinks.{p!r}", p)
        _typed(file, f"initial.symlinks.{p!r}", v, str, "a string")
        if not v:
            raise _err(file, f"initial.symlinks.{p!r}", "the target must not be empty")
        if "\0" in v:
            raise _err(file, f"initial.symlinks.{p!r}", "the target must not contain NUL")
        if len(v.encode("utf-8", "surrogatepass")) >= PATH_MAX:
            raise _err(file, f"initial.symlinks.{p!r}", f"the target is longer than PATH_MAX ({PATH_MAX - 1} bytes)")
    if len(dirs) + len(files) + len(links) > MAX_INITIAL:
        raise _err(file, "initial", f"at most {MAX_INITIAL} entries in all (got {len(dirs) + len(files) + len(links)})")
    _initial_conflicts(file, dirs, files, links)
    mount_sets = _typed(file, "mount_sets", raw.get("mount_sets", 0), int, "an integer")
    if not 0 <= mount_sets <= 5:
        raise _err(file, "mount_sets", f"must be between 0 and 5 (got {mount_sets})")
    max_exec = raw.get("max_executions")
    if max_exec is not None:
        _int(file, "max_executions", max_exec, 1, MAX_BUDGET)
    verify_digest = _typed(file, "verify_digest", raw.get("verify_digest", True), bool, "true or false")
    enoent = _typed(file, "rust_enoent_tolerant", raw.get("rust_enoent_tolerant", True), bool, "true or false")
    description = _typed(file, "description", raw.get("description", ""), str, "a string")
    inject = _typed(file, "inject", raw.get("inject", []), list, "an array of tables ([[inject]])")
    if len(inject) > MAX_INJECT:
        raise _err(file, "inject", f"at most {MAX_INJECT} injectors (got {len(inject)})")
    for j, inj in enumerate(inject):
        _typed(file, f"inject[{j}]", inj, dict, "a table")
        if "name" not in inj:
            raise _err(file, f"inject[{j}].name", "is required")
        _typed(file, f"inject[{j}].name", inj["name"], str, "a string")
    from raceproof.properties import parse_keepalive_keys

    properties, preserve, stale_states = parse_keepalive_keys(file, raw)
    checks = _checks(file, raw, allow_import)
    mount_points = _typed(file, "mount_points", raw.get("mount_points", False), bool, "true or false")
    if mount_points:
        for path in [*dirs, *files, *links]:
            root = next((m.path for m in mounts if m.path == path or m.path.startswith(path.rstrip("/") + "/")), None)
            if root is not None and (path in files or path in links):
                raise _err(file, "initial", f"{path} is a file or symlink where mount point {root} (or its "
                                            "parent directory) must be a directory (mount_points = true)")
    scenario = Scenario(
        properties=properties, preserve=preserve, stale_states=stale_states, mount_points=mount_points, checks=checks,
        file=file, name=name, description=description, algorithm=algorithm,
        workers=workers, backend=backend, mounts=mounts, expect_replay=er, expect_verify=ev, token=token,
        seed=seed, verify_digest=verify_digest, rust_enoent_tolerant=enoent, stale=stale,
        mount_sets=mount_sets, max_executions=max_exec, initial_dirs=list(dirs),
        initial_files={k: v.encode() for k, v in files.items()}, initial_links=dict(links), inject=list(inject),
    )
    if token is not None:  # a pinned token must belong to this very scenario (digest, checksum)
        from raceproof import token as tokens
        from raceproof.errors import TokenError

        try:
            tokens.decode(token, scenario.digest, file)
        except TokenError as exc:
            raise _err(file, "token", str(exc).removeprefix("token: ")) from None
    return scenario


def _checks(file: str, raw: dict[str, Any], allow_import: Sequence[str]) -> tuple[str, ...]:
    """``checks = [...]``: registered check names (``raceproof.checks.CHECKS``) or ``module:attr``
    (a user's own check: refused unless `allow_import` names the module, as for ``algorithm``)."""
    if "checks" not in raw:
        return ()
    names = raw["checks"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _err(file, "checks", f"must be a non-empty array of check names (got {names!r})")
    if "properties" in raw:
        raise _err(file, "checks", "give either 'checks' or 'properties' (P1..P5 are check names too)")
    for i, name in enumerate(names):
        fld = f"checks[{i}]"
        if name in names[:i]:
            raise _err(file, fld, f"{name!r} is listed twice")
        if name in CHECKS:
            continue
        module, sep, attr = name.partition(":")
        if not sep:
            hint = closest(name, CHECKS)
            raise _err(file, fld, f"unknown check {name!r}{f'; did you mean {hint!r}?' if hint else ''} "
                                  f"(known: {', '.join(CHECKS)}; or 'module:attr' for your own)")
        if not module or not attr or module not in import_allowed(allow_import):
            raise _err(file, fld, f"{name!r} names Python code, and a scenario file is data: it runs only when "
                                  f"you allow it (raceproof --allow-import {module or 'MODULE'} ...; "
                                  f"Python: load(path, allow_import=[{module!r}]))")
        try:
            lookup(name)
        except InputError as exc:
            raise _err(file, fld, str(exc).removeprefix("checks: ")) from None
    return tuple(names)


def _initial_conflicts(file: str, dirs: list[str], files: dict[str, str], links: dict[str, str]) -> None:
    """The initial tree must be buildable: one kind per path, and nothing below a file or a symlink
    (a directory's parents are directories)."""
    kinds: dict[str, tuple[str, str]] = {}  # path -> (kind, field)
    for j, d in enumerate(dirs):
        kinds.setdefault(d, ("dir", f"initial.dirs[{j}]"))
    for kind, table, name in (("file", files, "files"), ("symlink", links, "symlinks")):
        for p in table:
            fld = f"initial.{name}.{p!r}"
            if p in kinds:
                other_kind, other = kinds[p]
                raise _err(file, fld, f"conflicts with {other} (a {other_kind} on the same path)")
            kinds[p] = (kind, fld)
    for p, (kind, fld) in sorted(kinds.items()):
        parent = p.rsplit("/", 1)[0]
        while parent:
            if parent in kinds and kinds[parent][0] != "dir":
                pk, pf = kinds[parent]
                raise _err(file, fld, f"is below {pf}, a {pk}: a {kind} cannot be created there")
            parent = parent.rsplit("/", 1)[0]


def _members(file: str, where: str, m: dict[str, Any], default_seed: int) -> list[tar.Member]:
    if "members" in m and "files" in m:
        raise _err(file, f"{where}.members", "give either 'members' or 'files', not both")
    if "members" in m:
        out = []
        raw = _typed(file, f"{where}.members", m["members"], list, "an array of tables")
        if len(raw) > MAX_MEMBERS:
            raise _err(file, f"{where}.members", f"at most {MAX_MEMBERS} members (got {len(raw)})")
        for k, mem in enumerate(raw):
            w = f"{where}.members[{k}]"
            _typed(file, w, mem, dict, "a table")
            _check_keys(file, w, mem, MEMBER_KEYS)
            if "name" not in mem:
                raise _err(file, f"{w}.name", "is required")
            _typed(file, f"{w}.name", mem["name"], str, "a string")
            for key in ("kind", "data", "target"):
                if key in mem:
                    _typed(file, f"{w}.{key}", mem[key], str, "a string")
            kind = mem.get("kind", "file")
            if kind not in ("file", "dir", "symlink", "hardlink"):
                raise _err(file, f"{w}.kind", f"must be file, dir, symlink or hardlink (got {kind!r})")
            if len(mem["name"].encode("utf-8", "surrogatepass")) > 99:
                raise _err(file, f"{w}.name", "must be at most 99 bytes (ustar)")
            if "\0" in mem["name"]:
                raise _err(file, f"{w}.name", "must not contain NUL")
            if "target" in mem and len(mem["target"].encode("utf-8", "surrogatepass")) > 99:
                raise _err(file, f"{w}.target", "must be at most 99 bytes (ustar linkname)")
            if "\0" in mem.get("target", ""):
                raise _err(file, f"{w}.target", "must not contain NUL")
            if len(mem.get("data", "").encode("utf-8", "surrogatepass")) > MAX_MEMBER:
                raise _err(file, f"{w}.data", f"must be at most {MAX_MEMBER} bytes")
            out.append(tar.Member(str(mem["name"]), kind, str(mem.get("data", "")).encode(),
                                  str(mem.get("target", ""))))
        return out
    files = _typed(file, f"{where}.files", m.get("files", 2), int, "an integer")
    if not 0 <= files <= 50:
        raise _err(file, f"{where}.files", f"must be between 0 and 50 (got {files})")
    flavor = m.get("flavor", "skill" if "/skills/" in m["path"] else "instructions")
    if flavor not in ("skill", "instructions"):
        raise _err(file, f"{where}.flavor", f"must be 'skill' or 'instructions' (got {flavor!r})")
    seed = _int(file, f"{where}.seed", m.get("seed", default_seed), 0, MAX_INT)
    return generate(seed, files, flavor)
