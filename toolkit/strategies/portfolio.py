"""Portfolio: a short seeded PCT phase that finds shallow bugs at once, then the sound DPOR search.

The first `probes` executions are PCT's (``raceproof.strategies.pct``, seeded: the same seed gives
the same probes and so the same first counterexample); if none of them fails the loop goes on, the
DPOR search (``raceproof.strategies.dpor``) starts from scratch and runs to its end. The proof is
DPOR's alone: exhausting this strategy means the complete DPOR search was exhausted, so ``safe``
still rests on every Mazurkiewicz trace having been run (the probes are extra executions, counted
separately in ``Result.probes``). Probes never abort, so ``blocked`` is DPOR's.
"""

from __future__ import annotations

from raceproof.execution import Execution
from raceproof.scheduler import Chooser
from raceproof.strategies.dpor import Dpor
from raceproof.strategies.pct import Pct

#: PCT executions before the exhaustive search (a few ms on the incident; every unsafe scenario
#: shipped here fails within the first three probes for most seeds, see BENCHMARKS.md)
PROBES = 32


class Portfolio:
    name = "portfolio"
    sound = True
    bounded = False

    def __init__(self, seed: int = 0, depth: int = 3, probes: int = PROBES, **_: object) -> None:
        self.pct = Pct(seed=seed, depth=depth)
        self.dpor = Dpor()
        self.probes = probes
        #: PCT executions started so far (all of them count: a probe never aborts)
        self.probes_run = 0

    @property
    def phase(self) -> str:
        return "pct" if self.probes_run < self.probes else "dpor"

    def next_execution(self) -> Chooser | None:
        if self.probes_run < self.probes:
            self.probes_run += 1
            return self.pct.next_execution()
        return self.dpor.next_execution()

    def observe(self, execution: Execution) -> None:
        if self.dpor.started:
            self.dpor.observe(execution)
        else:
            self.pct.observe(execution)

    def pending(self) -> int:
        """Probes left plus DPOR's lower bound."""
        return self.probes - self.probes_run + max(self.dpor.pending(), 0)
