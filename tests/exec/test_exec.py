"""Real programs under the scheduler (``raceproof exec``): the Rust guest-download binary and a Python
subject, syscall by syscall, against the model.

Skips with a reason where ptrace or namespaces are unavailable (not Linux x86_64, not root) or
rustc is missing. Fast tests replay single schedules; the proofs are ``slow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raceproof.exec import ptrace

ROOT = Path(__file__).resolve().parents[2]
BUGGY = ROOT / "scenarios" / "guest-download-2026-04-10.toml"
FIXED = ROOT / "scenarios" / "guest-download-fixed.toml"
PY_SCENARIO = Path(__file__).resolve().parent / "python-incident.toml"
PY_SUBJECT = ROOT / "bench" / "python" / "guest_download.py"
RAPI = [sys.executable, "-m", "raceproof"]

pytestmark = pytest.mark.skipif(ptrace.unavailable() is not None, reason=f"exec needs ptrace: {ptrace.unavailable()}")


@pytest.fixture(scope="session")
def gdo(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("rustc") is None:
        pytest.skip("rustc is not installed (the guest-download binary is built from bench/rust)")
    exe = tmp_path_factory.mktemp("exec-bin") / "guest_download_once"
    subprocess.run(["rustc", "--edition", "2021", "-o", str(exe), str(ROOT / "bench/rust/guest_download_once.rs")],
                   check=True, capture_output=True)
    return str(exe)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAPI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _steps(ex: object) -> list[tuple[int, str, str, str]]:
    return [(e.thread, e.op, e.path, e.result) for e in ex.trace]  # type: ignore[attr-defined]


# the incident on the real binary -------------------------------------------------------------------

def test_pinned_token_reproduces_canonicalize_enoent_on_the_binary(gdo: str) -> None:
    from raceproof.exec.compare import side_by_side
    from raceproof.scenario import load

    sc = load(BUGGY)
    runs = [side_by_side(sc, gdo) for _ in range(3)]
    s = runs[0]
    assert s.agree, s.first_difference
    errors = [v for v in s.real.violations if v.check == "no-worker-error"]
    assert [(v.op, v.errno) for v in errors] == [("realpath", "ENOENT")]
    assert errors[0].thread.startswith(".claude/skills/")
    # the model fails the same way, at the same mapped step
    m = next(v for v in s.model.violations if v.check == "no-worker-error")
    assert (m.thread, m.op, m.errno) == (errors[0].thread, "realpath", "ENOENT")
    assert all(_steps(r.real) == _steps(s.real) for r in runs[1:])  # the same syscall order and results


def test_fixed_binary_matches_the_model_step_by_step(gdo: str) -> None:
    from raceproof.exec.compare import side_by_side
    from raceproof.scenario import load

    s = side_by_side(load(FIXED), gdo)
    assert s.agree and all(r.same for r in s.rows)
    assert not s.real.violations and not s.model.violations
    assert len(s.rows) == len([e for e in s.model.trace if e.op != "download"])


def test_replay_binary_cli_prints_the_comparison_and_replay_command(gdo: str) -> None:
    r = _cli("replay", str(BUGGY), "--binary", gdo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "model and binary agree on every step; model FAIL, binary FAIL" in r.stdout
    assert f"replay    raceproof replay {BUGGY} --binary {gdo} --token rp1." in r.stdout
    from raceproof.reports import cli_schemas

    doc = json.loads(_cli("replay", str(BUGGY), "--binary", gdo, "--json").stdout)
    cli_schemas.validate(doc, "replay --binary --json")
    assert doc["agree"] is True and doc["verdict"] == doc["model_verdict"] == "fail"


def test_random_finds_the_race_on_the_binary_and_its_token_replays_it(gdo: str) -> None:
    r = _cli("exec", "--scenario", str(BUGGY), "--strategy", "random", "--max-executions", "60", "--",
             gdo, "{variant}", "{manifest}")
    assert r.returncode == 0, r.stdout + r.stderr  # expected unsafe, and found
    cmd = next(line for line in r.stdout.splitlines() if line.startswith("replay    ")).split()
    token = cmd[cmd.index("--token") + 1]
    outs = [_cli("exec", "--scenario", str(BUGGY), "--token", token, "--", gdo, "{variant}", "{manifest}")
            for _ in range(3)]
    assert all(o.returncode == 0 for o in outs), outs[0].stdout + outs[0].stderr
    assert "verdict   FAIL" in outs[0].stdout and "violation no-worker-error" in outs[0].stdout
    assert outs[0].stdout == outs[1].stdout == outs[2].stdout
    from raceproof.reports import cli_schemas

    doc = json.loads(_cli("exec", "--scenario", str(BUGGY), "--token", token, "--json", "--", gdo, "{variant}",
                          "{manifest}").stdout)
    cli_schemas.validate(doc, "exec --token --json")
    assert doc["verdict"] == "fail" and doc["token"] == token
    doc = json.loads(_cli("exec", "--sandbox", "/home/rpx", "--strategy", "random", "--max-executions", "3",
                          "--json", "--", "/bin/true").stdout)
    cli_schemas.validate(doc, "exec --json")
    assert doc["verdict"] == "safe" or doc["verdict"] == "inconclusive"


def test_exec_verify_in_pytest(raceproof: object, gdo: str) -> None:
    res = raceproof.exec_verify([gdo, "{variant}", "{manifest}"], scenario=str(BUGGY),  # type: ignore[attr-defined]
                                expect="unsafe", strategy="random", max_executions=60)
    assert res.verdict == "unsafe" and res.token.startswith("rp1.")


# the sandbox ------------------------------------------------------------------------------------------

def test_a_change_outside_the_sandbox_is_refused_and_reported(tmp_path: Path) -> None:
    outside = tmp_path / "escape"
    link_target = tmp_path / "linked"
    link_target.mkdir()
    script = (f"mkdir /home/rpx/a; touch {outside}; ln -s {link_target} /home/rpx/l; "
              f"mkdir /home/rpx/l/through; exit 0")
    r = _cli("exec", "--sandbox", "/home/rpx", "--", "/bin/sh", "-c", script)
    assert r.returncode == 1, r.stdout + r.stderr
    assert not outside.exists() and not (link_target / "through").exists()
    assert f"refused: openat({outside})" in r.stdout
    assert "refused: mkdir(/home/rpx/l/through): a change outside the sandbox" in r.stdout
    assert "replay    raceproof exec --sandbox /home/rpx --token rp1." in r.stdout
    assert not Path("/home/rpx").exists()  # the host's /home never saw the sandbox


def test_mount_and_namespace_calls_are_refused() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    r = _cli("exec", "--sandbox", "/home/rpx", "--", "unshare", "-m", "true")
    assert r.returncode == 1
    assert "refused: unshare(): system call refused in the sandbox" in r.stdout


@pytest.mark.parametrize("args", [
    ["exec", "--sandbox", "/home/rpx", "--", "/nonexistent/prog"],
    ["exec", "--sandbox", "relative/dir", "--", "/bin/true"],
    ["exec", "--sandbox", "/home/rpx", "--token", "rp1.nope", "--", "/bin/true"],
    ["exec", "--", "/bin/true"],
    ["exec", "--sandbox", "/home/rpx", "--strategy", "bogus", "--", "/bin/true"],
])
def test_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    r = _cli(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raceproof: error: ")


def test_a_hang_is_killed_and_reported_without_leftover_tracees() -> None:
    from raceproof.exec.runner import ExecRunner, argv_program
    from raceproof.strategies.random import RandomWalk

    def children() -> set[int]:
        """This process's live children (other tests may have left helpers, e.g. a resource tracker)."""
        pids: set[int] = set()
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as fh:
                pids.update(int(p) for p in fh.read().split())
        return pids

    before = children()
    with ExecRunner(argv_program(["/bin/sleep", "30"], ["/home/rpx"], timeout=0.5)) as runner:
        ex = runner.execute(RandomWalk(seed=0).next_execution())
    assert [v.check for v in ex.violations] == ["no-hang"]
    assert children() <= before  # every tracee killed and reaped


