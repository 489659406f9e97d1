"""Checkpoint and resume of one ``verify`` (``--checkpoint``/``--resume`` without ``--mount-sets``).

An interrupted run, resumed (as often as it is interrupted), ends as the uninterrupted run does:
the same verdict, executions, trace classes, blocked count, probes and counterexample token. The
interrupts here are real SIGINTs: sent between two executions (delivered when the loop's
bookkeeping lets it through), in the middle of an execution (from inside a scheduling choice),
and at a wall-clock moment to the command-line process, besides a SIGKILL that leaves only the
periodic writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from raceproof import scenario
from raceproof.errors import InputError
from raceproof.mountsets import mount_set_rows
from raceproof.result import Result
from raceproof.runs import verify
from raceproof.strategies import dpor

ROOT = Path(__file__).resolve().parents[2]
FIXED = str(ROOT / "scenarios/guest-download-fixed.toml")
BUGGY = str(ROOT / "scenarios/guest-download-2026-04-10.toml")

#: (scenario, verify options): a plain DPOR proof (one exploration, 264 executions); the same
#: under the portfolio (PCT probes between DPOR's executions); the incident with DPOR and the
#: reductions (a symmetric exploration that finds a counterexample, then the plain one, 919
#: executions); the incident and the fix by default (a probe finds the counterexample at once; the
#: confluent heads' one execution)
CASES = {
    "fixed-plain": (FIXED, {"strategy": "dpor", "symmetry": False, "confluence": False}),
    "fixed-portfolio": (FIXED, {"strategy": "portfolio", "symmetry": False, "confluence": False}),
    # the same under Trio (virtual threads are tasks; an interrupt may land in any of them)
    "fixed-trio": (FIXED, {"strategy": "dpor", "symmetry": False, "confluence": False, "driver": "trio"}),
    "buggy-dpor": (BUGGY, {"strategy": "dpor"}),
    "buggy-default": (BUGGY, {"strategy": "portfolio"}),
    "fixed-default": (FIXED, {"strategy": "portfolio"}),
    # fault placements: one checkpointed DPOR per placement, and the decision points each reached
    # (they make the next level of placements)
    "eio-placements": (str(ROOT / "scenarios/chaos-eio.toml"), {"strategy": "dpor"}),
    "crash-placements": (str(ROOT / "scenarios/chaos-crash.toml"), {"strategy": "dpor"}),
}


@pytest.fixture(autouse=True)
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here, even in a test run started in the background (which
    inherits SIGINT ignored); and each test leaves the signals as it found them."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
        # held-back interrupts leave nothing behind: a signal mask left blocked would be inherited
        # by every process started later (found in CI: the interrupt tests' children ignored
        # their signals), a noting handler would swallow the next interrupt
        assert not {signal.SIGINT, signal.SIGTERM} & signal.pthread_sigmask(signal.SIG_BLOCK, set())
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, old)


def summary(r: Result) -> tuple[Any, ...]:
    cex = r.counterexample
    p = r.placements
    placed = (p.placements, p.per_placement, p.clean_failure_executions, p.first_pins) if p else None
    return (r.verdict, r.executions, r.classes, r.blocked, r.probes, r.stop_reason, r.steps,
            r.naive_interleavings, r.failing, cex.token if cex else None, r.symmetry, placed)


def run(path: str, options: dict[str, Any], **more: Any) -> Result:
    return verify(scenario.load(path), **{"shrink": False, "driver": "direct", **options, **more}).result


@contextmanager
def interrupt_at_choice(n: int) -> Iterator[None]:
    """SIGINT from inside DPOR's n-th scheduling choice: in the middle of an execution."""
    original = dpor.Dpor.choose
    calls = [0]

    def choose(self: dpor.Dpor, enabled: tuple[int, ...], trace: Any) -> int:
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, enabled, trace)

    dpor.Dpor.choose = choose  # type: ignore[method-assign]
    try:
        yield
    finally:
        dpor.Dpor.choose = original  # type: ignore[method-assign]


def interrupt_after(n: int) -> Callable[[int, int, int], None]:
    """A progress callback that sends SIGINT after the n-th execution: between two executions."""

    def progress(done: int, failing: int, pending: int) -> None:
        if done == n:
            os.kill(os.getpid(), signal.SIGINT)

    return progress


