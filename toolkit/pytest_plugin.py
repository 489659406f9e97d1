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
message's **first line** says what failed (the violation, the thread, the step), so pytest's ``-ra``
summary and JUnit's ``message`` carry it; the **second** is the one command that replays it::

    raceproof: unsafe (expected safe): no-worker-error in thread 'x' at step 8 mkdir(/a/b) = -1 ENOENT
    pytest 'tests/test_x.py::test_y' --raceproof-replay=rp1.…

(tokens longer than 100 characters are written under ``.raceproof/failures/`` in the rootdir and
passed as ``--raceproof-replay=@FILE``; shorter ones are inline, and nothing is written). With
``--raceproof-replay`` the ``verify`` call whose programs the token was made for replays that one
schedule instead of exploring, and prints its trace; other tests run as usual (a test named on the
command line whose calls do not match the token is an error, and so is a token no test used).
Verdicts and counts are added to the test's user properties (JUnit ``<property>`` elements with ``--junitxml``).

On a failure, the timeline after those two lines shows the steps in the failure's causal past (happens-before: program
order plus dependent steps) and says how many were elided.

Options: ``--raceproof-strategy``, ``--raceproof-max-executions``, ``--raceproof-seed`` (shown in the
header), ``--raceproof-replay``, ``--raceproof-dir``. A bad option or marker key is a usage error
naming the known ones. At load time the module imports only ``raceproof.result`` (the result type,
a few dataclasses); the explorer is imported on the first ``verify`` call.

