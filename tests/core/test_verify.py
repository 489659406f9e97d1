"""verify: proofs, counterexamples (shrunk, confirmed, explained), drivers, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raceproof import token as tokens
from raceproof.execution import Runner
from raceproof.runs import replay, verify
from raceproof.scenario import load
from raceproof.shrink import cost
from raceproof.strategies import make_strategy
from raceproof.strategies.replay import ReplayChooser

BUGGY = "scenarios/guest-download-2026-04-10.toml"
FIXED = "scenarios/guest-download-fixed.toml"
ROOT = Path(__file__).resolve().parents[2]


def test_fixed_is_proved_completely() -> None:
    one = verify(load(FIXED)).result  # confluent heads: one execution (raceproof.confluence)
    assert one.verdict == "safe" and one.complete and one.executions == 1 and one.strategy == "confluence"
    vr = verify(load(FIXED), confluence=False)
    r = vr.result
    assert r.verdict == "safe" and r.complete and r.stop_reason == "exhausted"
    assert r.blocked == 0 and r.counterexample is None
    assert r.executions == r.classes and r.naive_interleavings > 10**20
    plain = verify(load(FIXED), symmetry=False).result  # deferred tails count as the program's steps
    assert plain.verdict == "safe" and plain.naive_interleavings == r.naive_interleavings
    assert one.naive_interleavings <= r.naive_interleavings  # one execution's steps: a lower bound


def test_buggy_counterexample_is_shrunk_confirmed_and_replays() -> None:
    sc = load(BUGGY)
    vr = verify(sc)
    cex = vr.result.counterexample
    assert vr.result.verdict == "unsafe" and cex is not None
    ex = cex.execution
    assert ex.violations and cex.token.startswith("rp1.")
    assert cex.replay_command.startswith(f"raceproof replay {BUGGY} --token ")
    unshrunk = verify(sc, shrink=False).result.counterexample
    assert unshrunk is not None and cost(ex) <= cost(unshrunk.execution)
    again = replay(sc, cex.token)
    assert [v.check for v in again.execution.violations] == [v.check for v in ex.violations]
    assert [(e.thread, e.op, e.path, e.result) for e in again.execution.trace] == \
        [(e.thread, e.op, e.path, e.result) for e in ex.trace]
    expl = cex.explanation
    first, second = expl["conflict"]["first"], expl["conflict"]["second"]
    assert first["thread"] != second["thread"] and first["index"] < second["index"]
    # the failing worker's whole run ends in its error, and the check fails on any worker error,
    # so failure is certain at the latest once that worker's last step has run (whether it is
    # certain earlier is checked against plain enumeration in tests/search/test_certain_after.py)
    failed = next(tid for tid, r in enumerate(ex.results) if r.error is not None)
    last_step = max(e.index for e in ex.trace if e.thread == failed)
    assert expl["certain_after_step"] is not None and expl["certain_after_step"] <= last_step


def test_direct_driver_gives_the_same_executions_as_trio() -> None:
    sc = load(BUGGY)
    program = sc.program()
    seqs = {}
    for driver in ("trio", "direct"):
        with Runner(program, "memory", driver) as runner:
            strat = make_strategy("random", seed=3)
            out = []

            async def drive(r: Runner, strat=strat, out=out) -> None:
                for _ in range(20):
                    chooser = strat.next_execution()
                    ex = await r.run_one(chooser)
                    out.append(([(e.thread, e.op, e.path, e.result) for e in ex.trace],
                                [v.check for v in ex.violations], ex.choices))

            runner.run(drive)
            seqs[driver] = out
    assert seqs["trio"] == seqs["direct"]
    assert any(v for _, v, _ in seqs["trio"])  # some of them fail: the comparison is not vacuous


def test_token_from_trio_replays_on_direct() -> None:
    sc = load(BUGGY)
    program = sc.program()
    choices = tokens.decode(sc.token or "", program.digest)
    runs = []
    for driver in ("trio", "direct"):
        with Runner(program, "memory", driver) as runner:
            runs.append(runner.run_single(ReplayChooser(choices)).trace)
    assert [(e.thread, e.op, e.result) for e in runs[0]] == [(e.thread, e.op, e.result) for e in runs[1]]


@pytest.mark.parametrize("args,code", [
    ([FIXED], 0), ([BUGGY], 0), ([FIXED, "--max-executions", "3", "--no-confluence"], 3),
    ([FIXED, "--strategy", "preemption", "--bound", "1", "--max-executions", "100000"], 3),
    ([FIXED, "--strategy", "dpr"], 2),
])
def test_exit_codes(args: list[str], code: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", *args, "--json"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == code, proc.stderr
    if code == 2:
        assert len(proc.stderr.strip().splitlines()) == 1 and "did you mean" in proc.stderr.lower()
        return
    data = json.loads(proc.stdout)
    for key in ("verdict", "complete", "stop_reason", "executions", "blocked", "naive_interleavings", "strategy",
                "counterexample"):
        assert key in data
    assert isinstance(data["naive_interleavings"], str)
    if code == 3 and data["strategy"] == "preemption":
        assert data["verdict"] in ("bounded", "inconclusive") and data["complete"] is False


CLI_DOCUMENTS = {  # kind: (document, command line); exec's are in tests/exec, stale-states in tests/keepalive
    "replay": ("replay", ["replay", BUGGY]),
    "verify": ("verify", ["verify", FIXED]),
    "verify-counterexample": ("verify", ["verify", BUGGY]),
    "verify-placements": ("verify", ["verify", "scenarios/chaos-eio.toml"]),
    "mount-sets": ("mount-sets", ["verify", FIXED, "--mount-sets", "1", "--jobs", "1"]),
    "error": ("error", ["verify", "scenarios/missing.toml"]),
}


@pytest.mark.parametrize("kind", sorted(CLI_DOCUMENTS))
def test_every_json_document_matches_its_published_schema(kind: str) -> None:
    from raceproof.reports import cli_schemas

    name, argv = CLI_DOCUMENTS[kind]
    proc = subprocess.run([sys.executable, "-m", "raceproof", *argv, "--json"], capture_output=True, text=True,
                          cwd=ROOT)
    doc = json.loads(proc.stdout)
    assert doc["schema"] == f"raceproof.{name}/1"
    cli_schemas.validate(doc, kind)  # raises naming the field that does not match
    if name == "verify":  # each variant shows the optional part it is here for
        assert (doc["counterexample"] is not None) == (kind == "verify-counterexample")
        assert ("fault_placements" in doc) == (kind == "verify-placements")


def test_the_schemas_reject_what_they_should() -> None:
    from raceproof.errors import InputError
    from raceproof.reports import cli_schemas

    good = {"schema": "raceproof.error/1", "error": {"kind": "error", "exit_code": 2, "message": "x"}}
    cli_schemas.validate(good)
    for bad, field in (({**good, "schema": "raceproof.nope/1"}, "schema"),
                       ({**good, "error": {**good["error"], "exit_code": "2"}}, "error/exit_code"),
                       ({**good, "extra": 1}, "(top level)")):
        with pytest.raises(InputError, match=field.replace("(", r"\(").replace(")", r"\)")):
            cli_schemas.validate(bad)


def test_every_document_the_package_prints_has_a_schema() -> None:
    """A new ``raceproof.X/1`` document needs a schema in reports/schemas (or is one of the files with
    a schema elsewhere: the compare matrix; or is a file raceproof reads back itself, checked where it
    is read: the two checkpoints)."""
    import re

    from raceproof.reports import cli_schemas

    printed = set()
    for d in ("toolkit", "reports", "injectors"):
        for f in (ROOT / d).rglob("*.py"):
            printed |= set(re.findall(r'"raceproof\.([a-z-]+)/1"', f.read_text()))
    assert printed - {"compare", "checkpoint", "search-checkpoint"} == set(cli_schemas.names())


def test_cli_default_probes_first_and_searches_certain_only_on_demand() -> None:
    """The default strategy is portfolio: the buggy incident falls to a PCT probe, and the costly
    "certain after" search runs only with --certain (reports still get it: they search)."""
    from click.testing import CliRunner

    from raceproof.cli import main

    res = CliRunner().invoke(main, ["verify", BUGGY])
    assert res.exit_code == 0, res.output
    assert "strategy portfolio" in res.output and "PCT probe" in res.output
    assert "certain   not searched" in res.output or "at the latest" in res.output
    data = json.loads(CliRunner().invoke(main, ["verify", BUGGY, "--strategy", "dpor", "--certain", "--json"]).output)
    assert data["strategy"] == "dpor" and data["probes"] == 0
    assert data["counterexample"]["explanation"]["certain_searched"] is True


def test_cli_symmetry_line_and_flag() -> None:
    """The fix's three skills differ only in their archives: the proof says so on its symmetry line
    (and in JSON), and --no-symmetry proves the same verdict from more executions."""
    from click.testing import CliRunner

    from raceproof.cli import main

    res = CliRunner().invoke(main, ["verify", FIXED, "--strategy", "dpor", "--no-confluence"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("symmetry"))
    assert "skills/pdf, .claude/skills/docx, .claude/skills/xlsx" in line and "tails deferred" in line
    ruled = json.loads(CliRunner().invoke(main, ["verify", FIXED, "--strategy", "dpor", "--json",
                                                 "--no-confluence"]).output)
    plain = json.loads(CliRunner().invoke(main, ["verify", FIXED, "--strategy", "dpor", "--json",
                                                 "--no-symmetry"]).output)
    assert ruled["verdict"] == plain["verdict"] == "safe"
    assert ruled["executions"] < plain["executions"]
    assert "tails deferred" in ruled["symmetry"] and plain["symmetry"] is None
