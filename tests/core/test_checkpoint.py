"""Checkpoint and resume of a mount-set search (``--checkpoint`` / ``--resume``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raceproof import scenario
from raceproof.errors import InputError
from raceproof.mountsets import mount_set_rows

FIXED = "scenarios/guest-download-fixed.toml"
BUGGY = "scenarios/guest-download-2026-04-10.toml"


class Stop(Exception):
    """Stands for an interrupt arriving before a row starts."""


def interrupted_then_resumed(path: str, k: int, stop_at: int, tmp_path: Path, jobs: int = 1) -> list[dict]:
    base = scenario.load(path)
    ckpt = str(tmp_path / f"ck-{stop_at}.json")

    def on_row(label: str | None, done: int) -> None:
        if label is not None and done == stop_at:
            raise Stop

    with pytest.raises(Stop):
        mount_set_rows(base, k, workers=(1, 2, 3), on_row=on_row, checkpoint=ckpt, jobs=jobs)
    saved = json.loads(Path(ckpt).read_text())
    assert len(saved["rows"]) == stop_at  # exactly the rows finished before the interrupt
    return mount_set_rows(base, k, workers=(1, 2, 3), resume=ckpt, checkpoint=ckpt).rows


@pytest.mark.parametrize("path", [FIXED, BUGGY])
def test_a_resumed_search_equals_an_uninterrupted_one(path: str, tmp_path: Path) -> None:
    """Interrupted before row 1, 5 and 11, then resumed: the same rows (verdicts, counts, tokens)."""
    whole = mount_set_rows(scenario.load(path), 3, workers=(1, 2, 3)).rows
    for stop_at in (1, 5, 11):
        assert interrupted_then_resumed(path, 3, stop_at, tmp_path) == whole


def test_a_resumed_parallel_search_equals_a_serial_one(tmp_path: Path) -> None:
    whole = mount_set_rows(scenario.load(BUGGY), 2, workers=(1, 2, 3)).rows
    assert interrupted_then_resumed(BUGGY, 2, 4, tmp_path, jobs=2) == whole


def test_a_checkpoint_of_another_search_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck.json"
    mount_set_rows(scenario.load(BUGGY), 1, workers=(1,), checkpoint=str(ckpt))
    with pytest.raises(InputError, match=r"search\.scenario"):
        mount_set_rows(scenario.load(FIXED), 1, workers=(1,), resume=str(ckpt))
    with pytest.raises(InputError, match=r"search\.mount_sets"):
        mount_set_rows(scenario.load(BUGGY), 2, workers=(1,), resume=str(ckpt))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raceproof", *args], capture_output=True, text=True, check=False)


def test_cli_resume_round_trip_and_bad_checkpoints(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck.json"
    first = run("verify", BUGGY, "--mount-sets", "2", "--jobs", "1", "--json", "--checkpoint", str(ckpt))
    assert first.returncode == 0, first.stderr
    again = run("verify", BUGGY, "--mount-sets", "2", "--jobs", "1", "--json", "--resume", str(ckpt))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == json.loads(first.stdout)["rows"]

    other = run("verify", FIXED, "--mount-sets", "2", "--resume", str(ckpt))
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    assert str(ckpt) in other.stderr and "search.scenario" in other.stderr

    ckpt.write_text("{not json")
    broken = run("verify", BUGGY, "--mount-sets", "2", "--resume", str(ckpt))
    assert broken.returncode == 2 and "not a raceproof checkpoint" in broken.stderr

    # a table's checkpoint is not a single search's, and the other way round
    rows = tmp_path / "rows.json"
    assert run("verify", BUGGY, "--mount-sets", "1", "--jobs", "1", "--checkpoint", str(rows)).returncode == 0
    single = run("verify", BUGGY, "--resume", str(rows))
    assert single.returncode == 2 and len(single.stderr.strip().splitlines()) == 1
    assert f"{rows}: schema: not a raceproof.search-checkpoint/1" in single.stderr
    search = tmp_path / "search.json"
    assert run("verify", BUGGY, "--checkpoint", str(search)).returncode == 0  # unsafe, as expected
    table = run("verify", BUGGY, "--mount-sets", "1", "--resume", str(search))
    assert table.returncode == 2 and "schema: not a raceproof.checkpoint/1" in table.stderr

    every = run("verify", BUGGY, "--stale", "1", "--checkpoint", str(tmp_path / "x.json"), "--checkpoint-every", "1")
    assert every.returncode == 2 and "--checkpoint-every: only with --checkpoint, without" in every.stderr
    assert not (tmp_path / "x.json").exists()


KEEPALIVE = "scenarios/keepalive-D.toml"


def test_a_resumed_stale_state_table_equals_an_uninterrupted_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``verify --stale K --checkpoint FILE``: the rows done are kept; interrupted before rows 1 and
    4, then resumed, the table is the uninterrupted one."""
    from raceproof.keepalive import compare
    from raceproof.keepalive.command import verify_stale

    sc = scenario.load(KEEPALIVE)
    verify_stale(sc, 0, 1, (), None, True)
    whole = json.loads(capsys.readouterr().out)["rows"]
    assert len(whole) > 4
    original = compare.explore_run
    for stop_at in (1, 4):
        ck = tmp_path / f"stale-{stop_at}.json"
        calls = [0]

        def explore_run(*args: object, calls: list[int] = calls, stop_at: int = stop_at, **kw: object) -> object:
            if calls[0] == stop_at:
                raise Stop
            calls[0] += 1
            return original(*args, **kw)

        monkeypatch.setattr(compare, "explore_run", explore_run)
        with pytest.raises(Stop):
            verify_stale(sc, 0, 1, (), None, True, checkpoint=str(ck))
        assert len(json.loads(ck.read_text())["rows"]) == stop_at
        monkeypatch.setattr(compare, "explore_run", original)
        verify_stale(sc, 0, 1, (), None, True, checkpoint=str(ck), resume=str(ck))
        assert json.loads(capsys.readouterr().out)["rows"] == whole
    with pytest.raises(InputError, match=r"search\.max_stale"):
        verify_stale(sc, 0, 2, (), None, True, resume=str(tmp_path / "stale-1.json"))
    ck = tmp_path / "stale-4.json"
    data = json.loads(ck.read_text())
    data["rows"][2]["stale"] = "another state"
    ck.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"rows\[2\]: is \{.*'stale': 'another state'\}, expected"):
        verify_stale(sc, 0, 1, (), None, True, resume=str(ck))


