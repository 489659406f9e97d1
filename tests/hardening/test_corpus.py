"""The bad-input corpus of issue 10: generated scenario files, tokens and ``--inject`` specs, one
Hypothesis test (or more) per numbered class, each case held to the same contract: exit 2, one
line on stderr naming the input, no traceback, nothing written (``support.assert_bad_input``).

Classes 4 (huge counts) and 8 (backends agree) are about valid input too: there the assertions are
"no crash, the exact number" and "the three backends give the same answer".
"""

from __future__ import annotations

import json
import os
import string
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import SMALL, bad_input, invoke, snapshot, workdir

from raceproof import token as tokens
from raceproof.inject import FS_OPS
from raceproof.numbers import format_count
from raceproof.runs import replay
from raceproof.scenario import parse

CORPUS = settings(max_examples=12, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SMALL_SC = parse(tomllib.loads(SMALL), "scenario.toml")
DIGEST = SMALL_SC.digest
GOOD_CHOICES = replay(SMALL_SC).execution.choices  # the seeded walk: a schedule that fits exactly
names = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=12)


def write(cwd: Path, text: str | bytes, name: str = "scenario.toml") -> str:
    path = cwd / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return name


def small_with(extra: str = "", **replace: str) -> str:
    text = SMALL
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text + extra


# 1. hangs: tokens whose choices do not fit, non-finite and huge numbers, FIFOs ---------------------

@st.composite
def misfit_choices(draw: st.DrawFn) -> list[int]:
    """A choice list with the scenario's digest and a valid checksum that cannot fit the run:
    cut short, with extra choices, or with a value out of range."""
    good = list(GOOD_CHOICES)
    how = draw(st.sampled_from(["empty", "short", "long", "range"]))
    if how == "empty":
        return []
    if how == "short":
        return good[:draw(st.integers(0, len(good) - 1))]
    if how == "long":
        return good + draw(st.lists(st.integers(0, 1), min_size=1, max_size=20))
    i = draw(st.integers(0, len(good) - 1))
    return [*good[:i], draw(st.integers(64, 2**80)), *good[i + 1:]]


@CORPUS
@given(choices=misfit_choices(), via_file=st.booleans())
def test_1_misfit_tokens_are_refused_not_spun_on(choices: list[int], via_file: bool) -> None:
    tok = tokens.encode(DIGEST, choices)
    with workdir() as cwd:
        write(cwd, SMALL)
        if via_file:
            write(cwd, tok + "\n", "token.txt")
            line = bad_input(["replay", "scenario.toml", "--token-file", "token.txt"], cwd, "token.txt")
        else:
            line = bad_input(["replay", "scenario.toml", "--token", tok], cwd, "--token")
        assert "another program" in line


NUMERIC = ["slow-download:time", "slow-download:speed", "slow-download:limit", "writer:writes", "hostile:size",
           "hostile:cap", "errno:at_most", "errno:step", "disk-full:bytes", "truncate:keep", "corrupt:entry"]
non_finite = st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e309", "-1e400", "+inf"])


@CORPUS
@given(param=st.sampled_from(NUMERIC),
       value=st.one_of(non_finite, st.integers(min_value=2**41).map(str), st.integers(max_value=-2).map(str)),
       in_file=st.booleans())
def test_1_numeric_parameters_have_finite_ranges(param: str, value: str, in_file: bool) -> None:
    name, key = param.split(":")
    with workdir() as cwd:
        if in_file:  # the same parameter in an [[inject]] table (floats written as TOML would parse)
            toml_value = value if value.lstrip("+-").isdigit() else f'"{value}"'
            write(cwd, small_with(f'\n[[inject]]\nname = "{name}"\n{key} = {toml_value}\n'))
            bad_input(["replay", "scenario.toml"], cwd, "scenario.toml", f"inject[0].{key}")
        else:
            write(cwd, SMALL)
            bad_input(["replay", "scenario.toml", "--inject", f"{name}:{key}={value}"], cwd, f"'{key}'")


