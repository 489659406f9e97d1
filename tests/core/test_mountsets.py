"""Mount-set enumeration: every rooted-forest shape, prefix siblings, invalid names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from raceproof.mountsets import all_mount_sets, expected_verdict, forests, invalid_sets

SCENARIOS = ["scenarios/guest-download-fixed.toml", "scenarios/guest-download-2026-04-10.toml"]


def test_forest_counts_match_oeis_a000081_shifted() -> None:
    # rooted forests with n nodes = rooted trees with n+1 nodes: 1, 2, 4, 9, 20
    assert [len(forests(n)) for n in range(1, 6)] == [1, 2, 4, 9, 20]


def test_forests_are_distinct_and_well_formed() -> None:
    for n in range(1, 6):
        shapes = forests(n)
        assert len(set(shapes)) == len(shapes)
        for parents in shapes:
            assert len(parents) == n
            assert all(p < i for i, p in enumerate(parents))  # parents come first (job order)


def test_layouts_cover_chains_stars_siblings_and_prefix_names() -> None:
    sets = all_mount_sets(4)
    kinds = {ms.name.split(":")[1] for ms in sets}
    assert {"single", "siblings", "chain", "star", "mixed"} <= kinds
    prefix = [ms for ms in sets if ms.name.endswith("/prefix")]
    assert any(any(p.endswith("/skills2") for p in ms.paths) for ms in prefix)
    for ms in sets:
        assert len(set(ms.paths)) == len(ms.paths)
        nested = any(q.startswith(p + "/") for p in ms.paths for q in ms.paths if p != q)
        assert ms.nested == nested  # component-wise, so skills2 does not nest in skills


def test_invalid_names_are_rejected() -> None:
    for ms in invalid_sets():
        assert ms.invalid is not None and not ms.invalid.startswith("accepted"), ms


@pytest.mark.parametrize("algorithm,nested,workers,want", [
    ("fixed", True, 4, "safe"), ("pre-cleanup", True, 2, "unsafe"), ("pre-cleanup", True, 1, "safe"),
    ("pre-cleanup", False, 4, "safe"),
])
def test_expectations(algorithm: str, nested: bool, workers: int, want: str) -> None:
    ms = next(m for m in all_mount_sets(2) if m.nested == nested)
    assert expected_verdict(algorithm, ms, workers) == want


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cli_mount_sets_3_meets_every_expectation(scenario: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", scenario, "--mount-sets", "3", "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = data["rows"]
    assert data["all_met"] is True
    proved = [r for r in rows if r["verdict"] in ("safe", "unsafe")]
    assert len(proved) == 4 * len(all_mount_sets(3))
    if "fixed" in scenario:
        assert {r["verdict"] for r in proved} == {"safe"}
    else:
        for r in proved:
            assert (r["verdict"] == "unsafe") == (r["nested"] == "yes" and r["workers"] >= 2)
            if r["verdict"] == "unsafe":
                assert r["token"].startswith("rp1.")


@pytest.mark.slow
def test_cli_mount_sets_4_refutes_the_buggy_variant_wherever_a_mount_nests() -> None:
    """(The fixed variant's 4-mount proofs run in tests/regression; all of them take long.)"""
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", SCENARIOS[1], "--mount-sets", "4", "--json",
                           "--driver", "direct"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["all_met"] is True
    rows = [r for r in data["rows"] if r["verdict"] != "rejected"]
    assert len(rows) == 4 * len(all_mount_sets(4))
    for r in rows:
        assert (r["verdict"] == "unsafe") == (r["nested"] == "yes" and r["workers"] >= 2), r
        assert r["verdict"] == "unsafe" or r["stop"] == "exhausted"


def test_every_refuted_row_prints_a_replay_command_that_reproduces_it() -> None:
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", SCENARIOS[1], "--mount-sets", "2", "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    unsafe = [r for r in json.loads(proc.stdout)["rows"] if r["verdict"] == "unsafe"]
    assert unsafe
    for row in unsafe:
        cmd = row["replay_command"].split()
        assert cmd[:3] == ["raceproof", "replay", SCENARIOS[1]] and "--mount-set" in cmd
        replayed = subprocess.run([sys.executable, "-m", "raceproof", *cmd[1:], "--json"], capture_output=True,
                                  text=True, check=False)
        assert replayed.returncode == 0, replayed.stderr  # the scenario expects the replay to fail: it does
        assert json.loads(replayed.stdout)["verdict"] == "fail"


def test_unknown_mount_set_is_a_one_line_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "raceproof", "replay", SCENARIOS[1], "--mount-set",
                           "2:chian:r0/spine:w2"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "2:chain:r0/spine:w2" in proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rows_proved_in_processes_are_those_of_a_serial_run(scenario: str) -> None:
    """``--jobs``: the same rows in the same order, with the same verdicts, execution counts and
    tokens (each row is an independent, deterministic search). DPOR rows: confluent heads would
    prove the fix's rows in one execution each."""
    from raceproof import scenario as load
    from raceproof.mountsets import mount_set_rows

    base = load.load(scenario)
    serial = mount_set_rows(base, 3, workers=(1, 2, 3), jobs=1, confluence=False)
    parallel = mount_set_rows(base, 3, workers=(1, 2, 3), jobs=2, confluence=False)
    assert parallel.rows == serial.rows
    assert (parallel.all_met, parallel.inconclusive) == (serial.all_met, serial.inconclusive)
    assert any(r["executions"] > 1 for r in serial.rows)


def test_jobs_out_of_range_is_a_one_line_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", SCENARIOS[0], "--mount-sets", "2",
                           "--jobs", "0"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--jobs" in proc.stderr


USER_ALGO = '''\
from raceproof.models.guest_download import Pipeline, fixed


async def like_fixed(fs, job):
    return await fixed(fs, job, Pipeline([job]))
'''


def test_rows_in_processes_from_a_threaded_caller_use_the_fork_server(tmp_path) -> None:
    """A process with other threads (pytest's, an embedding program's) must not fork: the rows are
    proved in children of the fork server, which import the user's allowed module again, and the
    table is the serial one."""
    import threading
    import tomllib

    from raceproof import scenario as load
    from raceproof.mountsets import mount_set_rows, start_method

    (tmp_path / "user_algo_fs.py").write_text(USER_ALGO)
    with open(SCENARIOS[1], "rb") as f:
        raw = tomllib.load(f)
    raw["algorithm"] = "user_algo_fs:like_fixed"
    raw.pop("token", None)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    try:
        base = load.parse(raw, "user.toml", allow_import=[str(tmp_path / "user_algo_fs.py")])
        other.start()
        assert start_method() == "forkserver"
        parallel = mount_set_rows(base, 2, workers=(1, 2), jobs=2)
        stop.set()
        other.join()
        serial = mount_set_rows(base, 2, workers=(1, 2), jobs=1)
    finally:
        stop.set()
        sys.modules.pop("user_algo_fs", None)
    assert parallel.rows == serial.rows
    assert any(r["executions"] > 1 for r in serial.rows)
    probe = "from raceproof.mountsets import start_method; print(start_method())"
    alone = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == "fork"  # a single-threaded caller (the CLI) still forks


def _ignores_sigterm(x: int) -> int:
    """A row process that does not stop on the pool's SIGTERM (as ``terminate`` was seen to leave
    one worker running): the second item ignores it and sleeps."""
    import signal
    import time

    if x == 1:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(120)
    return x


def test_stopping_the_processes_ends_even_when_a_worker_ignores_sigterm(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Closing ``parallel_map`` early (an interrupt, a caller that has seen enough) stops every
    process: one still alive after ``STOP_TIMEOUT`` is killed, so the close returns (the
    ``Pool.terminate`` hang on an unsignalled worker cannot hang raceproof)."""
    import multiprocessing
    import threading

    import raceproof.mountsets as mountsets

    monkeypatch.setattr(mountsets, "STOP_TIMEOUT", 0.5)
    results = mountsets.parallel_map(_ignores_sigterm, [0, 1], 2)
    assert next(results) == 0
    workers = multiprocessing.active_children()
    assert workers  # the sleeping one at least
    closer = threading.Thread(target=results.close, daemon=True)
    closer.start()
    closer.join(60)  # a bound for a failing run, not a timing (without the kill: a hang)
    assert not closer.is_alive()
    assert not any(w.is_alive() for w in workers)


def _wait_until(cond, bound: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll `cond` until it holds; False after `bound` seconds (a bound for a failing run, not a
    timing)."""
    import time

    end = time.monotonic() + bound
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_a_row_process_outlives_the_thread_that_forked_it() -> None:
    """Found when a killed subtree worker made every later pool stop take 20 s: a pool forks the
    workers that replace dead ones from its worker-handler thread, and Linux sends the parent-death
    signal when that *thread* ends (at ``terminate``). It used to be SIGTERM, so the replacement
    exited inside the task queue's read lock and ``terminate`` waited on that lock for good. A row
    process now outlives the thread that forked it while its parent process lives."""
    import os
    import select
    import threading
    from pathlib import Path

    import raceproof.fs.real  # noqa: F401  (imported before the fork, as in a row process)
    from raceproof.mountsets import _worker_signals

    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    child: list[int] = []
    me = os.getpid()

    def fork() -> None:
        pid = os.fork()
        if pid == 0:  # the row process
            try:
                _worker_signals(me)
                os.write(pong_w, b"+")  # its signals are set: the forking thread may end now
                os.read(ping_r, 1)
                os.write(pong_w, b"!")
            finally:
                os._exit(0)
        child.append(pid)
        os.read(pong_r, 1)

    forker = threading.Thread(target=fork)
    forker.start()
    forker.join()
    native = forker.native_id
    assert _wait_until(lambda: not Path(f"/proc/self/task/{native}").exists())  # the thread is gone
    os.write(ping_w, b"?")
    ready, _, _ = select.select([pong_r], [], [], 60)
    _, status = os.waitpid(child[0], 0)
    for fd in (ping_r, ping_w, pong_r, pong_w):
        os.close(fd)
    assert ready and os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("when", ["after-its-signals", "before-its-signals"])
def test_a_row_process_ends_when_its_parent_process_dies(when: str) -> None:
    """The parent process gone (killed, crashed): its row processes do not run on as orphans,
    whether it died once the child had set its signals (the death signal) or before (the child
    then finds another parent already)."""
    import os
    from pathlib import Path

    code = (
        "import os, sys, time\n"
        "import raceproof.fs.real\n"
        "from raceproof.mountsets import _worker_signals\n"
        "r, w = os.pipe()\n"
        "me = os.getpid()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        f"    if {when == 'before-its-signals'}:\n"
        "        while os.getppid() == me:\n"
        "            time.sleep(0.01)\n"
        "    _worker_signals(me)\n"
        "    os.write(w, b'+')\n"
        "    time.sleep(120)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        f"if {when == 'after-its-signals'}:\n"
        "    os.read(r, 1)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, timeout=60)
    pid = int(out.stdout)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state in ("Z", "X")

    alive = not _wait_until(gone)
    if alive:
        os.kill(pid, 9)
    assert not alive


def _dies_in_a_worker(x: int) -> int:
    import multiprocessing
    import os

    if x == 1 and multiprocessing.parent_process() is not None:
        os._exit(9)  # a worker killed mid-task: its task never ends
    return x * x


def test_a_worker_that_dies_does_not_hang_the_map() -> None:
    """The pool replaces a dead worker and its task never ends: ``parallel_map`` notices the
    replaced process and computes the results not in yet itself (the same values, in order)."""
    import threading

    import raceproof.mountsets as mountsets

    got: list[list[int]] = []
    runner = threading.Thread(target=lambda: got.append(list(mountsets.parallel_map(_dies_in_a_worker,
                                                                                      [0, 1, 2, 3], 2))),
                              daemon=True)
    runner.start()
    runner.join(120)  # a bound for a failing run, not a timing (without the check: a hang)
    assert not runner.is_alive()
    assert got == [[0, 1, 4, 9]]