def test_an_interrupted_run_keeps_its_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    import os
    import signal
    import time

    ckpt = tmp_path / "ck.json"
    # SIGINT restored by the child itself (a background test run inherits it ignored; a preexec_fn
    # can deadlock a forked child of a process with threads)
    child = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "from raceproof.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", child, "verify", FIXED, "--mount-sets", "4", "--jobs", "1",
                             "--checkpoint", str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a measurement
        while not ckpt.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert len(err.strip().splitlines()) == 1 and f"--resume {ckpt}" in err, err
    rows = json.loads(ckpt.read_text())["rows"]
    assert rows and all(r["verdict"] == "safe" for r in rows)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.json"]  # no temporary file left


def test_a_temporary_file_a_killed_writer_left_is_removed_and_nothing_else(tmp_path: Path) -> None:
    """Found by a default test run: a run killed (SIGKILL) while writing its checkpoint leaves
    the write's temporary file beside it. The next run that writes or resumes that checkpoint
    removes it; another checkpoint's temporary files and every other file stay."""
    from raceproof import checkpoint

    ck = tmp_path / "ck.json"
    ck.write_text("{}")
    mine = tmp_path / ".ck.json.raceproof-tmp-k1ll3d"
    others = [tmp_path / ".other.json.raceproof-tmp-x", tmp_path / "ck.json.bak", tmp_path / ".ck.jsonx"]
    for p in [mine, *others]:
        p.write_text("partial")
    checkpoint.writable(str(ck))
    assert not mine.exists() and all(p.exists() for p in others) and ck.read_text() == "{}"
    search = {"command": "verify", "scenario": "x.toml"}
    checkpoint.SearchCheckpoint(search, path=str(ck)).write(0, "dpor", {"stack": []})
    mine.write_text("partial")
    resumed = checkpoint.SearchCheckpoint(search, resume=str(ck))  # reads it, writes nothing
    assert resumed.call("dpor").stored == {"stack": []}
    assert not mine.exists() and all(p.exists() for p in others)
