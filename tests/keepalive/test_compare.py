"""``raceproof compare``: the matrix, its JSON and report files, and every refuted cell's replay."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from raceproof.cli import main
from raceproof.keepalive.compare import compare
from raceproof.reports.keepalive import write_all
from raceproof.scenario import load

ROOT = Path(__file__).resolve().parents[2]
BASE_FILE = "scenarios/keepalive.toml"


@pytest.fixture(scope="module")
def matrix():  # type: ignore[no-untyped-def]
    import os

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return compare(load(BASE_FILE), ["fixed", "A", "C"], 2, 1, False)
    finally:
        os.chdir(old)


def test_the_matrix_proves_a_and_refutes_the_others(matrix) -> None:  # type: ignore[no-untyped-def]
    assert matrix.winner == "A"
    assert [c.verdict for c in matrix.row("A")] == ["proved"] * 4 + ["not-run"]
    assert {c.prop for c in matrix.row("fixed") if c.verdict == "refuted"} >= {"P2"}
    assert [c.prop for c in matrix.row("C") if c.verdict == "refuted"] == ["P3"]
    assert all(c.executions > 0 for c in matrix.row("A")[:4])


def test_every_refuted_cell_replays_its_counterexample(matrix, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    refuted = [c for a in matrix.algorithms for c in matrix.row(a) if c.verdict == "refuted"]
    assert refuted
    for c in refuted:
        argv = shlex.split(c.replay_command)
        assert argv[:2] == ["raceproof", "replay"]
        res = CliRunner().invoke(main, [*argv[1:], "--json"])
        doc = json.loads(res.output)
        assert doc["verdict"] == "fail", c.replay_command
        assert c.prop in {v["check"] for v in doc["violations"]}, (c.replay_command, doc["violations"])
        again = shlex.split(doc["replay_command"])  # the replay names the same cell again
        assert again[again.index("--algorithm") + 1] == c.algorithm


def test_json_and_report_files(matrix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = matrix.to_json()
    assert doc["schema"] == "raceproof.compare/1"
    assert doc["winner"] == "A" and "create_dir_all" in doc["recommendation"]["pseudocode"]
    written = write_all(matrix, str(tmp_path))
    assert sorted(Path(p).name for p in written) == ["keepalive.html", "keepalive.json", "keepalive.md",
                                                     "keepalive.xml"]
    md = (tmp_path / "keepalive.md").read_text()
    assert "Recommendation: A" in md and "Preconditions" in md
    assert md.count("raceproof replay") == sum(1 for c in matrix.cells.values() if c.verdict == "refuted")
    assert "<failure" in (tmp_path / "keepalive.xml").read_text()


def test_compare_cli_json_and_bad_input(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(main, ["compare", "B", "--mount-sets", "1", "--stale", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["winner"] == "B"
    res = CliRunner().invoke(main, ["compare", "Q", "--mount-sets", "1"])
    assert res.exit_code == 2 and "unknown algorithm 'Q'" in res.output
    res = CliRunner().invoke(main, ["replay", BASE_FILE, "--algorithm", "A", "--stale-state", "nope"])
    assert res.exit_code == 2 and "not a stale letter" in res.output and res.output.count("\n") == 1


def test_verify_stale_on_a_scenario(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from raceproof.reports import cli_schemas

    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(main, ["verify", "scenarios/keepalive-C.toml", "--json"])
    doc = json.loads(res.output)
    assert res.exit_code == 0 and doc["schema"] == "raceproof.stale-states/1"  # expected unsafe: met
    cli_schemas.validate(doc, "stale-states")
    assert any(r["verdict"] == "unsafe" and "P3" in r["violated"] for r in doc["rows"])
    res = CliRunner().invoke(main, ["verify", BASE_FILE, "--stale", "1", "--json"])
    assert res.exit_code == 0 and all(r["verdict"] == "safe" for r in json.loads(res.output)["rows"])


def test_scenario_keys_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text('name = "k"\nproperties = ["P9"]\n[[mounts]]\npath = "/a"\n')
    res = CliRunner().invoke(main, ["verify", str(bad)])
    assert res.exit_code == 2 and "properties[0]" in res.output and "P9" in res.output


def test_p5_is_one_definition_for_verify_and_compare(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`fixed` never cleans: a stale file breaks P2 with or without a crash, so the crash adds
    nothing and P5 holds, for ``verify --inject crash`` as for ``compare --crash``."""
    from raceproof.execution import Violation
    from raceproof.keepalive import stale
    from raceproof.keepalive.compare import explore_run
    from raceproof.mountsets import scenario_for_name
    from raceproof.properties import p5_violations
    from raceproof.runs import verify

    monkeypatch.chdir(ROOT)
    base = load(BASE_FILE).with_changes(algorithm="fixed", properties=("P5",))
    sc = stale.apply(scenario_for_name(base, "1:single:r/spine:w1"), "file")
    res = verify(sc, inject=["crash"], shrink=False)
    assert res.verdict == "safe" and res.executions > 1
    first, n, complete, _r, _p = explore_run(sc, True, {"P5"})
    assert complete and "P5" not in first and n == res.executions
    # the definition itself: a crash-free P2 is remembered; after a crash only a new break is P5
    seen: set[str] = set()
    p2, p1 = Violation("P2", "stale", path="/x"), Violation("P1", "lost", path="/y")
    assert p5_violations([p2], False, seen) == [p2] and seen == {"P2"}
    out = p5_violations([p2, p1], True, seen)
    assert [v.check for v in out] == ["P2", "P5"] and "after the crash, P1 lost" in out[1].message


