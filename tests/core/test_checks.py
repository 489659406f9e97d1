"""Checks are a plug-in (issue 14): a user's own ``Check`` judges a scenario (``checks = [...]``
behind ``--allow-import``) and ``explore()``; the keep-alive properties are checks through an
adapter that says exactly what ``raceproof.properties`` says; bad ``checks`` keys are one-line
errors naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from raceproof import explore
from raceproof.checks import CHECKS, DEFAULT_CHECKS, CheckContext, check, judge, register, resolve
from raceproof.errors import InputError, ScenarioError
from raceproof.execution import Execution, Runner, Violation, default_violations
from raceproof.fs.base import under
from raceproof.inject import build_injectors
from raceproof.loop import Loop
from raceproof.properties import property_violations
from raceproof.scenario import load, parse
from raceproof.strategies import make_strategy
from raceproof.strategies.dpor import Dpor

ROOT = Path(__file__).resolve().parents[2]

USER_CHECK = '''
from raceproof.execution import Violation


class NonEmptyRoots:
    """Every mount root holds at least one file after the run."""

    name = "non-empty-roots"

    def judge(self, execution, context):
        return [Violation(check=self.name, path=root, message=f"{root} holds no file")
                for root in context.roots
                if not any(p.startswith(root + "/") and d.startswith("file:") for p, d in execution.tree.items())]
'''


def _scenario(tmp_path: Path, algorithm: str, checks: str = '["usercheck:NonEmptyRoots"]') -> Path:
    (tmp_path / "usercheck.py").write_text(USER_CHECK)
    path = tmp_path / f"{algorithm}.toml"
    path.write_text(f'name = "two mounts"\nalgorithm = "{algorithm}"\nworkers = 2\nchecks = {checks}\n'
                    '[[mounts]]\npath = "/home/user/.claude"\nfiles = 1\n'
                    '[[mounts]]\npath = "/home/user/.claude/skills/pdf"\nfiles = 1\n')
    return path


def _verify_json(tmp_path: Path, scenario: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raceproof", "verify", str(scenario), "--json", *extra],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_a_user_check_refutes_the_bad_algorithm_and_proves_the_good_one_from_the_cli(tmp_path: Path) -> None:
    bad = _verify_json(tmp_path, _scenario(tmp_path, "pre-cleanup"), "--allow-import", "usercheck.py")
    doc = json.loads(bad.stdout)
    assert doc["verdict"] == "unsafe", bad.stderr
    [v] = doc["counterexample"]["violations"]  # the user's check alone judged it: no worker raised
    assert v["check"] == "non-empty-roots" and v["path"] == "/home/user/.claude/skills/pdf"
    good = _verify_json(tmp_path, _scenario(tmp_path, "fixed"), "--allow-import", "usercheck.py")
    assert json.loads(good.stdout)["verdict"] == "safe", good.stderr


def test_a_user_check_in_a_scenario_needs_the_opt_in(tmp_path: Path) -> None:
    proc = _verify_json(tmp_path, _scenario(tmp_path, "fixed"))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "fixed.toml: checks[0]: " in line and "--allow-import usercheck" in line


@pytest.mark.parametrize(("checks", "field", "words"), [
    ('["final-tre"]', "checks[0]", "did you mean 'final-tree'"),
    ('["final-tree", "final-tree"]', "checks[1]", "listed twice"),
    ("[]", "checks", "non-empty array"),
    ('"final-tree"', "checks", "array of check names"),
])
def test_bad_checks_keys_name_the_file_and_field(checks: str, field: str, words: str) -> None:
    raw = {"name": "x", "checks": json.loads(checks), "mounts": [{"path": "/m"}]}
    with pytest.raises(ScenarioError) as err:
        parse(raw, "s.toml")
    assert str(err.value).startswith(f"s.toml: {field}: ") and words in str(err.value)


def test_checks_and_properties_together_are_refused() -> None:
    with pytest.raises(ScenarioError, match=r"^s\.toml: checks: give either"):
        parse({"name": "x", "checks": ["P1"], "properties": ["P1"], "mounts": [{"path": "/m"}]}, "s.toml")


def _old_incident_violations(execution: Execution, roots: list[str], expected: dict[str, str],
                             initial: dict[str, str], forbid_stale: bool) -> list[Violation]:
    """The hard-wired oracle before checks were plug-ins (commit e0228db), kept as the reference."""
    out = default_violations(execution)
    tree = execution.tree
    errors = bool(out)
    missing = [p for p, d in sorted(expected.items()) if tree.get(p) != d and any(under(p, r) for r in roots)]
    if missing:
        lost = missing[0]
        what = "missing" if lost not in tree else "has other content"
        kind = "silent loss (no worker reported an error)" if not errors else "entries lost"
        out.append(Violation(check="final-tree", path=lost,
                             message=f"{kind}: {len(missing)} archive entr{'y' if len(missing) == 1 else 'ies'} "
                                     f"not in the final tree; first: {lost} {what}"))
    if forbid_stale:
        stale = [p for p in sorted(tree) if any(under(p, r) for r in roots) and p not in expected]
        if stale:
            out.append(Violation(check="final-tree", path=stale[0],
                                 message=f"stale entries survived: {len(stale)}; first: {stale[0]}"))
    allowed = set(expected) | set(initial)
    outside = [p for p in sorted(tree) if p not in allowed and not any(under(p, r) for r in roots)]
    if outside:
        out.append(Violation(check="confinement", path=outside[0],
                             message=f"created outside every mount root: {outside[0]}"
                                     + (f" (+{len(outside) - 1} more)" if len(outside) > 1 else "")))
    return out


@pytest.mark.parametrize("name", ["guest-download-2026-04-10.toml", "chaos-stale-files.toml",
                                  "chaos-stale-symlink.toml", "chaos-writer.toml"])
def test_the_default_checks_judge_as_the_old_oracle_did(name: str) -> None:
    """A scenario naming no checks, or naming the defaults, is judged exactly as before (the
    injectors' re-judging comes after the checks, unchanged)."""
    sc = load(ROOT / "scenarios" / name)
    default = sc.program(build_injectors(sc))
    named = sc.with_changes(checks=DEFAULT_CHECKS).program(build_injectors(sc))
    executions: list[Execution] = []
    with Runner(default) as runner:
        async def drive(r: Runner) -> None:
            strategy = make_strategy("random", seed=7)
            await Loop(r, strategy, budget=40, check=False).run(lambda ex: executions.append(ex) is not None)

        runner.run(drive)
        named.context = replace(named.context, initial=default.initial)
        judged = [(ex, judge(default.checks, ex, default.context)) for ex in executions]
        assert all(default.check(ex, runner.vfs) == named.check(ex, runner.vfs) for ex in executions)
    assert any(got for _, got in judged), name  # the comparison saw failures
    for ex, got in judged:
        assert got == _old_incident_violations(ex, default.roots, default.expected, default.initial,
                                               sc.stale == "forbid")


def test_the_property_checks_say_what_the_properties_say() -> None:
    """Any subset of P1-P5, in any order, as checks: the violations (and their order) of
    ``property_violations`` on a scenario that selects that subset."""
    sc = load(ROOT / "scenarios" / "keepalive-C.toml").with_changes(stale_states=0)
    program = sc.program()
    executions: list[Execution] = []
    with Runner(program) as runner:
        async def drive(r: Runner) -> None:
            await Loop(r, Dpor(), budget=40, check=False).run(lambda ex: executions.append(ex) is not None)

        runner.run(drive)
    subsets = [("P1",), ("P3", "P1"), ("P4", "P2"), ("P2", "P3", "P4", "P1")]
    seen = 0
    for subset in subsets:
        reference = sc.with_changes(properties=subset).program()
        checks = resolve(["no-deadlock", *subset])  # the properties are judged together, after it
        assert [c.name for c in checks] == ["no-deadlock", "+".join(subset)]
        for ex in executions:
            want = property_violations(ex, reference)
            seen += bool(want)
            assert judge(checks, ex, program.context) == [
                *([Violation("no-deadlock", ex.deadlock)] if ex.deadlock else []), *want]
    assert seen  # some executions violate some property


def test_explore_takes_checks_and_refuses_the_properties() -> None:
    async def writer(fs):  # type: ignore[no-untyped-def]
        await fs.write_file("/d/x", b"new")

    async def remover(fs):  # type: ignore[no-untyped-def]
        if await fs.exists("/d/x"):
            await fs.unlink("/d/x")

    @check("x-survives")
    def x_survives(execution: Execution, context: CheckContext) -> list[Violation]:
        return [] if "/d/x" in execution.tree else [Violation("x-survives", "/d/x is gone", path="/d/x")]

    bad = explore([writer, remover], setup={"/d/": b""}, checks=[x_survives])
    assert bad.verdict == "unsafe" and [v.check for v in bad.counterexample.violations] == ["x-survives"]
    good = explore([writer, writer], setup={"/d/": b""}, checks=[x_survives, "no-worker-error"])
    assert good.verdict == "safe"
    with pytest.raises(InputError, match="P1: the keep-alive properties judge a scenario"):
        explore([writer], checks=["P1"])
    with pytest.raises(InputError, match=r"either check= .* or checks="):
        explore([writer], check=lambda ex: True, checks=["no-worker-error"])


def test_register_adds_a_named_check_and_guards_the_built_ins() -> None:
    c = register(check("test-registered")(lambda ex, ctx: []))
    try:
        assert CHECKS["test-registered"] is c and resolve(["test-registered"]) == [c]
    finally:
        del CHECKS["test-registered"]
    with pytest.raises(InputError, match="built-in"):
        register(check("final-tree")(lambda ex, ctx: []))
    with pytest.raises(InputError, match="is not a check"):
        register(object())  # type: ignore[arg-type]
