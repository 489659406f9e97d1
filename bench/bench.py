"""raceproof's search benchmark: one run, every table side by side (see BENCHMARKS.md).

    python bench/bench.py            # the full run (a few minutes on 2 cores)
    python bench/bench.py --quick    # smaller budgets and fewer runs (well under a minute)

Sections:
1. known-count programs: dpor executions against the known Mazurkiewicz trace count (ratio),
   and the counting oracle (plain enumeration, classified by trace) where it is small enough;
2. the incident (fixed and buggy) with each strategy: executions, executions/s, wall time;
3. executions to the first counterexample for random and PCT over 20 seeds;
4. backends: executions/s of the incident (random schedules) on memory, fake and real;
5. a baseline: the same incident with real OS threads and real files, how often it reproduces.

Not a test: nothing here asserts. Timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import platform
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raceproof import explore  # noqa: E402
from raceproof.execution import Runner  # noqa: E402
from raceproof.exploration import run_exploration  # noqa: E402
from raceproof.runs import program_for, verify  # noqa: E402
from raceproof.scenario import load  # noqa: E402
from raceproof.strategies import make_strategy  # noqa: E402
from raceproof.testing import count_traces, distinct_writers, lastzero, readers, writers_reader  # noqa: E402

BUGGY = ROOT / "scenarios" / "guest-download-2026-04-10.toml"
FIXED = ROOT / "scenarios" / "guest-download-fixed.toml"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (so the output pastes into BENCHMARKS.md as is)."""
    print(f"\n### {title}\n")
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:,.2f}" if c < 100 else f"{c:,.0f}"
    if isinstance(c, int) and not isinstance(c, bool):
        return f"{c:,}"
    return str(c)


# 1. known-count programs ---------------------------------------------------------------------------

def known_counts(quick: bool) -> None:
    cases = [readers(n) for n in (1, 2, 3, 4, 5)] + [distinct_writers(n) for n in (1, 3, 5)] + \
            [writers_reader(n) for n in (1, 2, 3, 4)] + [lastzero(n) for n in (1, 2, 3, 4, 5)]
    if not quick:
        cases += [readers(6), writers_reader(5)]
    oracle_limit = 1_000 if quick else 6_000  # interleavings the oracle may enumerate
    rows = []
    for p in cases:
        t0 = time.perf_counter()
        r = explore(p.programs, setup=p.setup, strategy="dpor")
        wall = time.perf_counter() - t0
        oracle = "-"
        if r.naive_interleavings <= oracle_limit:
            oracle = str(count_traces(p.programs, setup=p.setup).classes)
        rows.append([p.name, p.traces, oracle, r.executions, r.blocked, f"{r.executions / p.traces:.2f}",
                     r.naive_interleavings, round(wall * 1000, 1)])
    table("1. Known-count programs: dpor executions vs Mazurkiewicz traces",
          ["program", "known traces", "oracle traces", "dpor executions", "blocked", "ratio",
           "naive interleavings", "dpor ms"], rows)


# 2. the incident with each strategy ------------------------------------------------------------------

def incident_strategies(quick: bool) -> None:
    budget = 300 if quick else 2_000
    plans: list[tuple[str, dict[str, Any], int | None]] = [
        ("dpor", {}, None),
        ("dfs", {}, budget),
        ("random", {"seed": 0}, budget),
        ("pct", {"seed": 0, "depth": 3}, budget),
        ("preemption", {"bound": 0}, None),
        ("preemption", {"bound": 2}, budget),
    ]
    rows = []
    for path in (FIXED, BUGGY):
        sc = load(path)
        for strategy, opts, limit in plans:
            kwargs = dict(opts)
            seed = kwargs.pop("seed", 0)
            vr = verify(sc, strategy=strategy, max_executions=limit, seed=seed, shrink=False, symmetry=False, **kwargs)
            r = vr.result
            label = strategy + "".join(f" {k}={v}" for k, v in opts.items() if k != "seed")
            rows.append([sc.name, label, limit or "none", r.verdict, r.stop_reason, r.executions, r.blocked,
                         round(r.steps / max(r.executions, 1), 1), round(r.executions / r.wall_time),
                         round(r.wall_time, 2)])
    table("2. The incident (4 mounts, 4 workers, memory backend) with each strategy",
          ["scenario", "strategy", "budget", "verdict", "stop", "executions", "blocked", "steps/exec",
           "executions/s", "wall s"], rows)


# 3. executions to the first counterexample -------------------------------------------------------------

def first_counterexample(quick: bool) -> None:
    sc = load(BUGGY)
    seeds = range(20)
    rows = []
    for strategy, opts in (("random", {}), ("pct", {"depth": 3}), ("pct", {"depth": 2})):
        found = []
        t0 = time.perf_counter()
        for seed in seeds:
            r = verify(sc, strategy=strategy, seed=seed, max_executions=1_000, shrink=False, **opts).result
            if r.verdict == "unsafe":
                found.append(r.executions)
        wall = time.perf_counter() - t0
        label = strategy + "".join(f" {k}={v}" for k, v in opts.items())
        rows.append([label, f"{len(found)}/{len(seeds)}", statistics.median(found) if found else "-",
                     max(found) if found else "-", min(found) if found else "-", round(wall, 2)])
    table("3. Executions to the first counterexample, buggy incident, seeds 0..19 (budget 1,000)",
          ["strategy", "found", "median", "max", "min", "wall s (20 seeds)"], rows)


