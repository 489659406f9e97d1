"""Executions/s of the syscall-gated binary driver (``raceproof exec``) beside the model's.

Usage: python bench/exec_bench.py [--quick]
Builds bench/rust/guest_download_once.rs with ``rustc -O``, then on the incident's scenarios:
DPOR over the fixed binary's syscalls vs DPOR over the model (executions, equal counts, rate), and
random walks over the buggy binary and the model. Needs root and Linux x86_64 (ptrace, namespaces).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller random budgets")
    args = ap.parse_args()
    from raceproof.exec.runner import ExecRunner, scenario_program
    from raceproof.execution import Runner
    from raceproof.exploration import run_exploration
    from raceproof.runs import program_for
    from raceproof.scenario import load
    from raceproof.strategies import make_strategy

    work = Path(tempfile.mkdtemp(prefix="raceproof-exec-bench-"))
    exe = work / "guest_download_once"
    src = ROOT / "bench/rust/guest_download_once.rs"
    subprocess.run(["rustc", "--edition", "2021", "-O", "-o", str(exe), str(src)], check=True)
    py = [sys.executable, str(ROOT / "bench/python/guest_download.py"), "{variant}", "{manifest}"]
    n_random = 50 if args.quick else 200
    rows = []
    for scen, strategy, budget in (("guest-download-fixed.toml", "dpor", None),
                                   ("guest-download-2026-04-10.toml", "random", n_random)):
        sc = load(ROOT / "scenarios" / scen)
        opts = {"seed": 0} if strategy == "random" else {}
        with Runner(program_for(sc), "memory") as runner:
            m = run_exploration(runner, make_strategy(strategy, **opts), max_executions=budget, stop_on_failure=False)
        with ExecRunner(scenario_program(sc, [str(exe), "{variant}", "{manifest}"])) as er:
            b = run_exploration(er, make_strategy(strategy, **opts), max_executions=budget, stop_on_failure=False)
            steps = len(er.last.trace) if hasattr(er, "last") else 0
            syscalls = er.last.syscalls if hasattr(er, "last") else 0
        rows.append((scen, strategy, "model", m.verdict, m.executions, m.wall_time, ""))
        rows.append((scen, strategy, "Rust binary", b.verdict, b.executions, b.wall_time,
                     f"{steps} gated steps of {syscalls} syscalls"))
    sc = load(ROOT / "tests/exec/python-incident.toml")
    t0 = time.perf_counter()
    with ExecRunner(scenario_program(sc, py)) as er:
        p = run_exploration(er, make_strategy("random", seed=0), max_executions=10 if args.quick else 30,
                            stop_on_failure=False)
        note = f"{len(er.last.trace)} gated steps of {er.last.syscalls} syscalls"
    rows.append(("python-incident.toml", "random", "Python subject", p.verdict, p.executions,
                 time.perf_counter() - t0, note))
    print("| scenario | strategy | subject | verdict | executions | time | executions/s | per execution |")
    print("|---|---|---|---|---|---|---|---|")
    for scen, strat, subject, verdict, n, t, note in rows:
        print(f"| {scen} | {strat} | {subject} | {verdict} | {n} | {t:.1f} s | {n / t:.1f} | {note} |")


if __name__ == "__main__":
    main()