def resumed(path: str, options: dict[str, Any], ck: Path, stops: list[tuple[str, int]]) -> tuple[Result, int]:
    """Run with a checkpoint, interrupted at each of `stops` in turn (each run resuming the last),
    then to the end. Returns the last result and how many runs were interrupted."""
    interrupted = 0
    for kind, n in stops:
        more: dict[str, Any] = {"checkpoint": str(ck)}
        if ck.exists():
            more["resume"] = str(ck)
        try:
            if kind == "choice":
                with interrupt_at_choice(n):
                    run(path, options, **more)
            else:
                run(path, options, progress=interrupt_after(n), **more)
        except* KeyboardInterrupt:  # under Trio, raised in a task: in an exception group
            interrupted += 1
            assert ck.exists()
    return run(path, options, checkpoint=str(ck), resume=str(ck)), interrupted


STOPS = [[("after", 1)], [("choice", 5)], [("choice", 900)], [("choice", 9000)],
         [("after", 3), ("choice", 2000), ("after", 150), ("choice", 700)]]
#: the stop lists run by default (all with --run-slow, as CI does): every one for the plain proof,
#: the combined one (four interrupts in a row) for the others
DEFAULT = {"fixed-plain": {0, 1, 2, 3, 4}, "fixed-portfolio": {4}, "fixed-trio": {4}, "buggy-dpor": {4},
           "eio-placements": {4}, "crash-placements": set()}
#: stop lists a case is too short for (the run ends before the first stop)
TOO_SHORT = {"eio-placements": {3}}


@pytest.mark.parametrize(("case", "stops"), [
    pytest.param(case, stops, id=f"{case}-" + "+".join(f"{k}{n}" for k, n in stops),
                 marks=[] if i in DEFAULT[case] else [pytest.mark.slow])
    for case in ("fixed-plain", "fixed-portfolio", "fixed-trio", "buggy-dpor", "eio-placements", "crash-placements")
    for i, stops in enumerate(STOPS) if i not in TOO_SHORT.get(case, ())])
def test_an_interrupted_verify_resumes_to_the_uninterrupted_result(case: str, stops: list[tuple[str, int]],
                                                                   tmp_path: Path) -> None:
    path, options = CASES[case]
    whole = run(path, options)
    result, interrupted = resumed(path, options, tmp_path / "ck.json", stops)
    assert interrupted >= 1  # every case here is long enough for its first stop
    assert summary(result) == summary(whole)
    if whole.counterexample is not None:  # the counterexample replays to the same failure
        assert result.counterexample is not None
        assert result.counterexample.execution.violations == whole.counterexample.execution.violations


@contextmanager
def another_thread() -> Iterator[None]:
    """A thread that does not block SIGINT: a process-directed signal may go to it (as to a progress
    bar's refresh thread) rather than to the main thread that holds signals back."""
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def test_interrupts_are_held_back_with_other_threads_running(tmp_path: Path) -> None:
    """Found in CI: with another thread alive, blocking SIGINT in the main thread did not hold it
    back (the kernel gave it to the other thread, and Python ran the handler in the main thread
    inside the loop's bookkeeping, where no checkpoint is written)."""
    from raceproof.signals import deferred

    with another_thread():
        inside = []
        with pytest.raises(KeyboardInterrupt), deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler would run here, were it not held back
            inside.append("finished")
        assert inside == ["finished"]
        path, options = CASES["fixed-plain"]
        whole = run(path, options)
        result, interrupted = resumed(path, options, tmp_path / "ck.json", [("after", 1), ("after", 40)])
        assert interrupted == 2 and summary(result) == summary(whole)