pyfakefs (raceproof's ``fake`` backend) registers its own pytest plugin through its own ``pytest11``
entry point, so its ``fs`` fixture is in every session of an environment where it is installed,
whatever raceproof does; raceproof never uses that fixture. Disable it with ``-p no:fakefs``.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from raceproof.result import Counterexample, Result

if TYPE_CHECKING:
    from raceproof.checks import Check

INLINE_TOKEN_MAX = 100
#: the strategies a test can use (``raceproof.strategies.REGISTRY`` without ``replay``, which is
#: ``--raceproof-replay``); listed here so a bad option fails at startup without importing raceproof
STRATEGIES = ("dpor", "portfolio", "dfs", "stateful", "random", "pct", "preemption")
#: the keys of ``@pytest.mark.raceproof(...)``
MARKER_KEYS = ("expect", "strategy", "max_executions", "backend", "seed", "driver", "jobs")
DRIVERS = ("trio", "direct")
BACKENDS = ("memory", "fake", "real")
SAMPLING = ("random", "pct")
_REPLAY_USED = pytest.StashKey[list[str]]()


# options, marker, header ----------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("raceproof")
    group.addoption("--raceproof-strategy", default="dpor", choices=STRATEGIES,
                    help=f"raceproof exploration strategy: {', '.join(STRATEGIES)} (default dpor)")
    group.addoption("--raceproof-max-executions", type=int, default=None, help="raceproof execution budget")
    group.addoption("--raceproof-seed", type=int, default=0, help="seed for raceproof's random and pct strategies")
    group.addoption("--raceproof-jobs", type=int, default=None, metavar="N",
                    help="processes for one DPOR search on the memory backend (default 1): past its first "
                         "500 executions the search is shared with N - 1 forked workers, with the serial result")
    group.addoption("--raceproof-driver", default=None, choices=DRIVERS,
                    help="run scenario threads as Trio tasks (trio, default) or drive them directly (direct, faster)")
    group.addoption("--raceproof-replay", default=None, metavar="TOKEN|@FILE",
                    help="replay this schedule token (or the token in FILE) instead of exploring")
    group.addoption("--raceproof-dir", default=".raceproof", metavar="DIR",
                    help="where failure tokens are written (relative to the rootdir; default .raceproof)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPLAY_USED] = []
    budget = config.getoption("--raceproof-max-executions")
    if budget is not None and budget < 1:
        raise pytest.UsageError(f"--raceproof-max-executions must be at least 1 (got {budget})")
    jobs = config.getoption("--raceproof-jobs")
    if jobs is not None and jobs < 1:
        raise pytest.UsageError(f"--raceproof-jobs must be at least 1 (got {jobs})")
    config.addinivalue_line(
        "markers", "raceproof(expect='safe', strategy=None, max_executions=None, backend='memory', seed=None, "
                   "driver=None, jobs=None): "
                   "defaults for the raceproof fixture's verify calls in this test")


def pytest_report_header(config: pytest.Config) -> str:
    budget = config.getoption("--raceproof-max-executions")
    line = (f"raceproof: strategy={config.getoption('--raceproof-strategy')} "
            f"seed={config.getoption('--raceproof-seed')} "
            f"max-executions={budget if budget is not None else 'default'}")
    jobs = config.getoption("--raceproof-jobs")
    if jobs is not None and jobs > 1:
        line += f" jobs={jobs}"
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
    unused = _unused_replay(config)
    if unused:
        terminalreporter.write_sep("-", "raceproof: --raceproof-replay")
        terminalreporter.write_line(unused, red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unused_replay(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _unused_replay(config: pytest.Config) -> str | None:
    """A token given with --raceproof-replay that no verify call of the tests that ran matched."""
    raw = config.getoption("--raceproof-replay", None)
    seen = config.stash.get(_REPLAY_USED, None)
    if not raw or seen is None or not seen or "used" in seen:
        return None
    return (f"the token (for digest {_token_digest(_read_token(raw))}) matched no raceproof verify call "
            "in the tests that ran: it belongs to a test that did not run, or to changed code")


# results and failures -------------------------------------------------------------------------

#: what one ``verify`` call of the fixture returns: the one result type, with ``expected`` set to
#: the test's expectation (a ``--raceproof-replay`` run is ``kind == "replay"``: verdict
#: ``unsafe`` or ``pass``)
RaceproofResult = Result


class RaceproofFixture:
    """The ``raceproof`` fixture: verify programs or scenarios inside a test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._config = request.config
        marker = request.node.get_closest_marker("raceproof")
        self._marker: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        if marker is not None and marker.args:
            self._marker.setdefault("expect", marker.args[0])
        problem = _marker_problem(self._marker, len(marker.args) if marker is not None else 0)
        if problem:
            pytest.fail(f"raceproof: @pytest.mark.raceproof: {problem}", pytrace=False)
        raw = self._config.getoption("--raceproof-replay")
        self._replay_token = _read_token(raw) if raw else None
        self._replay_used = False
        self._digests: list[str] = []
        self.results: list[Result] = []

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
               max_executions: int | None = None, seed: int | None = None,
               checks: Sequence[str | Check] = (), jobs: int | None = None) -> Result:
        """Explore `programs` (async functions taking a ``SchedFS``) and check the verdict.

        ``expect="safe"`` (default) fails the test on a counterexample or an incomplete search;
        ``expect="unsafe"`` fails it unless a counterexample is found. Each execution is judged by
        `check` (a function of the execution) or `checks` (``raceproof.checks``: names or ``Check``
        objects); by default a program that raised fails. `jobs` (also a marker key and
        ``--raceproof-jobs``; default 1): processes for a long DPOR search (``raceproof.subtrees``;
        the programs and `check` also run in the forked workers).
        """
        __tracebackhide__ = True
        expect = self._expect(expect)
        backend = self._setting("backend", backend, None, "memory")
        strategy = self._setting("strategy", strategy, "--raceproof-strategy", "dpor")
        max_executions = self._setting("max_executions", max_executions, "--raceproof-max-executions")
        seed = self._setting("seed", seed, "--raceproof-seed", 0)
        jobs = self._jobs(jobs)
        if not programs:
            pytest.fail("raceproof.verify: give at least one program", pytrace=False)
        from raceproof.errors import InputError
        from raceproof.execution import Runner
        from raceproof.exploration import FunctionProgram, check_programs

        try:
            check_programs(programs)
            program = FunctionProgram(programs, setup, check, names, checks)
        except InputError as exc:
            pytest.fail(f"raceproof.verify: {exc}", pytrace=False)
        digest = program.digest
        self._digests.append(digest)
        program.digest = digest
        token = self._replay_token
        if token is not None and self._claims(token, digest):
            return self._replay_programs(program, backend, token, expect)
        with Runner(program, backend) as runner:
            result = self._explore(runner, strategy, max_executions, seed, expect, jobs)
        return self._judge(result)

    def verify_scenario(self, scenario: Any, *, expect: str | None = None, strategy: str | None = None,
                        max_executions: int | None = None, seed: int | None = None,
                        driver: str | None = None, checks: Sequence[str | Check] = (),
                        jobs: int | None = None) -> Result:
        """Verify a scenario (a path or a loaded ``Scenario``); `expect` defaults to its ``expect.verify``.
        `driver` (also a marker key and ``--raceproof-driver``): ``trio`` (default) or ``direct``.
        `jobs` (also a marker key and ``--raceproof-jobs``; default 1): processes for a long DPOR search.
        `checks` (``raceproof.checks``: names or ``Check`` objects) replace the scenario's checks."""
        __tracebackhide__ = True
        from raceproof.checks import resolve
        from raceproof.errors import InputError
        from raceproof.runs import verify
        from raceproof.scenario import load

        try:
            sc = load(scenario) if isinstance(scenario, str | os.PathLike) else scenario
            if checks:
                resolve(checks)  # an unknown name or a non-check fails here, naming it
                sc = sc.with_changes(checks=tuple(checks))
        except InputError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        expect = self._expect(expect if expect is not None else self._marker.get("expect", sc.expect_verify))
        strategy = self._setting("strategy", strategy, "--raceproof-strategy", "dpor")
        max_executions = self._setting("max_executions", max_executions, "--raceproof-max-executions")
        seed = self._setting("seed", seed, "--raceproof-seed", 0)
        driver = self._setting("driver", driver, "--raceproof-driver", "trio")
        jobs = self._jobs(jobs)
        if driver not in DRIVERS:
            pytest.fail(f"raceproof: driver {driver!r}: must be one of {', '.join(DRIVERS)}", pytrace=False)
        self._digests.append(sc.digest)
        token = self._replay_token
        if token is not None and self._claims(token, sc.digest):
            return self._replay_scenario(sc, token, expect)
        vr = verify(sc, strategy, max_executions, seed, driver=driver, jobs=jobs)
        cli = vr.command if vr.counterexample is not None and _persistent(sc.file) else None
        return self._judge(replace(vr, expected=expect), cli)

    def exec_verify(self, argv: Sequence[str], *, scenario: Any = None, sandbox: Sequence[str] = (),
                    expect: str | None = None, strategy: str | None = None, max_executions: int | None = None,
                    seed: int | None = None, timeout: float | None = None) -> RaceproofResult:
        """Run a real program under the syscall gate (``raceproof exec``) and check the verdict: every
        file system call in its sandbox (`sandbox` directories, or a `scenario`'s mounts for a
        guest-download binary, ``{variant}``/``{manifest}`` in `argv`) is one step."""
        __tracebackhide__ = True
        from raceproof.exec.plugin import exec_verify

        return exec_verify(self, list(argv), scenario, list(sandbox), expect, strategy, max_executions, seed, timeout)

    # internals ---------------------------------------------------------------------------------
    def _claims(self, token: str, digest: str) -> bool:
        """Whether the replay token was made for this verify call (its programs' digest)."""
        used = self._config.stash.get(_REPLAY_USED, [])
        if _token_digest(token) != digest:
            used.append("ran")
            return False
        self._replay_used = True
        used.append("used")
        return True

    def _expect(self, expect: str | None) -> str:
        expect = expect if expect is not None else self._marker.get("expect", "safe")
        if expect not in ("safe", "unsafe"):
            pytest.fail(f"raceproof: expect must be 'safe' or 'unsafe' (got {expect!r})", pytrace=False)
        return str(expect)

    def _jobs(self, given: int | None) -> int:
        jobs = self._setting("jobs", given, "--raceproof-jobs", 1)
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            pytest.fail(f"raceproof: jobs must be an integer of at least 1 (got {jobs!r})", pytrace=False)
        return jobs

    def _explore(self, runner: Any, strategy: str, max_executions: int | None, seed: int,
                 expect: str, jobs: int = 1) -> Result:
        """The same search and counterexample pipeline as ``raceproof verify`` (``run_exploration``):
        a failure that was not expected is shrunk and explained."""
        from raceproof.errors import InputError
        from raceproof.exploration import run_exploration
        from raceproof.strategies import make_strategy, with_defaults

        options: dict[str, Any] = {}
        max_executions = with_defaults(strategy, max_executions, seed, options)
        try:
            strat = make_strategy(strategy, **options)
        except InputError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        unexpected = expect == "safe"
        r = run_exploration(runner, strat, max_executions=max_executions, shrink=unexpected, explain=unexpected,
                            jobs=jobs)
        return replace(r, expected=expect, token=r.counterexample.token if r.counterexample else None)

    def _replay_programs(self, program: Any, backend: str, token: str, expect: str) -> Result:
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

    def _replay_scenario(self, sc: Any, token: str, expect: str) -> Result:
        from raceproof.errors import TokenError
        from raceproof.runs import replay

        try:
            rr = replay(sc, token)
        except TokenError as exc:
            pytest.fail(f"raceproof: {exc}", pytrace=False)
        return self._judge_replay(rr.execution, token, expect)

    def _judge_replay(self, execution: Any, token: str, expect: str) -> Result:
        __tracebackhide__ = True
        failed = bool(execution.violations)
        res = Result("unsafe" if failed else "pass", kind="replay", complete=True, executions=1, strategy="replay",
                     expected=expect, token=token, execution=execution)
        self._properties(res)
        if failed and expect == "safe":
            command = self._replay_command(token)
            pytest.fail("\n".join([f"raceproof: the replayed schedule fails (expected safe): {headline(execution)}",
                                   command, *_details(execution, _pair(execution), "replayed")]),
                        pytrace=False)
        lines, _ = _timeline(execution, None)
        text = "\n".join(["raceproof: replayed one schedule:", *lines, *_violation_lines(execution, 0)])
        if not failed and expect == "unsafe":
            pytest.fail("raceproof: the replayed schedule no longer fails (expected unsafe)\n" + text, pytrace=False)
        print(text)
        self.results.append(res)
        return res

    def _judge(self, res: Result, cli_command: str | None = None) -> Result:
        __tracebackhide__ = True
        self._properties(res)
        self.results.append(res)
        if res.verdict == res.expected:
            return res
        counts = f"{res.executions} executions" + (f", {res.classes} equivalence classes" if res.complete else "") + \
            f", strategy {res.strategy}, stopped: {res.stop_reason}"
        cex = res.counterexample
        if res.verdict == "unsafe":
            assert res.token is not None and cex is not None
            command = self._replay_command(res.token)
            self._request.node.user_properties.append(("raceproof.replay", command))
            label = "program error" if cex.kind == "program-error" else "unsafe"
            pytest.fail("\n".join([f"raceproof: {label} (expected {res.expected}): {headline(cex.execution, cex.kind)}",
                                   command, *self._failure_details(res, cex, counts, cli_command)]), pytrace=False)
        if res.expected == "unsafe" and res.verdict == "safe":
            pytest.fail(f"raceproof: expected a counterexample, but the search proved the programs safe ({counts}): "
                        "the harness no longer reproduces the bug", pytrace=False)
        if res.strategy in SAMPLING:
            advice = (f"{res.strategy} sampling never finishes a search: use a sound strategy (dpor or dfs) "
                      "for a proof")
        else:
            advice = "raise --raceproof-max-executions to let the search finish"
        pytest.fail(f"raceproof: {res.verdict}: the search did not finish ({counts}); expected {res.expected}; "
                    f"{advice}", pytrace=False)

    def _failure_details(self, res: Result, cex: Counterexample, counts: str, cli: str | None) -> list[str]:
        ex = cex.execution
        expl: Mapping[str, Any] = cex.explanation
        shrunk = "shrunk" if res.expected == "safe" else "as found"
        if cex.kind == "program-error":  # no race to explain: the same error on every interleaving
            expl = {k: v for k, v in expl.items() if k not in ("mechanism", "conflict", "certain_after")}
            counts += ("; every interleaving fails: a bug in the program, not a race "
                       "(the traceback below points into it)")
        elif cex.kind == "unconfirmed":
            counts += "; no passing interleaving was found within the budget: maybe not a race"
        out = _details(ex, expl, shrunk, counts)
        for name, tb in cex.tracebacks.items():
            out.append(f"traceback of {name}:")
            out += ["  " + line for line in tb.splitlines()]
        if cli:
            out.append(f"standalone: {cli}")
        out.append(f"token: {res.token}")
        return out

    def _properties(self, res: Result) -> None:
        props = self._request.node.user_properties
        props.append(("raceproof.verdict", res.verdict))
        props.append(("raceproof.expected", res.expected))
        props.append(("raceproof.executions", res.executions))
        classes = res.equivalence_classes if res.kind != "replay" else None
        props.append(("raceproof.equivalence_classes", "" if classes is None else classes))
        if res.kind != "replay":
            props.append(("raceproof.naive_interleavings", str(res.naive_interleavings)))
            props.append(("raceproof.stop_reason", res.stop_reason))
            props.append(("raceproof.strategy", res.strategy))
        if res.token:
            props.append(("raceproof.token", res.token))

    def _token_path(self, token: str) -> Path:
        node = self._request.node
        root = Path(self._config.rootpath)
        base = root / str(self._config.getoption("--raceproof-dir")) / "failures"
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
        """A test named on the command line with --raceproof-replay must use the token: otherwise
        the token belongs to another test. Tests that were not named run as usual."""
        __tracebackhide__ = True
        if self._replay_token is not None and not self._replay_used and self._digests and self._named():
            pytest.fail(f"raceproof: --raceproof-replay: the token (for digest {_token_digest(self._replay_token)}) "
                        f"matched no verify call in this test (digests: {', '.join(self._digests)}); "
                        "it belongs to another test or to changed code", pytrace=False)

    def _named(self) -> bool:
        """Whether this test was selected by a node id (``FILE::NAME``) on the command line."""
        node = self._request.node
        base = Path(self._config.invocation_params.dir)
        rest = node.nodeid.split("::", 1)[1] if "::" in node.nodeid else ""
        for arg in self._config.args:
            file, sep, name = str(arg).partition("::")
            if not sep:
                continue
            try:
                same = (base / file).resolve() == Path(node.path).resolve()
            except OSError:
                continue
            if same and (rest == name or rest.startswith(name + "::") or rest.startswith(name + "[")):
                return True
        return False


def headline(ex: Any, kind: str = "race") -> str:
    """What failed, in one line: the first violation, its thread and its step (with the call); for
    a program error (every interleaving fails), the exception first."""
    if not ex.violations:
        return "a counterexample"
    v = ex.violations[0]
    parts = [v.message if kind == "program-error" and v.thread else v.check]
    if v.thread:
        parts.append(f"in thread {v.thread!r}")
    if v.step is not None and 0 <= v.step < len(ex.trace):
        ev = ex.trace[v.step]
        args = ", ".join(a for a in (ev.path, ev.detail) if a)
        parts.append(f"at step {v.step} {ev.op}({args}) = {ev.result}")
    elif v.op:
        parts.append(f"in {v.op}({v.path})")
    text = " ".join(parts)
    if (not v.thread or v.step is None) and kind != "program-error":  # a check's own words say what is wrong
        text += f": {v.message}"
    more = len(ex.violations) - 1
    if more:
        text += f" (+{more} more violation{'s' if more > 1 else ''})"
    return text


def _pair(ex: Any) -> dict[str, Any]:
    """The conflicting step of a replayed execution (no exploration: just the trace)."""
    from raceproof.shrink import conflict_pair

    pair = conflict_pair(ex)
    return {"conflict": {"first": {"index": pair[0].index}}} if pair else {}


def _timeline(ex: Any, expl: Mapping[str, Any] | None) -> tuple[list[str], int]:
    from raceproof.trace import render_timeline

    conflict = (expl or {}).get("conflict")
    return render_timeline(ex, conflict["first"]["index"] if conflict else None)


def _violation_lines(ex: Any, skip: int) -> list[str]:
    out = []
    for v in ex.violations[skip:]:
        who = f" in thread {v.thread!r}" if v.thread else ""
        at = f" at step {v.step}" if v.step is not None else ""
        out.append(f"violation {v.check}{who}{at}: {v.message}")
    return out


def _details(ex: Any, expl: Mapping[str, Any] | None, how: str, counts: str = "") -> list[str]:
    """The lines after the headline and the replay command: the first violation's message, the
    others once each, the timeline of the failure's causal past, the explanation."""
    out = []
    if ex.violations:
        v = ex.violations[0]
        if v.thread and v.step is not None:
            out.append(f"  {v.message}")
        out += ["  also " + line for line in _violation_lines(ex, 1)]
    if counts:
        out.append(f"  {counts}")
    lines, elided = _timeline(ex, expl)
    shown = len(ex.trace) - elided
    note = f"{shown} of {len(ex.trace)} steps, the failure's causal past; {elided} elided" if elided \
        else f"all {len(ex.trace)} steps"
    out.append(f"timeline ({how}; {note}):")
    out += lines
    expl = expl or {}
    if expl.get("mechanism"):
        out.append(f"why: {expl['mechanism']}")
    if expl.get("certain_after"):
        c = expl["certain_after"]
        out.append(f"failure was certain after step {c['index']} ({c['thread']} {c['op']} {c['path']})")
    return out


def _marker_problem(kwargs: Mapping[str, Any], nargs: int) -> str | None:
    bad = sorted(set(kwargs) - set(MARKER_KEYS))
    if bad:
        return (f"unknown key{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
                f"known keys: {', '.join(MARKER_KEYS)}")
    if nargs > 1:
        return "takes at most one positional argument (expect)"
    if "strategy" in kwargs and kwargs["strategy"] not in STRATEGIES:
        return f"unknown strategy {kwargs['strategy']!r}; known: {', '.join(STRATEGIES)}"
    if "backend" in kwargs and kwargs["backend"] not in BACKENDS:
        return f"unknown backend {kwargs['backend']!r}; known: {', '.join(BACKENDS)}"
    if "driver" in kwargs and kwargs["driver"] not in DRIVERS:
        return f"unknown driver {kwargs['driver']!r}; known: {', '.join(DRIVERS)}"
    jobs = kwargs.get("jobs")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        return f"jobs must be an integer of at least 1 (got {jobs!r})"
    for key in ("max_executions", "seed"):
        value = kwargs.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{key} must be an integer (got {value!r})"
    return None


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