@pytest.mark.parametrize("where", ["scenario", "token-file"])
def test_1_a_fifo_is_refused_without_blocking(where: str) -> None:
    with workdir() as cwd:
        write(cwd, SMALL)
        os.mkfifo(cwd / "fifo")
        args = ["replay", "fifo"] if where == "scenario" else ["replay", "scenario.toml", "--token-file", "fifo"]
        bad_input(args, cwd, "fifo", "not a regular file")


# 2. bad input that used to exit 4 ------------------------------------------------------------------

@st.composite
def exit4_inputs(draw: st.DrawFn) -> tuple[list[str], dict[str, str | bytes], list[str]]:
    """(args, files to write, needles) for one formerly-exit-4 input."""
    kind = draw(st.sampled_from(["non-utf8", "non-utf8-token", "deep", "link-target", "conflict", "stale-path",
                                 "dev-zero", "hostile-size", "counts", "bigint"]))
    if kind == "bigint":  # an integer too long for int(): tomllib's ValueError
        key, digits = draw(st.sampled_from(["workers", "seed", "max_executions"])), draw(st.integers(4301, 9000))
        return (["verify", "scenario.toml"], {"scenario.toml": small_with(f"\n{key}_x = 1{'0' * digits}\n")
                 .replace(f"\n{key}_x", f"\n{key}") if key != "workers" else
                 small_with(**{"workers = 2": f"workers = 1{'0' * digits}"})}, ["scenario.toml", "4300 digits"])
    if kind == "counts":  # inputs that would make huge programs: too many mounts or members
        if draw(st.booleans()):
            n = draw(st.integers(65, 300))
            text = 'name = "many"\n' + "".join(f'[[mounts]]\npath = "/m/{i}"\nfiles = 0\n' for i in range(n))
            return ["verify", "scenario.toml"], {"scenario.toml": text}, ["scenario.toml: mounts", "at most 64"]
        n = draw(st.integers(1001, 3000))
        members = ", ".join(f'{{ name = "f{i}" }}' for i in range(n))
        text = small_with(**{'files = 1\n\n[[mounts]]': f'members = [{members}]\n\n[[mounts]]'})
        return ["replay", "scenario.toml"], {"scenario.toml": text}, ["mounts[0].members", "at most 1000"]
    if kind == "non-utf8":
        pos = draw(st.integers(0, len(SMALL)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\x80\x80"]))
        data = SMALL.encode()[:pos] + junk + SMALL.encode()[pos:]
        return ["replay", "scenario.toml"], {"scenario.toml": data}, ["scenario.toml", "not UTF-8"]
    if kind == "non-utf8-token":
        return (["replay", "scenario.toml", "--token-file", "t.txt"],
                {"scenario.toml": SMALL, "t.txt": b"rp1." + draw(st.binary(min_size=1, max_size=20)) + b"\xff"},
                ["t.txt"])
    if kind == "deep":
        depth = draw(st.integers(1_100, 6_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a=", "}")]))
        return (["verify", "scenario.toml"], {"scenario.toml": small_with(f"\ndescription = {opener * depth}"
                                                                          f"{closer * depth}\n")},
                ["scenario.toml"])
    if kind == "link-target":
        target = "t" * draw(st.integers(100, 600))
        member_kind = draw(st.sampled_from(["symlink", "hardlink"]))
        text = small_with(**{'files = 1\n\n[[mounts]]': f'members = [{{ name = "l", kind = "{member_kind}", '
                                                         f'target = "{target}" }}]\n\n[[mounts]]'})
        return ["replay", "scenario.toml"], {"scenario.toml": text}, ["mounts[0].members[0].target", "99 bytes"]
    if kind == "conflict":
        a = draw(names)
        how = draw(st.sampled_from(["file-at-dir", "file-under-file", "empty-target", "file-and-link",
                                    "link-under-file"]))
        initial = {
            "file-at-dir": 'files = { "/home/user" = "x" }',
            "file-under-file": f'files = {{ "/home/{a}" = "x", "/home/{a}/b" = "y" }}',
            "empty-target": f'symlinks = {{ "/home/{a}" = "" }}',
            "file-and-link": f'files = {{ "/home/{a}" = "x" }}\nsymlinks = {{ "/home/{a}" = "/t" }}',
            "link-under-file": f'files = {{ "/home/{a}" = "x" }}\nsymlinks = {{ "/home/{a}/l" = "/t" }}',
        }[how]
        text = small_with(**{'dirs = ["/home/user"]': f'dirs = ["/home/user"]\n{initial}'})
        return ["replay", "scenario.toml"], {"scenario.toml": text}, ["scenario.toml", "initial."]
    if kind == "stale-path":
        key = draw(st.sampled_from(["at", "target"]))
        bad = draw(st.one_of(st.just(""), names, names.map(lambda n: f"/a/../{n}"), names.map(lambda n: f"/{n}/")))
        return (["replay", "scenario.toml", "--inject", f"stale:kind=symlink-for-dir,{key}={bad}"],
                {"scenario.toml": SMALL}, [f"'{key}'"])
    if kind == "dev-zero":
        if draw(st.booleans()):
            return ["replay", "/dev/zero"], {}, ["/dev/zero", "not a regular file"]
        return ["replay", "scenario.toml", "--token-file", "/dev/zero"], {"scenario.toml": SMALL}, ["/dev/zero"]
    size = draw(st.integers((1 << 24) + 1, 10**15))
    return (["replay", "scenario.toml", "--inject", f"hostile:case=huge,size={size}"], {"scenario.toml": SMALL},
            ["'size'", "between 0 and"])


@settings(CORPUS, max_examples=30)
@given(case=exit4_inputs())
def test_2_bad_input_is_exit_2_not_4(case: tuple[list[str], dict[str, str | bytes], list[str]]) -> None:
    args, files, needles = case
    with workdir() as cwd:
        for name, text in files.items():
            write(cwd, text, name)
        bad_input(args, cwd, *needles)


# 3. injector parameters that cannot apply -----------------------------------------------------------

@st.composite
def inapplicable(draw: st.DrawFn) -> tuple[str, dict[str, object], str]:
    """(injector, params, the parameter that cannot apply) for the small scenario (one entry per archive)."""
    word = draw(names.filter(lambda n: n not in FS_OPS))
    return draw(st.sampled_from([
        ("truncate", {"keep": draw(st.integers(1, 100_000))}, "keep"),
        ("corrupt", {"entry": draw(st.integers(1, 100_000))}, "entry"),
        ("crash", {"op": word}, "op"),
        ("crash", {"op": f"mkdir,{word}"}, "op"),
        ("errno", {"op": word}, "op"),
        ("errno", {"path": draw(st.sampled_from(["[", "/home/[ab", "*[", "/x/[!"]))}, "path"),
        ("errno", {"path": word}, "path"),
        ("errno", {"thread": f"no-such-{word}"}, "thread"),
        ("stale", {"mount": f"/nowhere/{word}"}, "mount"),
        ("truncate", {"mount": f"/nowhere/{word}"}, "mount"),
        ("slow-download", {"mount": str(draw(st.integers(2, 99)))}, "mount"),
        ("hostile", {"mount": f"/nowhere/{word}"}, "mount"),
        ("writer", {"dir": word}, "dir"),
        ("disk-full", {"path": word}, "path"),
    ]))


@CORPUS
@given(case=inapplicable(), in_file=st.booleans())
def test_3_parameters_that_cannot_apply_are_errors_naming_them(case: tuple[str, dict[str, object], str],
                                                                in_file: bool) -> None:
    name, params, param = case
    with workdir() as cwd:
        if in_file:
            body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in params.items())
            write(cwd, small_with(f'\n[[inject]]\nname = "{name}"\n{body}'))
            bad_input(["replay", "scenario.toml"], cwd, "scenario.toml", f"inject[0].{param}")
        else:
            write(cwd, SMALL)
            spec = f"{name}:" + ",".join(f"{k}={v}" for k, v in params.items())
            bad_input(["replay", "scenario.toml", "--inject", spec], cwd, f"parameter '{param}'")


# 4. huge naive counts --------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.one_of(st.integers(0, 10**7), st.integers(10**300, 10**2000),
                  st.integers(1, 3000).map(lambda k: 10**k - 1)))