def test_runs_in_processes_give_the_serial_matrix(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``--jobs 2``: the runs explored in forked processes, collected in plan order: every verdict,
    proved count, refuting run, message, token and replay command is the serial one."""
    monkeypatch.chdir(ROOT)
    base = load(BASE_FILE)
    serial = compare(base, ["fixed", "C", "A"], 1, 1, True).to_json()
    parallel = compare(base, ["fixed", "C", "A"], 1, 1, True, jobs=2).to_json()
    assert serial["winner"] == parallel["winner"] == "A"
    refuted = 0
    for rs, rp in zip(serial["rows"], parallel["rows"], strict=True):
        for cs, cp in zip(rs["cells"], rp["cells"], strict=True):
            if cs["verdict"] == "refuted":
                refuted += 1
                cs, cp = ({k: v for k, v in c.items() if k not in ("runs", "executions")} for c in (cs, cp))
            assert cs == cp
    assert refuted >= 2  # fixed's P2 and C's P3 at least


@pytest.mark.slow
def test_a_is_proved_on_every_cell_with_crashes_on_3_mounts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 11's done-when at 3 mounts (stale entries <= 1 here; <= 2 in BENCHMARKS.md): the
    recommended candidate proved on P1-P5, a crash at every step then a rerun included. Crash runs
    read their crash trees off the crash-free exploration (``raceproof.keepalive.crashstates``)."""
    monkeypatch.chdir(ROOT)
    m = compare(load(BASE_FILE), ["A"], 3, 1, True)
    assert [c.verdict for c in m.row("A")] == ["proved"] * 5
    assert m.runs["A"] == 426 and all(c.executions > 0 for c in m.row("A"))


@pytest.mark.parametrize(("file", "mount_sets"), [("scenarios/keepalive-C.toml", 1), (BASE_FILE, 2)])
def test_stale_rows_in_processes_are_the_serial_table(file: str, mount_sets: int, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``verify --stale K --jobs N``: past the warm-up (0 here) the rows are explored in processes
    and taken in order: the serial table, unsafe rows included, and the checkpoint has every row."""
    from raceproof import mountsets
    from raceproof.keepalive import command

    monkeypatch.chdir(ROOT)
    sc = load(file)
    command.verify_stale(sc, mount_sets, 1, (), None, True)
    serial = json.loads(capsys.readouterr().out)["rows"]
    calls: list[int] = []
    real = mountsets.parallel_map

    def spy(fn, items, jobs, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(items))
        return real(fn, items, jobs, **kw)

    monkeypatch.setattr(mountsets, "parallel_map", spy)
    monkeypatch.setattr(command, "STALE_WARMUP", 0)
    ck = tmp_path / "ck.json"
    command.verify_stale(sc, mount_sets, 1, (), None, True, checkpoint=str(ck), jobs=2)
    assert json.loads(capsys.readouterr().out)["rows"] == serial
    assert calls == [len(serial)]  # every row in processes
    assert json.loads(ck.read_text())["rows"] == serial
    assert any(r["verdict"] == "unsafe" for r in serial) == file.endswith("-C.toml")
