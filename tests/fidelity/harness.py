"""Differential fidelity harness: run one operation in real Rust (std / a std-only port of tar-rs
0.4.45 ``unpack``) under ``strace -f``, map its system calls to raceproof's model steps, run the
model on the same tree, and compare the step sequence, every result, the operation's result and
the final tree.

Mapping (real system call -> model step; ``path`` is the scenario path, the case directory maps
to ``/``; fd-relative calls are named by the path the fd was opened with):

- ``statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)`` -> ``lstat p`` (kind or errno);
  ``statx(AT_FDCWD, p)`` -> ``is_dir p`` (true/false: Rust's ``Path::is_dir``);
- ``mkdir`` -> ``mkdir``; ``openat(fd, name, O_DIRECTORY|O_NOFOLLOW)`` -> ``opendir``;
  ``getdents64(fd)`` -> ``readdir`` (names, ``.``/``..`` dropped);
  ``unlinkat(fd, name, 0 | AT_REMOVEDIR)`` -> ``unlink`` / ``rmdir``;
- glibc ``realpath``'s run of ``readlink`` (and ``faccessat2`` for a trailing slash) calls ->
  one ``realpath`` step (the model's simplification): compared by result only;
- ``openat(O_CREAT|O_EXCL)`` / ``write`` / ``close`` of that file -> ``open`` / ``write`` / ``close``;
  ``symlink``, ``linkat`` -> ``symlink``, ``link``; ``chmod`` -> ``chmod``;
  ``utimensat(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW)`` -> ``utimes``.
- Entry order: the model lists a directory in name order; ext4/tmpfs return hash order. The model
  run is given the order the real ``getdents64`` returned (``run_model``), so the sequences are
  comparable; which order the kernel picks is not explored (a documented model limitation).
- Not mapped (documented): ``fstat``/``fcntl``/``close`` of a directory fd (``fdopendir``
  internals: the model's directory handle has no steps of its own), and the per-file
  ``futimens``/``fchmod`` through the open handle (no path: a race cannot change their result).
"""

from __future__ import annotations

import errno as E
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MARK = "/@@raceproof-begin"

Tree = dict[str, str]  # relative path -> "dir" | "file:<text>" | "link:<target>" (target "/x" = case root)


def tools_missing() -> str | None:
    for tool in ("rustc", "strace"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def build(out: Path) -> dict[str, Path]:
    """Compile the std-only Rust programs once (rustc -O, no crates)."""
    bins = {}
    for name in ("fsop", "untar"):  # untar includes tarport.rs
        exe = out / name
        subprocess.run(["rustc", "--edition", "2021", "-O", "-o", str(exe), str(HERE / "rust" / f"{name}.rs")],
                       check=True, capture_output=True)
        bins[name] = exe
    return bins


# --------------------------------------------------------------------------------------------
# real side
# --------------------------------------------------------------------------------------------


def make_real(base: Path, tree: Tree) -> None:
    for rel, spec in sorted(tree.items()):
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if spec == "dir":
            p.mkdir(exist_ok=True)
        elif spec.startswith("file:"):
            p.write_bytes(spec[5:].encode())
        elif spec.startswith("link:"):
            target = spec[5:]
            os.symlink(str(base) + target if target.startswith("/") else target, p)
        else:
            raise ValueError(spec)


def real_tree(base: Path) -> dict[str, str]:
    """The tree in ``Vfs.tree()``'s format (sorted depth-first walk)."""
    out: dict[str, str] = {}
    first: dict[int, str] = {}

    def walk(d: Path, logical: str) -> None:
        for name in sorted(os.listdir(d)):
            p = d / name
            lp = logical.rstrip("/") + "/" + name
            st = os.lstat(p)
            if os.path.islink(p):
                target = os.readlink(p)
                out[lp] = "link:" + (target[len(str(base)):] if target.startswith(str(base) + "/") else target)
            elif p.is_dir():
                out[lp] = "dir"
                walk(p, lp)
            else:
                seen = first.setdefault(st.st_ino, lp)
                out[lp] = "hardlink:" + seen if seen != lp else "file:" + p.read_bytes().hex()

    walk(base, "/")
    return out


_LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:\s+(E[A-Z]+))?")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
_MODE = re.compile(r"stx_mode=S_IF(\w+)")
_KIND = {"DIR": "dir", "REG": "file", "LNK": "link"}


