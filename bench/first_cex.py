"""First counterexample of the buggy incident in a cold process (issue 13 item 6).

    python bench/first_cex.py [RUNS]

Runs ``python -m raceproof verify scenarios/guest-download-2026-04-10.toml [OPTIONS]`` in fresh
processes and prints, per option set, the best wall and CPU (user + system of the child, from
``getrusage(RUSAGE_CHILDREN)``: the machine may be shared) and the proof line. The whole command
counts: interpreter start, imports, the search, shrinking, the explanation. Not a test.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

BUGGY = "scenarios/guest-download-2026-04-10.toml"
OPTIONS = ([], ["--strategy", "dpor"], ["--strategy", "dpor", "--certain"], ["--strategy", "pct", "--certain"],
           ["--certain"])


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("| options | wall s (best) | CPU s (best) | proof line |")
    print("|---|---|---|---|")
    for opts in OPTIONS:
        walls, cpus, last = [], [], ""
        for _ in range(runs):
            c0, t0 = child_cpu(), time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", BUGGY, *opts],
                                  capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - t0)
            cpus.append(child_cpu() - c0)
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
        line = last.split(" of ")[0]
        print(f"| `{' '.join(opts) or '(default)'}` | {min(walls):.2f} | {min(cpus):.2f} | {line} |")


if __name__ == "__main__":
    main()
