"""Scenario files (TOML) -> a validated ``Scenario`` -> a runnable incident ``Program``.

Every validation error is one line naming the file and the field, e.g.
``scenario.toml: mounts[2].path: must be absolute (got 'skills/a')``; unknown keys suggest the
closest known one. The keys are documented in ``scenarios/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raceproof.archives import generate
from raceproof.checks import expected_tree, incident_violations
from raceproof.errors import ScenarioError, closest
from raceproof.execution import Execution, Violation
from raceproof.fs import BACKENDS, Vfs
from raceproof.models import tar
from raceproof.models.guest_download import Job, Pipeline, short_label
from raceproof.scheduler import Scheduler
from raceproof.sfs import SchedFS

MODEL_VERSION = "guest-download/3"  # 2: fd-relative remove_dir_all walk, tar-rs fixes; 3: fidelity (issue 9)
ALGORITHMS = ("pre-cleanup", "fixed")
TOP_KEYS = {"name", "description", "algorithm", "workers", "backend", "expect", "token", "seed", "mounts",
            "initial", "verify_digest", "rust_enoent_tolerant", "stale", "mount_sets", "inject", "max_executions"}
MOUNT_KEYS = {"path", "files", "members", "flavor", "seed"}
MEMBER_KEYS = {"name", "kind", "data", "target"}
EXPECT_KEYS = {"replay", "verify"}
INITIAL_KEYS = {"dirs", "files", "symlinks"}


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
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:12]

    def program(self, inject: Sequence[Any] = ()) -> IncidentProgram:
        return IncidentProgram(self, inject)

    def with_changes(self, **changes: Any) -> Scenario:
        import dataclasses

        return dataclasses.replace(self, **changes)


class IncidentProgram:
    """The pipeline of a scenario as a ``Program`` (see ``raceproof.execution``)."""

    def __init__(self, scenario: Scenario, inject: Sequence[Any] = ()) -> None:
        self.scenario = scenario
        self.injectors = list(inject)
        roots = [m.path for m in scenario.mounts]
        self.roots = roots
        self.jobs = [Job(i, m.path, m.archive, hashlib.sha256(m.archive).hexdigest(), short_label(m.path, roots))
                     for i, m in enumerate(scenario.mounts)]
        self.pipeline = self._pipeline()
        for inj in self.injectors:  # let injectors learn the mounts and jobs
            getattr(inj, "bind", lambda _p: None)(self)
        # injectors may add virtual threads (e.g. a still-running writer of the previous run)
        self.names = self.pipeline.thread_names() + [
            n for inj in self.injectors for n in getattr(inj, "extra_threads", lambda _p: [])(self)]
        self.digest = scenario.digest
        self.expected = expected_tree([(m.path, m.members) for m in scenario.mounts])
        self.initial: dict[str, str] = {}

    def _pipeline(self) -> Pipeline:
        s = self.scenario
        return Pipeline(self.jobs, s.workers, s.algorithm, s.verify_digest, s.rust_enoent_tolerant)

    def setup(self, vfs: Vfs) -> None:
        s = self.scenario
        for d in s.initial_dirs:
            vfs.makedirs(d)
        for p, data in sorted(s.initial_files.items()):
            vfs.put(p, data)
        for p, target in sorted(s.initial_links.items()):
            vfs.makedirs(p.rsplit("/", 1)[0] or "/")
            vfs.symlink(target, p)
        for inj in self.injectors:
            getattr(inj, "setup", lambda _v: None)(vfs)
        self.initial = vfs.tree()

    def bodies(self, sched: Scheduler) -> list[Callable[[], Awaitable[Any]]]:
        for job in self.jobs:
            job.delivered = None
        self.pipeline = self._pipeline()
        bodies = self.pipeline.bodies(lambda tid: SchedFS(sched, tid))
        for inj in self.injectors:  # may set Job.delivered, wrap bodies, append extra threads
            bodies = list(getattr(inj, "bodies", lambda _s, _p, b: b)(sched, self, bodies))
        return bodies

    def hooks(self, sched: Scheduler) -> None:
        for inj in self.injectors:
            getattr(inj, "attach", lambda _s, _p: None)(sched, self)

    def check(self, execution: Execution, vfs: Vfs) -> list[Violation]:
        out = incident_violations(execution, self.roots, self.expected, self.initial,
                                  forbid_stale=self.scenario.stale == "forbid")
        for inj in self.injectors:  # an injected fault can make a clean job failure the right outcome
            out = list(getattr(inj, "judge", lambda _e, _p, v: v)(execution, self, out))
        for inj in self.injectors:
            out.extend(getattr(inj, "check", lambda _e, _p: [])(execution, self))
        return out


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
    return path


def load(path: str | os.PathLike[str]) -> Scenario:
    """Load and validate a scenario file."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(file, "", "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(file, "", "is a directory, not a scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "", f"malformed TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(file, "", f"cannot read: {exc.strerror}") from None
    return parse(raw, file)


def parse(raw: dict[str, Any], file: str = "<scenario>") -> Scenario:
    _check_keys(file, "", raw, TOP_KEYS)
    if "name" not in raw:
        raise _err(file, "name", "is required")
    name = _typed(file, "name", raw["name"], str, "a string")
    algorithm = _typed(file, "algorithm", raw.get("algorithm", "fixed"), str, "a string")
    if algorithm not in ALGORITHMS and ":" not in algorithm:
        hint = closest(algorithm, ALGORITHMS)
        raise _err(file, "algorithm", f"must be 'pre-cleanup', 'fixed' or 'module:function' (got {algorithm!r})"
                                      + (f"; did you mean {hint!r}?" if hint else ""))
    workers = _typed(file, "workers", raw.get("workers", 4), int, "an integer")
    if not 1 <= workers <= 64:
        raise _err(file, "workers", f"must be between 1 and 64 (got {workers})")
    backend = _typed(file, "backend", raw.get("backend", "memory"), str, "a string")
    if backend not in BACKENDS:
        raise _err(file, "backend", f"must be one of {', '.join(BACKENDS)} (got {backend!r})")
    seed = _typed(file, "seed", raw.get("seed", 0), int, "an integer")
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
    mount_sets = _typed(file, "mount_sets", raw.get("mount_sets", 0), int, "an integer")
    if not 0 <= mount_sets <= 5:
        raise _err(file, "mount_sets", f"must be between 0 and 5 (got {mount_sets})")
    max_exec = raw.get("max_executions")
    if max_exec is not None:
        _typed(file, "max_executions", max_exec, int, "an integer")
        if max_exec < 1:
            raise _err(file, "max_executions", f"must be at least 1 (got {max_exec})")
    verify_digest = _typed(file, "verify_digest", raw.get("verify_digest", True), bool, "true or false")
    enoent = _typed(file, "rust_enoent_tolerant", raw.get("rust_enoent_tolerant", True), bool, "true or false")
    description = _typed(file, "description", raw.get("description", ""), str, "a string")
    inject = _typed(file, "inject", raw.get("inject", []), list, "an array of tables ([[inject]])")
    for j, inj in enumerate(inject):
        _typed(file, f"inject[{j}]", inj, dict, "a table")
        if "name" not in inj:
            raise _err(file, f"inject[{j}].name", "is required")
    scenario = Scenario(
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


def _members(file: str, where: str, m: dict[str, Any], default_seed: int) -> list[tar.Member]:
    if "members" in m and "files" in m:
        raise _err(file, f"{where}.members", "give either 'members' or 'files', not both")
    if "members" in m:
        out = []
        raw = _typed(file, f"{where}.members", m["members"], list, "an array of tables")
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
            if len(mem["name"].encode()) > 99:
                raise _err(file, f"{w}.name", "must be at most 99 bytes (ustar)")
            out.append(tar.Member(str(mem["name"]), kind, str(mem.get("data", "")).encode(),
                                  str(mem.get("target", ""))))
        return out
    files = _typed(file, f"{where}.files", m.get("files", 2), int, "an integer")
    if not 0 <= files <= 50:
        raise _err(file, f"{where}.files", f"must be between 0 and 50 (got {files})")
    flavor = m.get("flavor", "skill" if "/skills/" in m["path"] else "instructions")
    if flavor not in ("skill", "instructions"):
        raise _err(file, f"{where}.flavor", f"must be 'skill' or 'instructions' (got {flavor!r})")
    seed = _typed(file, f"{where}.seed", m.get("seed", default_seed), int, "an integer")
    return generate(seed, files, flavor)