def test_4_format_count_is_exact_for_any_size(n: int) -> None:
    text = format_count(n)
    if n < 10**6:
        assert text == str(n)
        return
    mantissa, exp = text.split("e")
    # the printed value is n to 4 significant digits: |mantissa * 10^exp - n| <= half a unit in the last place
    assert abs(Decimal(mantissa).scaleb(int(exp)) - n) <= Decimal("0.0005").scaleb(int(exp))
    assert 1 <= Decimal(mantissa) < 10


@settings(max_examples=10, deadline=None, derandomize=True)
@given(mounts=st.integers(3, 4), files=st.integers(40, 50), as_json=st.booleans())
def test_4_huge_naive_counts_print_without_overflow(mounts: int, files: int, as_json: bool) -> None:
    paths = ["/home/user/a", "/home/user/a/b", "/home/user/c", "/home/user/c/d"][:mounts]
    text = f'name = "big"\nalgorithm = "pre-cleanup"\nworkers = {mounts}\n' + "".join(
        f'[[mounts]]\npath = "{p}"\nfiles = {files}\n' for p in paths)
    with workdir() as cwd:
        write(cwd, text)
        before = snapshot(cwd)
        # dpor pinned: its first execution passes, so the budget stops it (a portfolio's PCT probe fails at once)
        run = invoke(["verify", "scenario.toml", "--strategy", "dpor", "--max-executions", "1",
                      *(["--json"] if as_json else [])], cwd)
        assert run.exception is None, repr(run.exception)
        assert run.exit_code == 3, (run.stdout[-300:], run.stderr)  # a budget stop: inconclusive
        assert run.stderr == "" and "Traceback" not in run.stdout
        if as_json:
            naive = json.loads(run.stdout)["naive_interleavings"]
            assert naive.isdigit() and len(naive) > 308  # past float's range, every digit kept
        else:
            [summary] = [ln for ln in run.stdout.splitlines() if "naive interleavings" in ln]
            assert "e+" in summary.split(" of ")[1]
        assert snapshot(cwd) == before