# 4. backends ---------------------------------------------------------------------------------------------

def backends(quick: bool) -> None:
    rows = []
    for path in (FIXED, BUGGY):
        sc = load(path)
        for backend, n in (("memory", 300 if quick else 1_000), ("fake", 30 if quick else 150),
                           ("real", 30 if quick else 150)):
            program = program_for(sc)
            with Runner(program, backend) as runner:
                t0 = time.perf_counter()
                r = run_exploration(runner, make_strategy("random", seed=1), max_executions=n,
                                    stop_on_failure=False)
                wall = time.perf_counter() - t0
            rows.append([sc.name, backend, r.executions, r.failing, round(r.steps / r.executions, 1),
                         round(r.executions / wall), round(wall * 1e6 / r.steps, 1), round(wall, 2)])
    table("4. Backends: random schedules of the incident, one Runner per backend",
          ["scenario", "backend", "executions", "failing", "steps/exec", "executions/s", "µs/step", "wall s"], rows)


# 5. real OS threads, real files ---------------------------------------------------------------------------

def _archive(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MOUNTS = {  # the incident's layout: the parent and three skills (3 files each)
    ".claude": {"CLAUDE.md": b"instructions\n", "settings.json": b"{}\n", "agents/a.md": b"agent\n"},
    ".claude/skills/pdf": {"SKILL.md": b"pdf\n", "scripts/run.py": b"print(1)\n", "ref.md": b"r\n"},
    ".claude/skills/docx": {"SKILL.md": b"docx\n", "scripts/run.py": b"print(2)\n", "ref.md": b"r\n"},
    ".claude/skills/xlsx": {"SKILL.md": b"xlsx\n", "scripts/run.py": b"print(3)\n", "ref.md": b"r\n"},
}
ARCHIVES = {m: _archive(files) for m, files in MOUNTS.items()}


def _worker(root: str, mount: str, buggy: bool) -> tuple[str, int] | None:
    target = os.path.join(root, mount)
    step = "rmtree"
    try:
        if buggy:
            shutil.rmtree(target, ignore_errors=True)
        step = "makedirs"
        os.makedirs(target, exist_ok=True)
        step = "realpath"
        real = os.path.realpath(target, strict=True)
        step = "extract"
        with tarfile.open(fileobj=io.BytesIO(ARCHIVES[mount])) as tf:
            tf.extractall(real, filter="data")
    except OSError as exc:
        return step, exc.errno or 0
    return None


def _one_run(pool: ThreadPoolExecutor, root: str, buggy: bool, populated: bool) -> tuple[list[tuple[str, int]], int]:
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if populated:  # the previous install is still on disk (a re-sync)
        for mount, files in MOUNTS.items():
            for name, data in files.items():
                p = os.path.join(root, mount, name)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                Path(p).write_bytes(data)
    futures = [pool.submit(_worker, root, m, buggy) for m in MOUNTS]
    errors = [e for f in futures if (e := f.result()) is not None]
    missing = sum(not os.path.isfile(os.path.join(root, m, n)) for m, files in MOUNTS.items() for n in files)
    return errors, missing


def real_threads(quick: bool) -> None:
    runs = 100 if quick else 500
    rows = []
    with tempfile.TemporaryDirectory(prefix="raceproof-bench-") as tmp, ThreadPoolExecutor(4) as pool:
        root = os.path.join(tmp, "home", "user")
        for buggy in (True, False):
            for populated in (True, False):
                with_error = lost = silent = 0
                enoent = {"realpath": 0, "makedirs": 0, "extract": 0}
                t0 = time.perf_counter()
                for _ in range(runs):
                    errors, missing = _one_run(pool, root, buggy, populated)
                    with_error += bool(errors)
                    lost += bool(missing)
                    silent += bool(missing) and not errors
                    for step, code in errors:
                        if code == errno.ENOENT and step in enoent:
                            enoent[step] += 1
                wall = time.perf_counter() - t0
                rows.append(["buggy" if buggy else "fixed", "populated" if populated else "fresh", runs,
                             f"{with_error} ({100 * with_error / runs:.1f} %)",
                             f"{enoent['realpath']} / {enoent['makedirs']} / {enoent['extract']}",
                             f"{lost} ({100 * lost / runs:.1f} %)", silent, round(wall * 1000 / runs, 2)])
    table(f"5. Baseline: real OS threads (ThreadPoolExecutor(4)) and real files, {runs} runs per row",
          ["algorithm", "start", "runs", "runs with error", "ENOENT realpath / makedirs / extract",
           "runs with missing files", "silent loss", "ms/run"], rows)


SECTIONS: dict[str, Callable[[bool], None]] = {
    "counts": known_counts, "strategies": incident_strategies, "first": first_counterexample,
    "backends": backends, "threads": real_threads,
}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller budgets and fewer runs")
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only these sections")
    args = ap.parse_args(argv)
    print(f"raceproof bench{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    t0 = time.perf_counter()
    for name, fn in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        fn(args.quick)
    print(f"\ntotal wall time: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