def test_a_handler_that_raises_while_the_holds_come_off_leaves_nothing_behind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a default test run: a signal whose Python handler ran (and raised) while the holds
    were being taken off left a hold installed. Here the signal lands at the first restore, every
    time: the interrupt still comes out, and the handlers and the mask are as they were (the
    fixture checks them too)."""
    import raceproof.signals as signals

    real = signal.signal
    calls = []

    def interrupted_once(signum: int, handler: object) -> object:
        calls.append(signum)
        if len(calls) == 1:  # the handler of a signal that came in now: SIGINT's raises
            raise KeyboardInterrupt
        return real(signum, handler)  # type: ignore[arg-type]

    term = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with pytest.raises(KeyboardInterrupt), signals.deferred():
            monkeypatch.setattr(signal, "signal", interrupted_once)
        monkeypatch.undo()
        assert calls[:2] == [signal.SIGINT, signal.SIGINT]  # the first restore, once more after the raise
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert not isinstance(signal.getsignal(signal.SIGTERM), signals._Hold)
        assert not {signal.SIGINT, signal.SIGTERM} & signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGTERM, term)


def test_a_handler_that_raises_as_the_block_begins_leaves_the_mask_as_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a default test run: a signal taken by another thread just before the block has its
    Python handler run as the blocking call returns, raising before the old mask was stored; the
    mask stayed blocked, and every process started later inherited it. Here the handler raises at
    that very point, every time."""
    import raceproof.signals as signals

    real = signal.pthread_sigmask

    def raising_after_block(how: int, mask: Any) -> Any:
        old = real(how, mask)
        if how == signal.SIG_BLOCK and set(mask):  # the blocking call returned: SIGINT's handler runs
            raise KeyboardInterrupt
        return old

    monkeypatch.setattr(signal, "pthread_sigmask", raising_after_block)
    with pytest.raises(KeyboardInterrupt), signals.deferred():
        pass  # never reached
    monkeypatch.undo()
    assert not {signal.SIGINT, signal.SIGTERM} & signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_finished_checkpoint_resumes_at_its_end(tmp_path: Path) -> None:
    """Resuming a run that finished explores nothing new: each exploration ends at once (or runs
    its failing execution again)."""
    expected_calls = {"buggy-dpor": ["tails deferred, 1 groups", "dpor"],  # a counterexample, searched again
                      "buggy-default": ["tails deferred, 1 groups", "portfolio"],  # symmetry broken at once
                      "fixed-default": ["confluent heads"]}
    for case, labels in expected_calls.items():
        path, options = CASES[case]
        ck = tmp_path / f"{case}.json"
        first = run(path, options, checkpoint=str(ck))
        calls = json.loads(ck.read_text())["calls"]
        assert [c["label"].split(" of ")[0] for c in calls] == labels
        assert summary(run(path, options, resume=str(ck))) == summary(first)


def test_a_budget_stop_resumes_as_a_budget_stop(tmp_path: Path) -> None:
    path, options = CASES["fixed-plain"]
    whole = run(path, options, max_executions=100)
    result, _ = resumed(path, {**options, "max_executions": 100}, tmp_path / "ck.json", [("after", 40)])
    assert whole.stop_reason == "budget" and summary(result) == summary(whole)


def _edited(ck: Path, edit: Callable[[dict[str, Any]], None], *, reseal: bool = True) -> None:
    data = json.loads(ck.read_text())
    edit(data)
    if reseal:
        data["sha256"] = hashlib.sha256(json.dumps(data["calls"], sort_keys=True,
                                                   separators=(",", ":")).encode()).hexdigest()
    ck.write_text(json.dumps(data))


def test_a_checkpoint_of_another_search_or_a_damaged_one_is_refused(tmp_path: Path) -> None:
    path, options = CASES["fixed-plain"]
    ck = tmp_path / "ck.json"
    with pytest.raises(KeyboardInterrupt):
        run(path, options, checkpoint=str(ck), progress=interrupt_after(5))
    saved = ck.read_text()
    for other, field in [({**options, "strategy": "portfolio"}, "search.strategy"),
                         ({**options, "confluence": True}, "search.confluence"),
                         ({**options, "max_executions": 10}, "search.max_executions")]:
        with pytest.raises(InputError, match=rf"{ck}: {field}: the checkpoint is for"):
            run(path, other, resume=str(ck))
    with pytest.raises(InputError, match=rf"{ck}: search.scenario"):
        run(BUGGY, options, resume=str(ck))

    _edited(ck, lambda d: d["calls"][0]["state"].update(executions=6), reseal=False)
    with pytest.raises(InputError, match=rf"{ck}: sha256: does not match"):
        run(path, options, resume=str(ck))
    ck.write_text(saved)
    _edited(ck, lambda d: d["calls"][0].update(label="dpor of 0123456789abcdef"))
    with pytest.raises(InputError, match=r"calls\[0\]\.label: the checkpoint's exploration 0 is 'dpor of 01"):
        run(path, options, resume=str(ck))
    ck.write_text(saved)
    _edited(ck, lambda d: d["calls"][0]["state"]["strategy"].update(footprints=[[1]]))
    with pytest.raises(InputError, match=r"calls\[0\]\.state: malformed"):
        run(path, options, resume=str(ck))
    ck.write_text(saved)
    _edited(ck, lambda d: d["calls"][0]["state"].update(classes="not base64!"))
    with pytest.raises(InputError, match=r"calls\[0\]\.state: malformed"):
        run(path, options, resume=str(ck))