LOCKED = """
import os, threading
lock = threading.Lock()
def a():
    with lock:
        os.mkdir("/home/rpx/a")   # gated while holding the lock
        os.mkdir("/home/rpx/a/x")
def b():
    with lock:                    # blocks in a futex: never waited for, never chosen
        os.makedirs("/home/rpx/a/y", exist_ok=True)
ts = [threading.Thread(target=f) for f in (a, b)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def test_a_thread_blocked_on_a_lock_held_by_a_gated_thread_does_not_deadlock() -> None:
    """b sleeps in a futex while a is gated holding the lock: b is not enabled and not waited for; a
    is chosen, releases the lock, and b runs. (The lock order itself is not a scheduling point: see
    the notes on locks in ``raceproof.exec.driver``.)"""
    from raceproof.exec.runner import ExecRunner, argv_program
    from raceproof.strategies.random import RandomWalk

    with ExecRunner(argv_program([sys.executable, "-S", "-c", LOCKED], ["/home/rpx"], timeout=20)) as runner:
        for seed in range(2):
            ex = runner.execute(RandomWalk(seed=seed).next_execution())
            assert not ex.violations, ex.violations
            assert ex.tree.get("/home/rpx/a/x") == "dir" and ex.tree.get("/home/rpx/a/y") == "dir"
            ops = [(ex.names[e.thread], e.op, e.path) for e in ex.trace]
            a_steps = [i for i, (_, op, p) in enumerate(ops) if op == "mkdir" and p in ("/home/rpx/a", "/home/rpx/a/x")]
            assert a_steps == sorted(a_steps) and len(a_steps) == 2


# proofs (slow) ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_pinned_token_reproduces_100_of_100(gdo: str) -> None:
    from raceproof.exec.compare import side_by_side
    from raceproof.scenario import load

    sc = load(BUGGY)
    first = side_by_side(sc, gdo)
    for _ in range(99):
        again = side_by_side(sc, gdo)
        assert _steps(again.real) == _steps(first.real)
        assert [v.to_json() for v in again.real.violations] == [v.to_json() for v in first.real.violations]
    assert any(v.op == "realpath" and v.errno == "ENOENT" for v in first.real.violations)


@pytest.mark.slow
def test_dpor_proves_the_fixed_binary_with_the_models_execution_count(gdo: str) -> None:
    from raceproof.exec.runner import ExecRunner, scenario_program
    from raceproof.exploration import run_exploration
    from raceproof.runs import verify
    from raceproof.scenario import load
    from raceproof.strategies import make_strategy

    sc = load(FIXED)
    with ExecRunner(scenario_program(sc, [gdo, "{variant}", "{manifest}"])) as runner:
        real = run_exploration(runner, make_strategy("dpor"), max_executions=2000)
    model = verify(sc, "dpor", symmetry=False).result  # the same program, no reduction on top
    assert real.verdict == "safe" and real.complete
    assert real.executions == model.executions == 264


@pytest.mark.slow
def test_python_subject_race_is_found_and_replayed() -> None:
    argv = [sys.executable, str(PY_SUBJECT), "{variant}", "{manifest}"]
    r = _cli("exec", "--scenario", str(PY_SCENARIO), "--strategy", "random", "--max-executions", "60", "--", *argv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "violation no-worker-error" in r.stdout
    cmd = next(line for line in r.stdout.splitlines() if line.startswith("replay    ")).split()
    token = cmd[cmd.index("--token") + 1]
    outs = [_cli("exec", "--scenario", str(PY_SCENARIO), "--token", token, "--", *argv) for _ in range(2)]
    assert outs[0].returncode == 0 and "verdict   FAIL" in outs[0].stdout
    assert outs[0].stdout == outs[1].stdout


def test_an_interrupted_exec_run_removes_its_sandbox(tmp_path: Path) -> None:
    """Ctrl-C in the middle of ``raceproof exec``: exit 130, one line, and the host-side sandbox tree
    (``raceproof-exec-*`` in TMPDIR) is gone with the tracees."""
    import signal
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    child = [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "from raceproof.cli import main; sys.exit(main())"]  # a terminal's Ctrl-C (see test_interrupts)
    proc = subprocess.Popen([*child, "exec", "--sandbox", "/home/rpx", "--strategy", "random",
                             "--max-executions", "100000", "--", "/bin/sh", "-c", "mkdir /home/rpx/a; sleep 0.2"],
                            cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a measurement
        while not any(p.name.startswith("raceproof-exec-") for p in tmp.iterdir()):
            assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
            assert time.monotonic() < deadline, "the run never created its sandbox"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err + out
    assert err.startswith("raceproof: interrupted: SIGINT: ") and len(err.splitlines()) == 1, err
    assert list(tmp.iterdir()) == [], "the exec sandbox was left behind"


def test_a_binary_is_judged_by_the_scenarios_stale_rule_as_the_model_is(gdo: str, tmp_path: Path) -> None:
    """``stale = "forbid"``: the fixed binary leaves a stale file, and both the model and the binary
    are refuted for it (the binary used to be judged as if stale files were allowed)."""
    sc = tmp_path / "stale.toml"
    sc.write_text('name = "stale-forbid-binary"\nalgorithm = "fixed"\nworkers = 1\nstale = "forbid"\n'
                  'expect = { verify = "unsafe" }\n[initial]\ndirs = ["/home/user/.claude"]\n'
                  'files = { "/home/user/.claude/old.md" = "stale" }\n'
                  '[[mounts]]\npath = "/home/user/.claude"\nfiles = 1\n')
    model = subprocess.run([*RAPI, "verify", str(sc), "--strategy", "dpor", "--json"], capture_output=True, text=True)
    real = _cli("exec", "--scenario", str(sc), "--strategy", "dpor", "--json", "--", gdo, "{variant}", "{manifest}")
    m, r = json.loads(model.stdout), json.loads(real.stdout)
    assert m["verdict"] == r["verdict"] == "unsafe", (model.stdout, real.stdout)
    assert [v["path"] for v in r["violations"]] == [v["path"] for v in m["counterexample"]["violations"]] \
        == ["/home/user/.claude/old.md"]