@dataclass
class RealRun:
    steps: list[tuple[str, str, str]]
    result: str
    listings: list[list[str]] = field(default_factory=list)
    raw: str = ""


def run_real(exe: Path, args: list[str], base: Path) -> RealRun:
    proc = subprocess.run(["strace", "-f", "-v", "-s", "4096", "-e",
                           "trace=%file,%desc,getdents64", "--", str(exe), *args],
                          capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{exe.name} {args}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    lines = proc.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if MARK in line)
    prefix = str(base)

    def scen(p: str) -> str:
        p = re.sub("/+", "/", p)
        if p == prefix:
            return "/"
        return p[len(prefix):] if p.startswith(prefix + "/") else p

    fds: dict[int, tuple[str, str]] = {}  # fd -> (real path, kind: dir/file)
    steps: list[tuple[str, str, str]] = []
    listings: list[list[str]] = []
    in_realpath = after_abs_link = False
    root_first = "/" + prefix.strip("/").split("/")[0]

    def res(ret: str, err: str | None) -> str:
        return f"-1 {err}" if ret.startswith("-") else "ok"

    def at(arg: str, name: str) -> str:
        if arg == "AT_FDCWD" or name.startswith("/"):
            return name
        return fds[int(arg)][0] + "/" + name

    for line in lines[start + 1:]:
        m = _LINE.match(line)
        if not m:
            continue
        call, args_s, ret, err = m.groups()
        if call == "write" and args_s.startswith("1,"):
            break
        strs = _STR.findall(args_s)
        first_arg = args_s.split(",", 1)[0].strip()
        if call in ("readlink", "faccessat2"):
            path = strs[0]
            # a new realpath starts over from "/", unless it just read an absolute link target
            if call == "readlink" and (not in_realpath or (path == root_first and not after_abs_link)):
                steps.append(("realpath", "", "ok"))
                in_realpath = True
            after_abs_link = call == "readlink" and not ret.startswith("-") and len(strs) > 1 \
                and strs[1].startswith("/")
            if ret.startswith("-") and err != "EINVAL":
                steps[-1] = ("realpath", "", f"-1 {err}")
            continue
        in_realpath = after_abs_link = False
        if call == "statx" and not strs:
            continue  # std's one-time probe: statx(0, NULL, ...) = EFAULT
        if call == "statx":
            path = scen(at(first_arg, strs[0]))
            km = _MODE.search(args_s)
            kind = _KIND.get(km.group(1), "other") if km and not ret.startswith("-") else None
            if "AT_SYMLINK_NOFOLLOW" in args_s:
                steps.append(("lstat", path, kind or f"-1 {err}"))
            else:
                steps.append(("is_dir", path, "true" if kind == "dir" else "false"))
        elif call in ("mkdir", "mkdirat"):
            steps.append(("mkdir", scen(strs[0] if call == "mkdir" else at(first_arg, strs[0])), res(ret, err)))
        elif call == "openat":
            full = at(first_arg, strs[0])
            if "O_DIRECTORY" in args_s:
                steps.append(("opendir", scen(full), res(ret, err)))
                if not ret.startswith("-"):
                    fds[int(ret)] = (full, "dir")
            else:
                steps.append(("open", scen(full), res(ret, err)))
                if not ret.startswith("-"):
                    fds[int(ret)] = (full, "file")
        elif call == "getdents64":
            names = [n for n in re.findall(r'd_name="((?:[^"\\]|\\.)*)"', args_s) if n not in (".", "..")]
            if names:
                listings.append(names)
            steps.append(("readdir", scen(fds[int(first_arg)][0]), "[" + ", ".join(names) + "]"))
        elif call == "unlinkat":
            op = "rmdir" if "AT_REMOVEDIR" in args_s else "unlink"
            steps.append((op, scen(at(first_arg, strs[0])), res(ret, err)))
        elif call in ("unlink", "rmdir"):
            steps.append((call, scen(strs[0]), res(ret, err)))
        elif call == "write":
            fd = int(first_arg)
            steps.append(("write", scen(fds[fd][0]), res(ret, err)))
        elif call == "close":
            fd = int(first_arg)
            path, kind = fds.pop(fd, ("", "dir"))
            if kind == "file":
                steps.append(("close", scen(path), res(ret, err)))
        elif call in ("symlink", "symlinkat"):
            steps.append(("symlink", scen(strs[-1]), res(ret, err)))
        elif call in ("link", "linkat"):
            steps.append(("link", scen(strs[-1]), res(ret, err)))
        elif call in ("chmod", "fchmodat"):
            steps.append(("chmod", scen(strs[0]), res(ret, err)))
        elif call == "utimensat" and first_arg == "AT_FDCWD":
            steps.append(("utimes", scen(strs[0]), res(ret, err)))
        # fstat/newfstatat(fd, ""), fcntl, fchmod, futimens, lseek, ...: not mapped (see above)
    out = proc.stdout.strip().splitlines()[-1]
    if out.startswith("err ") and out[4:].isdigit() and steps and steps[-1] == ("realpath", "", "ok"):
        # glibc's realpath detects a symlink loop itself (ELOOP without a failing system call)
        steps[-1] = ("realpath", "", f"-1 {errno_name(int(out[4:]))}")
    if out.startswith("ok "):
        out = "ok " + scen(out[3:])
    elif out.startswith("err tar"):
        out = "err tar"
    return RealRun(steps, out, listings, proc.stderr[-6000:])