def test_what_cannot_be_checkpointed_is_refused_before_anything_runs(tmp_path: Path) -> None:
    ck = tmp_path / "ck.json"
    with pytest.raises(InputError, match="--checkpoint: strategy 'random' cannot be checkpointed"):
        run(FIXED, {"strategy": "random"}, checkpoint=str(ck))
    with pytest.raises(InputError, match="--checkpoint: not for a report's evidence"):
        verify(scenario.load(FIXED), "dpor", evidence=True, checkpoint=str(ck))
    assert not ck.exists()
    for bad, message in [(tmp_path / "no" / "ck.json", "no directory"), (tmp_path, "is a directory")]:
        with pytest.raises(InputError, match=f"{bad}: --checkpoint: {message}"):
            run(FIXED, CASES["fixed-plain"][1], checkpoint=str(bad))
        with pytest.raises(InputError, match=f"{bad}: --checkpoint: {message}"):
            mount_set_rows(scenario.load(FIXED), 1, workers=(1,), checkpoint=str(bad))


def cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    # SIGINT restored by the child itself (a background test run inherits it ignored)
    child = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "from raceproof.cli import main; sys.exit(main())")
    return subprocess.Popen([sys.executable, "-c", child, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, **kw)


def verdict_of(out: str) -> dict[str, Any]:
    doc = json.loads(out)
    doc.pop("wall_time_s")
    return doc


def executions_saved(ck: Path) -> int:
    try:
        calls = json.loads(ck.read_text())["calls"]
    except (OSError, ValueError):
        return -1
    return sum(c["state"]["executions"] for c in calls)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_the_command_resumes_after_a_signal(sig: int, tmp_path: Path) -> None:
    """The command killed part-way (SIGINT: it writes the checkpoint and says how to resume;
    SIGKILL: only the periodic writes are left), resumed, prints the uninterrupted JSON."""
    args = ["verify", FIXED, "--no-confluence", "--no-symmetry", "--json"]
    whole = subprocess.run([sys.executable, "-m", "raceproof", *args], capture_output=True, text=True, cwd=ROOT,
                           check=False)
    assert whole.returncode == 0, whole.stderr
    ck = tmp_path / "ck.json"
    proc = cli(*args, "--checkpoint", str(ck), "--checkpoint-every", "0")
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a measurement
        while executions_saved(ck) < 40:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was stopped"
            time.sleep(0.005)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert len(err.strip().splitlines()) == 1, err
        assert "the search's frontier is in the checkpoint" in err and f"--resume {ck}" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert 40 <= executions_saved(ck) < 360
    resumed_run = subprocess.run([sys.executable, "-m", "raceproof", *args, "--resume", str(ck)], capture_output=True,
                                 text=True, cwd=ROOT, check=False)
    assert resumed_run.returncode == 0, resumed_run.stderr
    assert verdict_of(resumed_run.stdout) == verdict_of(whole.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json"]  # no temporary file left


def test_checkpoint_flags_are_checked(tmp_path: Path) -> None:
    ck = tmp_path / "ck.json"
    for args, message in [(["--checkpoint-every", "5"], "--checkpoint-every: only with --checkpoint"),
                          (["--dask", "tcp://127.0.0.1:1"], "--dask: only with --mount-sets"),
                          (["--strategy", "pct", "--checkpoint", str(ck), "--checkpoint-every", "-1"], "-1")]:
        out = subprocess.run([sys.executable, "-m", "raceproof", "verify", FIXED, *args], capture_output=True,
                             text=True, cwd=ROOT, check=False)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert not ck.exists()