def test_4_report_with_a_huge_naive_count() -> None:
    text = 'name = "big"\nalgorithm = "pre-cleanup"\nworkers = 3\n' + "".join(
        f'[[mounts]]\npath = "{p}"\nfiles = 50\n' for p in ["/home/user/a", "/home/user/a/b", "/home/user/c"])
    with workdir() as cwd:
        write(cwd, text)
        run = invoke(["report", "scenario.toml", "--max-executions", "1", "-o", "out"], cwd)
        assert run.exit_code == 3, run.stderr
        assert sorted(p.name for p in (cwd / "out").iterdir()) == ["junit.xml", "report.html", "report.json",
                                                                   "report.md"]


# 5. scenario files do not run code --------------------------------------------------------------------

MODULES = ["builtins", "os", "this", "subprocess", "shutil", "antigravity", "ctypes", "raceproof.cli",
           "json", "sys"]


@CORPUS
@given(module=st.sampled_from(MODULES), attr=st.sampled_from(["print", "system", "x", "rmtree", "main", "exit"]),
       command=st.sampled_from(["replay", "verify", "report"]))
def test_5_a_scenario_file_never_imports_or_calls_code(module: str, attr: str, command: str) -> None:
    imported_before = module in sys.modules
    with workdir() as cwd:
        write(cwd, small_with(**{'algorithm = "pre-cleanup"': f'algorithm = "{module}:{attr}"'}))
        args = [command, "scenario.toml"] + (["-o", "out"] if command == "report" else [])
        line = bad_input(args, cwd, "scenario.toml", "algorithm", "--allow-import")
        assert f"{module}:{attr}" in line
    assert (module in sys.modules) == imported_before  # nothing was imported