# --------------------------------------------------------------------------------------------
# model side
# --------------------------------------------------------------------------------------------


def model_setup(tree: Tree) -> Callable[[Any], None]:
    def setup(vfs: Any) -> None:
        for rel, spec in sorted(tree.items()):
            p = "/" + rel
            if spec == "dir":
                vfs.makedirs(p)
            elif spec.startswith("file:"):
                vfs.put(p, spec[5:].encode())
            else:
                vfs.makedirs(p.rsplit("/", 1)[0] or "/")
                vfs.symlink(spec[5:], p)

    return setup


def run_model(body: Callable[[Any], Any], tree: Tree,
              listings: list[list[str]]) -> tuple[list[tuple[str, str, str]], str, dict[str, str]]:
    from raceproof.execution import Runner
    from raceproof.exploration import FunctionProgram
    from raceproof.models.tar import TarError
    from raceproof.shrink import SequenceChooser

    async def thread(fs: Any) -> Any:
        backend = fs.vfs.backend
        plain = backend.listdir

        def ordered(path: str) -> Any:  # list in the order the real getdents returned
            entries = plain(path)
            names = {n for n, _ in entries}
            for real in listings:
                if names and names <= set(real):
                    return sorted(entries, key=lambda e: real.index(e[0]))
            return entries

        backend.listdir = ordered
        try:
            return await body(fs)
        finally:
            backend.listdir = plain

    program = FunctionProgram([thread], setup=model_setup(tree))
    with Runner(program, "memory") as runner:
        ex = runner.run_single(SequenceChooser([]))
    steps = []
    for e in ex.trace:
        op, path, result = e.op, e.path, e.result
        if op == "realpath":
            path = ""
            result = result if result.startswith("-1") else "ok"
        elif op in ("open", "write", "close", "chmod", "utimes") and not result.startswith("-1"):
            result = "ok"
        steps.append((op, path, result))
    r = ex.results[0]
    if r.error is None:
        value = r.value
        out = "ok" if value is None or isinstance(value, list) else f"ok {value}"
    elif isinstance(r.error, TarError):
        out = "err tar"
    elif isinstance(r.error, OSError) and r.error.errno:
        out = f"err {r.error.errno}"
    else:
        out = f"err {type(r.error).__name__}"
    return steps, out, dict(ex.tree)


def errno_name(code: int) -> str:
    return E.errorcode.get(code, str(code))
