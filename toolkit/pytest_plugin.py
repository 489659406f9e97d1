"""raceproof's pytest plugin (entry point ``pytest11``): concurrency regression tests for your own code.

Usage::

    @pytest.mark.raceproof(expect="safe")            # optional: defaults for the fixture
    def test_extract_is_race_free(raceproof):
        raceproof.verify([worker_a, worker_b], setup={"/srv/in/": b""}, check=my_check)

    def test_incident_still_reproduces(raceproof):   # a scenario file or a loaded Scenario
        raceproof.verify_scenario("scenarios/incident.toml", expect="unsafe")

``verify`` explores every interleaving (up to equivalence) of the async programs (each takes its
``raceproof.SchedFS``) and fails the test unless the verdict is the expected one (``"safe"``: no
counterexample in a complete search; ``"unsafe"``: a counterexample exists). On a failure the
message's **first line** is the one command that replays it::

    pytest 'tests/test_x.py::test_y' --raceproof-replay=rp1.…

(tokens longer than 100 characters are written under ``.raceproof/failures/`` in the rootdir and
passed as ``--raceproof-replay=@FILE``; shorter ones are inline, and nothing is written). With
``--raceproof-replay`` the matching ``verify`` call replays that one schedule instead of exploring,
and prints its trace. Verdicts and counts are added to the test's
user properties (JUnit ``<property>`` elements with ``--junitxml``).

Options: ``--raceproof-strategy``, ``--raceproof-max-executions``, ``--raceproof-seed`` (shown in the
header), ``--raceproof-replay``, ``--raceproof-dir``. The module imports nothing from raceproof at load
time; the explorer is imported on the first ``verify`` call.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

INLINE_TOKEN_MAX = 100


# options, marker, header ----------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("raceproof")
    group.addoption("--raceproof-strategy", default="dpor", help="raceproof exploration strategy (default dpor)")
    group.addoption("--raceproof-max-executions", type=int, default=None, help="raceproof execution budget")
    group.addoption("--raceproof-seed", type=int, default=0, help="seed for raceproof's random and pct strategies")
    group.addoption("--raceproof-replay", default=None, metavar="TOKEN|@FILE",
                    help="replay this schedule token (or the token in FILE) instead of exploring")
    group.addoption("--raceproof-dir", default=".raceproof", metavar="DIR",
                    help="where failure tokens are written (relative to the rootdir; default .raceproof)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "raceproof(expect='safe', strategy=None, max_executions=None, backend='memory', seed=None): "
                   "defaults for the raceproof fixture's verify calls in this test")


def pytest_report_header(config: pytest.Config) -> str:
    budget = config.getoption("--raceproof-max-executions")
    line = (f"raceproof: strategy={config.getoption('--raceproof-strategy')} "
            f"seed={config.getoption('--raceproof-seed')} "
            f"max-executions={budget if budget is not None else 'default'}")
    if config.getoption("--raceproof-replay"):
        line += " replay=on"
    return line


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    commands = []
    for rep in terminalreporter.stats.get("failed", []):
        for name, value in getattr(rep, "user_properties", []):
            if name == "raceproof.replay":
                commands.append(str(value))
    if commands:
        terminalreporter.write_sep("-", "raceproof: replay commands")
        for cmd in commands:
            terminalreporter.write_line(cmd)


# results and failures -------------------------------------------------------------------------

class RaceproofResult:
    """What one ``verify`` call found (also returned when the expectation is met)."""

    def __init__(self, verdict: str, expected: str, explore: Any = None, token: str | None = None,
                 replay_command: str | None = None, replayed: bool = False, execution: Any = None) -> None:
        self.verdict = verdict
        self.expected = expected
        self.explore = explore
        self.token = token
        self.replay_command = replay_command
        self.replayed = replayed
        self.execution = execution

    @property
    def executions(self) -> int:
        return int(self.explore.executions) if self.explore is not None else 1

    @property
    def equivalence_classes(self) -> int | None:
        if self.explore is None or not self.explore.complete:
            return None
        return int(self.explore.classes)

    def __repr__(self) -> str:
        return f"RaceproofResult(verdict={self.verdict!r}, expected={self.expected!r}, executions={self.executions})"


class RaceproofFixture:
    """The ``raceproof`` fixture: verify programs or scenarios inside a test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._config = request.config
        marker = request.node.get_closest_marker("raceproof")
        self._marker: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        if marker is not None and marker.args:
            self._marker.setdefault("expect", marker.args[0])
        raw = self._config.getoption("--raceproof-replay")
        self._replay_token = _read_token(raw) if raw else None
        self._replay_used = False
        self._digests: list[str] = []
        self.results: list[RaceproofResult] = []

    # settings: call > marker > command line
    def _setting(self, name: str, given: Any, option: str | None = None, default: Any = None) -> Any:
        if given is not None:
            return given
        if name in self._marker:
            return self._marker[name]
        if option is not None:
            value = self._config.getoption(option)
            if value is not None:
                return value
        return default

    def verify(self, programs: Sequence[Callable[..., Any]], *,
               setup: Mapping[str, bytes] | Callable[[Any], None] | None = None,
               check: Callable[[Any], Any] | None = None, expect: str | None = None,
               names: Sequence[str] | None = None, backend: str | None = None, strategy: str | None = None,
               max_executions: int | None = None, seed: int | None = None) -> RaceproofResult:
        """Explore `programs` (async functions taking a ``SchedFS``) and check the verdict.

        ``expect="safe"`` (default) fails the test on a counterexample or an incomplete search;
        ``expect="unsafe"`` fails it unless a counterexample is found.
        """
        __tracebackhide__ = True
        expect = self._expect(expect)
        backend = self._setting("backend", backend, None, "memory")
        strategy = self._setting("strategy", strategy, "--raceproof-strategy", "dpor")
        max_executions = self._setting("max_executions", max_executions, "--raceproof-max-executions")
        seed = self._setting("seed", seed, "--raceproof-seed", 0)
        if not programs:
            pytest.fail("raceproof.verify: give at least one program", pytrace=False)
        from raceproof.execution import Runner
        from raceproof.exploration import FunctionProgram

        program = FunctionProgram(programs, setup, check, names)
        digest = program.digest
        self._digests.append(digest)
        program.digest = digest
        token = self._replay_token
        if token is not None and _token_digest(token) == digest:
            self._replay_used = True
            return self._replay_programs(program, backend, token, expect)
        with Runner(program, backend) as runner:
            result = self._explore(runner, digest, strategy, max_executions, seed, expect)
        return self._judge(result)

    def verify_scenario(self, scenario: Any, *, expect: str | None = None, strategy: str | None = None,
                        max_executions: int | None = None, seed: int | None = None) -> RaceproofResult:
        """Verify a scenario (a path or a loaded ``Scenario``); `expect` defaults to its ``expect.verify``."""
        __tracebackhide__ = True
        from raceproof.errors import InputError
        from raceproof.runs import verify
        from raceproof.scenario import load

        try:
            sc = load(scenario) if isinstance(scenario, str | os.PathLike) else scenario
        except InputError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        expect = self._expect(expect if expect is not None else self._marker.get("expect", sc.expect_verify))
        strategy = self._setting("strategy", strategy, "--raceproof-strategy", "dpor")
        max_executions = self._setting("max_executions", max_executions, "--raceproof-max-executions")
        seed = self._setting("seed", seed, "--raceproof-seed", 0)
        self._digests.append(sc.digest)
        token = self._replay_token
        if token is not None and _token_digest(token) == sc.digest:
            self._replay_used = True
            return self._replay_scenario(sc, token, expect)
        vr = verify(sc, strategy, max_executions, seed)
        r = vr.result
        cex = r.counterexample
        res = RaceproofResult(r.verdict, expect, r, cex.token if cex else None, None,
                              execution=cex.execution if cex else None)
        if cex is not None:
            res.cli_command = cex.replay_command if _persistent(sc.file) else None  # type: ignore[attr-defined]
        return self._judge(res)

    # internals ---------------------------------------------------------------------------------
    def _expect(self, expect: str | None) -> str:
        expect = expect if expect is not None else self._marker.get("expect", "safe")
        if expect not in ("safe", "unsafe"):
            pytest.fail(f"raceproof: expect must be 'safe' or 'unsafe' (got {expect!r})", pytrace=False)
        return str(expect)

    def _explore(self, runner: Any, digest: str, strategy: str, max_executions: int | None, seed: int,
                 expect: str) -> RaceproofResult:
        from raceproof import token as tokens
        from raceproof.errors import InputError
        from raceproof.exploration import run_exploration
        from raceproof.strategies import make_strategy

        options: dict[str, Any] = {}
        if strategy in ("random", "pct"):
            options["seed"] = seed
            if max_executions is None:
                max_executions = 1000
        try:
            strat = make_strategy(strategy, **options)
        except InputError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        r = run_exploration(runner, strat, max_executions=max_executions)
        cex = r.counterexample
        res = RaceproofResult(r.verdict, expect, r)
        if cex is not None:
            if expect == "safe":  # a failure: make it small and explain it
                from raceproof.shrink import explain, shrink_execution

                cex.execution = shrink_execution(runner, cex.execution)
                cex.explanation = explain(runner, cex.execution)
            cex.token = tokens.encode(digest, cex.execution.choices)
            res.token = cex.token
            res.execution = cex.execution
        return res

    def _replay_programs(self, program: Any, backend: str, token: str, expect: str) -> RaceproofResult:
        from raceproof import token as tokens
        from raceproof.errors import TokenError
        from raceproof.execution import Runner
        from raceproof.strategies.replay import ReplayChooser

        try:
            choices = tokens.decode(token, program.digest, "this raceproof.verify call")
            with Runner(program, backend) as runner:
                execution = runner.run_single(ReplayChooser(choices))
        except TokenError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        return self._judge_replay(execution, token, expect)

    def _replay_scenario(self, sc: Any, token: str, expect: str) -> RaceproofResult:
        from raceproof.errors import TokenError
        from raceproof.runs import replay

        try:
            rr = replay(sc, token)
        except TokenError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        return self._judge_replay(rr.execution, token, expect)

    def _judge_replay(self, execution: Any, token: str, expect: str) -> RaceproofResult:
        __tracebackhide__ = True
        from raceproof.trace import render_lines

        failed = bool(execution.violations)
        res = RaceproofResult("unsafe" if failed else "pass", expect, None, token, None, replayed=True,
                              execution=execution)
        self._properties(res)
        lines = render_lines(execution.trace, execution.names,
                             highlight=[v.step for v in execution.violations if v.step is not None])
        text = "\n".join(["raceproof: replayed one schedule:", *lines,
                          *[f"violation {v.check}: {v.message}" for v in execution.violations]])
        print(text)
        if failed and expect == "safe":
            res.replay_command = self._replay_command(token)
            pytest.fail("\n".join([res.replay_command, "raceproof: the replayed schedule fails "
                                   "(expected safe)", text]), pytrace=False)
        if not failed and expect == "unsafe":
            pytest.fail("raceproof: the replayed schedule no longer fails (expected unsafe)\n" + text, pytrace=False)
        self.results.append(res)
        return res

    def _judge(self, res: RaceproofResult) -> RaceproofResult:
        __tracebackhide__ = True
        self._properties(res)
        self.results.append(res)
        r = res.explore
        if res.verdict == res.expected:
            return res
        counts = f"{r.executions} executions" + (f", {r.classes} equivalence classes" if r.complete else "") + \
                 f", strategy {r.strategy}, stopped: {r.stop_reason}"
        if res.verdict == "unsafe":
            assert res.token is not None
            res.replay_command = self._replay_command(res.token)
            self._request.node.user_properties.append(("raceproof.replay", res.replay_command))
            pytest.fail("\n".join([res.replay_command, *self._failure_details(res, counts)]), pytrace=False)
        if res.expected == "unsafe" and res.verdict == "safe":
            pytest.fail(f"raceproof: expected a counterexample, but the search proved the programs safe ({counts}): "
                        "the harness no longer reproduces the bug", pytrace=False)
        pytest.fail(f"raceproof: {res.verdict}: the search did not finish ({counts}); expected {res.expected}. "
                    "Raise --raceproof-max-executions or use a sound strategy (dpor).", pytrace=False)

    def _failure_details(self, res: RaceproofResult, counts: str) -> list[str]:
        from raceproof.trace import render_lines

        ex = res.execution
        cex = res.explore.counterexample
        first = ex.violations[0] if ex.violations else None
        what = f"{first.thread + ' ' if first.thread else ''}{first.op + '(' + first.path + ') ' if first.op else ''}" \
               f"{first.errno or ''}: {first.message}" if first else "a counterexample"
        out = [f"raceproof: counterexample (expected {res.expected}): {what}", f"  {counts}", "timeline (shrunk):"]
        expl = getattr(cex, "explanation", {}) or {}
        marks = [v.step for v in ex.violations if v.step is not None]
        if expl.get("conflict"):
            marks.append(expl["conflict"]["first"]["index"])
        failing = min((v.step for v in ex.violations if v.step is not None), default=len(ex.trace) - 1)
        lines = render_lines(ex.trace, ex.names, highlight=marks)
        out += lines[: failing + 1]
        if len(lines) > failing + 1:
            out.append(f"  ... {len(lines) - failing - 1} later steps")
        for v in ex.violations:
            out.append(f"violation {v.check}: {v.message}")
        if expl.get("mechanism"):
            out.append(f"why: {expl['mechanism']}")
        if expl.get("certain_after"):
            c = expl["certain_after"]
            out.append(f"failure was certain after step {c['index']} ({c['thread']} {c['op']} {c['path']})")
        cli = getattr(res, "cli_command", None)
        if cli:
            out.append(f"standalone: {cli}")
        out.append(f"token: {res.token}")
        return out

    def _properties(self, res: RaceproofResult) -> None:
        props = self._request.node.user_properties
        props.append(("raceproof.verdict", res.verdict))
        props.append(("raceproof.expected", res.expected))
        props.append(("raceproof.executions", res.executions))
        classes = res.equivalence_classes
        props.append(("raceproof.equivalence_classes", "" if classes is None else classes))
        if res.explore is not None:
            props.append(("raceproof.naive_interleavings", str(res.explore.naive_interleavings)))
            props.append(("raceproof.stop_reason", res.explore.stop_reason))
            props.append(("raceproof.strategy", res.explore.strategy))
        if res.token:
            props.append(("raceproof.token", res.token))

    def _token_path(self, token: str) -> Path:
        node = self._request.node
        root = Path(self._config.rootpath)
        base = root / self._config.getoption("--raceproof-dir") / "failures"
        name = hashlib.sha256(node.nodeid.encode()).hexdigest()[:10] + "-" + token.rsplit(".", 1)[-1] + ".token"
        return base / name

    def _replay_command(self, token: str) -> str:
        """``pytest <this test> --raceproof-replay=…``, relative to the current directory."""
        node = self._request.node
        file = _rel(Path(node.path))
        rest = node.nodeid.split("::", 1)[1] if "::" in node.nodeid else ""
        target = f"{file}::{rest}" if rest else file
        if len(token) <= INLINE_TOKEN_MAX:
            arg = token
        else:  # too long for a command line someone copies: a file (written atomically)
            path = self._token_path(token)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(token + "\n", encoding="utf-8")
            os.replace(tmp, path)
            arg = "@" + _rel(path)
        return shlex.join(["pytest", target, f"--raceproof-replay={arg}"])

    def _finish(self) -> None:
        __tracebackhide__ = True
        if self._replay_token is not None and not self._replay_used and self._digests:
            pytest.fail(f"raceproof: --raceproof-replay: the token (for digest {_token_digest(self._replay_token)}) "
                        f"matched no verify call in this test (digests: {', '.join(self._digests)}); "
                        "it belongs to another test or to changed code", pytrace=False)


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)


def _persistent(file: str) -> bool:
    import tempfile

    try:
        return os.path.isfile(file) and not Path(file).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    except OSError:
        return False


def _token_digest(token: str) -> str:
    parts = token.strip().split(".")
    return parts[1] if len(parts) == 4 else ""


def _read_token(raw: str) -> str:
    if raw.startswith("@"):
        try:
            return Path(raw[1:]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise pytest.UsageError(f"--raceproof-replay: cannot read {raw[1:]}: {exc.strerror}") from None
    return raw.strip()


@pytest.fixture
def raceproof(request: pytest.FixtureRequest) -> Any:
    """Verify programs (``raceproof.verify``) or scenarios (``raceproof.verify_scenario``) in a test."""
    fx = RaceproofFixture(request)
    yield fx
    fx._finish()