ALGOS = '''\
from raceproof.models.rust_fs import create_dir_all


async def fixed_like(fs, job):
    await create_dir_all(fs, job.root)


def not_async(fs, job):
    return None


not_callable = 3
'''


@pytest.mark.parametrize(("algorithm", "allow", "code", "needle"), [
    ("algos_hardening:fixed_like", "algos_hardening.py", {0, 1}, None),
    ("algos_hardening:not_async", "algos_hardening.py", {2}, "async def"),
    ("algos_hardening:not_callable", "algos_hardening.py", {2}, "async def"),
    ("algos_hardening:missing", "algos_hardening.py", {2}, "no attribute"),
    ("algos_hardening:fixed_like", "json", {2}, "--allow-import"),
    ("algos_hardening:fixed_like", "no_such_module_hardening", {2}, "cannot import"),
])
def test_5_user_algorithms_load_only_from_the_opt_in(algorithm: str, allow: str, code: set[int],
                                                      needle: str | None) -> None:
    with workdir() as cwd:
        write(cwd, ALGOS, "algos_hardening.py")
        write(cwd, small_with(**{'algorithm = "pre-cleanup"': f'algorithm = "{algorithm}"'}))
        args = ["replay", "scenario.toml", "--allow-import", allow]
        try:
            if needle is None:
                run = invoke(args, cwd)
                assert run.exit_code in code and run.exception is None, run.stderr
                assert "verdict" in run.stdout
            else:
                bad_input(args, cwd, needle)
        finally:
            sys.modules.pop("algos_hardening", None)


# 7. reports are all or nothing --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("saved")
    (out / "s.toml").write_text(SMALL)
    run = invoke(["report", "s.toml", "-o", "r"], out)
    assert run.exit_code in (0, 1), run.stderr
    return out / "r" / "report.json"


@CORPUS
@given(fail_at=st.integers(0, 3), errno_name=st.sampled_from(["ENOSPC", "EIO", "EDQUOT"]),
       old=st.booleans(), where=st.sampled_from(["fsync", "write"]))
