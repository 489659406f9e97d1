"""Determinism, in the spirit of Trio's own test but asserting the opposite: one token names one
run, byte for byte, across repetitions, backends, Trio's scheduling modes and processes."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from engine_support import BACKENDS, FIXED, INCIDENT, cli, run_choosers

import raceproof.execution
from raceproof import token as tokens
from raceproof.runs import replay
from raceproof.scenario import load
from raceproof.strategies.random import RandomWalk
from raceproof.strategies.replay import ReplayChooser
from raceproof.trace import render_lines

#: a schedule that is not the pinned one: a seeded random walk of the incident, re-recorded
WALK_SEED = 7


def _walk_token() -> str:
    scenario = load(INCIDENT)
    program = scenario.program()
    [ex] = run_choosers(program, "memory", [lambda: RandomWalk(seed=WALK_SEED).next_execution()])
    return tokens.encode(program.digest, ex.choices)


def _replay_bytes(token: str | None, backend: str, path: str = INCIDENT) -> tuple[str, str]:
    rr = replay(load(path), token, backend)
    data = rr.to_json()
    assert data["backend"] == backend
    del data["backend"], data["replay_command"]  # both name the backend
    lines = "\n".join(render_lines(rr.execution.trace, rr.execution.names))
    return json.dumps(data, sort_keys=True), lines


def test_same_token_50_runs_byte_identical() -> None:
    token = _walk_token()
    runs = {_replay_bytes(token, "memory") for _ in range(50)}
    assert len(runs) == 1
    [(data, _lines)] = runs
    assert json.loads(data)["token"] == token


@pytest.mark.parametrize("token", ["pinned", "walk", "none"])
def test_same_token_identical_across_backends(token: str) -> None:
    tok = {"pinned": None, "walk": _walk_token(), "none": None}[token]
    path = FIXED if token == "none" else INCIDENT  # the fixed scenario has no pinned token: seeded walk
    outs = {b: [_replay_bytes(tok, b, path) for _ in range(3)] for b in BACKENDS}
    flat = {o for runs in outs.values() for o in runs}
    assert len(flat) == 1, {b: len(set(r)) for b, r in outs.items()}


def test_trio_run_queue_order_is_not_observable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Trio shuffle its run queue differently on every execution (no reseeding, both batch
    orders): the baton scheduler still gives the same trace for the same schedule."""
    import trio._core._run as trio_run

    seeds = iter(range(10_000))

    reset = raceproof.execution.Runner.reset

    def reset_and_reshuffle(self: raceproof.execution.Runner) -> None:  # before every execution
        reset(self)
        trio_run._r.seed(next(seeds))

    monkeypatch.setattr(raceproof.execution.Runner, "reset", reset_and_reshuffle)
    scenario = load(INCIDENT)
    program = scenario.program()
    choices = tokens.decode(scenario.token or "", program.digest)
    traces = set()
    for deterministic in (False, True):
        monkeypatch.setattr(trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING", deterministic)
        for ex in run_choosers(program, "memory", [lambda: ReplayChooser(choices)] * 10):
            traces.add(tuple((e.thread, e.op, e.path, e.result, e.footprint) for e in ex.trace))
    assert len(traces) == 1


_PROBE = """
import contextlib, io, json, sys
{pre}
from raceproof.cli import main
runs = []
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(["replay", *args, "--json"], standalone_mode=False)
            code = 0
        except SystemExit as exc:
            code = exc.code
    runs.append({{"args": args, "code": code, "stdout": out.getvalue()}})
import trio._core._run as r
print(json.dumps({{"hypothesis": "hypothesis" in sys.modules, "deterministic": r._ALLOW_DETERMINISTIC_SCHEDULING,
                  "runs": runs}}))
"""


def _in_subprocess(invocations: list[list[str]], hypothesis: bool) -> dict[str, Any]:
    """Run several ``raceproof replay ... --json`` in one fresh interpreter; Hypothesis imported
    first, or never imported at all."""
    import subprocess
    import sys

    from engine_support import ROOT

    code = _PROBE.format(pre="import hypothesis" if hypothesis else "")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(invocations)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    # Trio's scheduling mode really differs between the two processes
    assert data["hypothesis"] is hypothesis
    assert data["deterministic"] is hypothesis
    return data


def _minus_backend(stdout: str) -> str:
    data = json.loads(stdout)
    data.pop("backend")
    data["replay_command"] = data["replay_command"].split(" --backend ")[0]
    return json.dumps(data, sort_keys=True)


def test_json_identical_with_and_without_hypothesis_in_subprocesses() -> None:
    walk = _walk_token()
    invocations = [[path, "--backend", b, *tok] for b in BACKENDS
                   for path, tok in ((INCIDENT, []), (INCIDENT, ["--token", walk]), (FIXED, []))]
    results = [_in_subprocess(invocations, hypothesis=h)["runs"] for h in (False, True)]
    by_case: dict[tuple[str, ...], set[str]] = {}
    for runs in results:
        for run in runs:
            args = run["args"]
            assert run["code"] == (0 if args[0] == FIXED or "--token" not in args else run["code"])
            case = tuple(a for a in args if a not in BACKENDS and a != "--backend")
            by_case.setdefault(case, set()).add(_minus_backend(run["stdout"]))
    assert len(by_case) == 3
    for case, outs in by_case.items():
        assert len(outs) == 1, case
    pinned = json.loads(next(iter(by_case[(INCIDENT,)])))
    assert pinned["verdict"] == "fail" and pinned["violations"][0]["op"] == "realpath"


def test_cli_json_subprocess_with_hypothesis_imported_first() -> None:
    """The plain console entry (one process per run): the same JSON with Hypothesis imported."""
    outs = set()
    for pre in ("", "import hypothesis"):
        proc = cli("replay", INCIDENT, "--json", pre=pre)
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1


def test_random_walks_differ_by_seed() -> None:
    """The walk really depends on its seed (so the tests above compare non-trivial schedules)."""
    program = load(INCIDENT).program()
    exs = run_choosers(program, "memory", [lambda s=s: RandomWalk(seed=s).next_execution() for s in range(5)])
    assert len({tuple(ex.choices) for ex in exs}) == 5
    assert random.Random(0).random() == random.Random(0).random()
