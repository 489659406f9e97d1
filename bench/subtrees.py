"""How DPOR's executions split over the subtrees at a given depth (the balance a parallel search
over subtrees could reach; docs/PARALLEL-DPOR.md).

    python bench/subtrees.py SCENARIO [DEPTH]

The scenario's plain DPOR search (no reductions, memory backend, direct driver): its executions
grouped by the threads of their first DEPTH steps (default 1), largest groups first. Not a test:
nothing here asserts.
"""

from __future__ import annotations

import collections
import sys

from raceproof import scenario
from raceproof.execution import Execution, Runner
from raceproof.exploration import run_exploration
from raceproof.runs import program_for
from raceproof.strategies.dpor import Dpor


def main() -> None:
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    counts: collections.Counter[tuple[int, ...]] = collections.Counter()

    class Counting(Dpor):
        def observe(self, execution: Execution) -> None:
            if not execution.aborted:
                counts[tuple(ev.thread for ev in execution.trace[:depth])] += 1
            super().observe(execution)

    with Runner(program_for(scenario.load(sys.argv[1])), "memory", "direct") as runner:
        r = run_exploration(runner, Counting())
    sizes = sorted(counts.values(), reverse=True)
    print(f"{r.executions} executions, {len(sizes)} subtrees at depth {depth}; largest "
          f"{sizes[0]} ({sizes[0] / r.executions:.0%}); sizes {sizes[:10]}")


if __name__ == "__main__":
    main()