def test_7_reports_are_written_all_or_none(saved_report: Path, fail_at: int, errno_name: str, old: bool,
                                           where: str) -> None:
    import errno as E

    import raceproof.reports.command as command

    code = getattr(E, errno_name)
    calls = {"n": 0}
    real_fsync, real_fdopen = os.fsync, os.fdopen

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] > fail_at:
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    class FailingFile:
        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __enter__(self) -> FailingFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # type: ignore[attr-defined]

        def write(self, text: str) -> int:
            calls["n"] += 1
            self.fh.write(text[:len(text) // 2])  # type: ignore[attr-defined]
            if calls["n"] > fail_at:
                raise OSError(code, os.strerror(code))
            return int(self.fh.write(text[len(text) // 2:]))  # type: ignore[attr-defined]

        def flush(self) -> None:
            self.fh.flush()  # type: ignore[attr-defined]

        def fileno(self) -> int:
            return int(self.fh.fileno())  # type: ignore[attr-defined]

    with workdir() as cwd:
        out = cwd / "out"
        if old:
            out.mkdir()
            for name in command.FORMATS.values():
                (out / name).write_text(f"old {name}\n")
        before = snapshot(cwd)
        with pytest.MonkeyPatch.context() as mp:
            if where == "fsync":
                mp.setattr(command.os, "fsync", failing_fsync)
            else:
                mp.setattr(command.os, "fdopen", lambda *a, **k: FailingFile(real_fdopen(*a, **k)))
            run = invoke(["report", "--from-json", str(saved_report), "-o", "out"], cwd)
        assert run.exit_code == 2 and run.exception is None, (run.exit_code, run.stderr)
        [line] = run.stderr.splitlines()
        assert line.startswith("raceproof: error: ") and os.strerror(code) in line
        assert snapshot(cwd) == before  # the old reports untouched (or no directory at all), no temp file


# 8. backends agree or refuse ------------------------------------------------------------------------------

@CORPUS
@given(length=st.integers(256, 1000), where=st.sampled_from(["mount", "initial.dirs", "initial.files"]),
       backend=st.sampled_from(["memory", "fake", "real"]))
def test_8_a_name_over_name_max_is_refused_on_every_backend(length: int, where: str, backend: str) -> None:
    long = "n" * length
    with workdir() as cwd:
        if where == "mount":
            text = small_with(**{'"/home/user/.claude/skills/pdf"': f'"/home/user/.claude/skills/{long}"'})
            field = "mounts[1].path"
        elif where == "initial.dirs":
            text = small_with(**{'dirs = ["/home/user"]': f'dirs = ["/home/user", "/home/{long}"]'})
            field = "initial.dirs[1]"
        else:
            text = small_with(**{'dirs = ["/home/user"]': f'dirs = ["/home/user"]\nfiles = {{ "/x/{long}" = "" }}'})
            field = "initial.files"
        write(cwd, text)
        bad_input(["replay", "scenario.toml", "--backend", backend], cwd, field, "NAME_MAX")


# 9. messages ------------------------------------------------------------------------------------------------

@st.composite
def usage_errors(draw: st.DrawFn) -> tuple[list[str], str]:
    kind = draw(st.sampled_from(["option", "range", "directory", "missing", "command", "type"]))
    command = draw(st.sampled_from(["replay", "verify", "report"]))
    if kind == "option":
        return [command, "scenario.toml", f"--{draw(names)}-x"], "No such option"
    if kind == "range":
        opt, bad = draw(st.sampled_from([("--max-executions", st.integers(max_value=0)),
                                         ("--max-executions", st.integers(min_value=10**9 + 1)),
                                         ("--mount-sets", st.integers(min_value=6)),
                                         ("--mount-sets", st.integers(max_value=-1)),
                                         ("--bound", st.integers(min_value=65)),
                                         ("--depth", st.integers(max_value=0)),
                                         ("--seed", st.integers(min_value=2**63))]))
        return ["verify", "scenario.toml", opt, str(draw(bad))], opt
    if kind == "directory":
        return [command, "."] + (["-o", "out"] if command == "report" else []), "is a directory"
    if kind == "missing":
        return [draw(st.sampled_from(["replay", "verify"]))], "Missing argument"
    if kind == "type":
        return ["verify", "scenario.toml", "--seed", draw(names.filter(lambda n: not n.isdigit()))], "--seed"
    return [draw(names.map(lambda n: f"x{n}"))], "No such command"


@CORPUS
@given(case=usage_errors(), as_json=st.booleans())
def test_9_usage_errors_are_one_line(case: tuple[list[str], str], as_json: bool) -> None:
    args, needle = case
    with workdir() as cwd:
        write(cwd, SMALL)
        bad_input(args + (["--json"] if as_json and args[0] in ("replay", "verify") else []), cwd, needle)


markup = st.sampled_from([":smile:", "[bold]", "[red]x[/red]", "[/]", ":thumbs_up:", "[link=http://x]", "\x1b[31m",
                          "\r", "\n", "\t"])


@CORPUS
@given(prefix=names.map(lambda n: "f" + n), mark=markup, suffix=names, command=st.sampled_from(["replay", "verify"]),
       as_json=st.booleans())
def test_9_user_text_is_rendered_literally(prefix: str, mark: str, suffix: str, command: str, as_json: bool) -> None:
    name = f"{prefix}{mark}{suffix}.toml"
    with workdir() as cwd:
        line = bad_input([command, name, *(["--json"] if as_json else [])], cwd, "no such file")
        shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in name)
        assert shown in line  # literally: no emoji, no markup consumed, control characters escaped
        assume(mark.isprintable())
        assert mark in line
