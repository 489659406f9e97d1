"""The real-thread witness for the incident model (issue 9; see BENCHMARKS.md "Real-thread witness").

    python bench/witness.py                 # 20,000 runs per variant and filesystem
    python bench/witness.py --runs 2000     # quicker

Builds ``bench/rust/guest_download.rs`` (std-only Rust: one real thread per mount, released
together by a barrier; Rust 1.95's ``remove_dir_all``/``create_dir_all`` and the tar-rs 0.4.45
``unpack`` port from ``tests/fidelity/rust/tarport.rs``) with ``rustc -O``, runs both variants of
the incident scenario (``pre-cleanup`` = the 2026-04-09 change, ``fixed``) on ext4 and tmpfs, and
explores the same scenarios on the model (random schedules plus DPOR). Prints a table of the
failure kinds seen for real beside those the model reports, and whether the real kinds are a subset
of the model's. Not a test: real interleavings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raceproof.checks import expected_tree  # noqa: E402
from raceproof.execution import Execution, Runner  # noqa: E402
from raceproof.scenario import load  # noqa: E402
from raceproof.strategies import make_strategy  # noqa: E402

SCENARIOS = {"pre-cleanup": ROOT / "scenarios" / "guest-download-2026-04-10.toml",
             "fixed": ROOT / "scenarios" / "guest-download-fixed.toml"}


def kinds_of(ex: Execution) -> set[str]:
    out = set()
    for v in ex.violations:
        if v.check == "no-worker-error":
            out.add(f"error {v.op} {v.errno}")
        elif v.check == "final-tree":
            out.add("silent loss" if v.message.startswith("silent loss") else "entries lost")
        else:
            out.add(v.check)
    return out


def model_kinds(path: Path, random_runs: int, dpor_runs: int) -> tuple[Counter[str], int]:
    program = load(str(path)).program()
    counts: Counter[str] = Counter()
    total = 0
    for strategy, budget, opts in (("random", random_runs, {"seed": 1}), ("dpor", dpor_runs, {})):
        strat = make_strategy(strategy, **opts)
        with Runner(program, "memory") as runner:
            async def driver(r: Runner, strat=strat, budget=budget) -> int:
                n = 0
                while n < budget:
                    chooser = strat.next_execution()
                    if chooser is None:
                        break
                    ex = await r.run_one(chooser)
                    strat.observe(ex)
                    if ex.aborted:
                        continue
                    n += 1
                    for k in kinds_of(ex):
                        counts[k] += 1
                return n

            total += runner.run(driver)
    return counts, total


def manifest(path: Path, work: Path) -> Path:
    sc = load(str(path))
    lines = [f"D\t{d}" for d in sorted(sc.initial_dirs)]
    for i, m in enumerate(sc.mounts):
        (work / f"a{i}.tar").write_bytes(m.archive)
        lines.append(f"M\t{m.path}\t{work / f'a{i}.tar'}")
    for p, spec in sorted(expected_tree([(m.path, m.members) for m in sc.mounts]).items()):
        if spec.startswith("file:"):
            lines.append(f"F\t{p}\t{spec[5:]}")
    out = work / "manifest.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def real_kinds(exe: Path, variant: str, runs: int, base: Path, man: Path) -> tuple[Counter[str], float]:
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), variant, str(runs), str(base), str(man)], capture_output=True, text=True,
                         check=True).stdout
    counts: Counter[str] = Counter()
    for line in out.splitlines():
        k, n = line.rsplit("\t", 1)
        counts[k] = int(n)
    return counts, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20_000, help="real runs per variant and filesystem")
    ap.add_argument("--model-random", type=int, default=20_000, help="random model executions per variant")
    ap.add_argument("--model-dpor", type=int, default=5_000, help="DPOR model executions per variant (budget)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rp-witness-") as tmp:
        work = Path(tmp)
        exe = work / "guest_download"
        subprocess.run(["rustc", "--edition", "2021", "-O", "-o", str(exe),
                        str(ROOT / "bench" / "rust" / "guest_download.rs")], check=True)
        fss = {"ext4": work / "ext4"}
        if Path("/dev/shm").is_dir():
            fss["tmpfs"] = Path(tempfile.mkdtemp(prefix="rp-witness-", dir="/dev/shm"))
        print(f"rustc: {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}; "
              f"{os.cpu_count()} cores; {args.runs} real runs per variant and filesystem; model: "
              f"{args.model_random} random + up to {args.model_dpor} DPOR executions per variant\n")
        try:
            for variant, path in SCENARIOS.items():
                man = manifest(path, work)
                real = {}
                for fs_name, base in fss.items():
                    real[fs_name], secs = real_kinds(exe, variant, args.runs, base / variant, man)
                    print(f"  real {variant} on {fs_name}: {secs:.1f} s")
                model, n = model_kinds(path, args.model_random, args.model_dpor)
                kinds = sorted(set(model) | {k for c in real.values() for k in c})
                head = " | ".join(f"real {f} (runs)" for f in fss)
                print(f"\n#### {variant}\n\n| failure kind | {head} | model ({n} executions) |")
                print("|---|" + "---:|" * (len(fss) + 1))
                if not kinds:
                    print("| (none: every run and every execution clean) |" + " 0 |" * (len(fss) + 1))
                for k in kinds:
                    cells = " | ".join(f"{real[f].get(k, 0):,}" for f in fss)
                    print(f"| {k} | {cells} | {model.get(k, 0):,} |")
                extra = sorted({k for c in real.values() for k in c} - set(model))
                print(f"\nreal kinds a subset of the model's: {'yes' if not extra else 'NO: ' + ', '.join(extra)}\n")
        finally:
            for base in fss.values():
                subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main()
