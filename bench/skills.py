"""Parent mount + K skill mounts, each with F files: executions and CPU time of the fixed
algorithm's proof, with the pool (W workers) and without it (a worker per job).

    python bench/skills.py K [F] [W] [BUDGET] [--same] [--no-symmetry] [--no-confluence]
    # default F=1, W=4, BUDGET=2,000,000; --same: every skill has the same archive (identical
    # jobs, explored as one by raceproof.symmetry unless --no-symmetry); --no-confluence: the
    # DPOR search even though one execution proves it (raceproof.confluence)

Prints one line per run: K, F, workers, verdict, executions, CPU seconds. Not a test.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from raceproof import scenario
from raceproof.runs import verify

SAME = "--same" in sys.argv
SYMMETRY = "--no-symmetry" not in sys.argv
CONFLUENCE = "--no-confluence" not in sys.argv


def make(k: int, files: int, workers: int, directory: str) -> scenario.Scenario:
    lines = [f'name = "parent-{k}-skills"', 'algorithm = "fixed"', f"workers = {workers}", "seed = 1",
             "[initial]", 'dirs = ["/home/user"]', "[[mounts]]", 'path = "/home/user/.claude"', f"files = {files}"]
    for i in range(k):
        lines += ["[[mounts]]", f'path = "/home/user/.claude/skills/s{i}"', f"files = {files}"]
        if SAME:  # identical archives: the jobs are symmetric (raceproof.symmetry)
            lines.append("seed = 7")
    path = os.path.join(directory, f"parent-{k}-skills-{files}-w{workers}.toml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return scenario.load(path)


def main() -> None:
    sys.argv = [a for a in sys.argv if not a.startswith("--")]
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    pooled = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    budget = int(sys.argv[4]) if len(sys.argv) > 4 else 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        for workers in sorted({pooled, k + 1}):
            sc = make(k, files, workers, tmp)
            t0 = time.process_time()
            r = verify(sc, "dpor", driver="direct", max_executions=budget, shrink=False,
                       symmetry=SYMMETRY, confluence=CONFLUENCE)
            pool = "pool" if workers < k + 1 else "no pool"
            print(f"parent + {k} {'identical ' if SAME else ''}skills x {files} files, {workers} workers ({pool}): "
                  f"{r.verdict}, {r.executions} executions, {time.process_time() - t0:.2f} s CPU"
                  + (f"; symmetry: {r.symmetry}" if r.symmetry else ""), flush=True)


if __name__ == "__main__":
    main()
