"""Portfolio: seeded PCT probes that find shallow bugs at once, beside the sound DPOR search.

The first `upfront` executions are PCT probes (``raceproof.strategies.pct``, seeded: the same seed
gives the same probes and so the same first counterexample); then DPOR (``raceproof.strategies.dpor``,
a search of its own that never sees a probe) and the remaining probes take turns, one DPOR execution
then one probe, until the `probes` are spent; DPOR then runs alone to its end. A small proof ends
with its DPOR search and does not pay for probes it no longer needs. The proof is DPOR's alone:
exhausting this strategy means the complete DPOR search was exhausted, so ``safe`` still rests on
every Mazurkiewicz trace having been run (the probes are extra executions, counted separately in
``Result.probes``). Probes never abort, so ``blocked`` is DPOR's.
"""
from __future__ import annotations

from typing import Any

from raceproof.execution import Execution
from raceproof.observe import Committed
from raceproof.scheduler import Chooser
from raceproof.strategies.dpor import Dpor
from raceproof.strategies.pct import Pct

#: PCT probes in all (a few ms on the incident; every unsafe scenario shipped here fails within the
#: first three probes for most seeds, see BENCHMARKS.md)
PROBES = 32
#: of which run before the first DPOR execution; the rest take turns with DPOR's executions
UPFRONT = 4


class Portfolio:
    name = "portfolio"
    sound = True
    bounded = False

    def __init__(self, seed: int = 0, depth: int = 3, probes: int = PROBES, upfront: int = UPFRONT,
                 **_: object) -> None:
        self.pct = Pct(seed=seed, depth=depth)
        self.dpor = Dpor()
        self.probes = probes
        self.upfront = min(upfront, probes)
        #: PCT executions started so far (all of them count: a probe never aborts)
        self.probes_run = 0
        self._probing = False  # whether the execution running now is a probe
        self._dpor_done = False
        #: (probes_run, _probing) before the running execution started, None between executions
        self._before: tuple[int, bool] | None = None

    def _probe_next(self) -> bool:
        if self.probes_run >= self.probes:
            return False
        if self.probes_run < self.upfront:
            return True
        return not self._probing  # take turns: a probe after each DPOR execution

    def next_execution(self) -> Chooser | Committed | None:
        if self._dpor_done:
            return None
        self._before = (self.probes_run, self._probing)
        if self._probe_next():
            self._probing = True
            self.probes_run += 1
            return self.pct.next_execution()
        self._probing = False
        # a subtree explored elsewhere is taken whole only once the probes no longer take turns
        self.dpor.may_commit = self.probes_run >= self.probes
        chooser = self.dpor.next_execution()
        if chooser is None:  # the proof is complete: the probes left are not needed
            self._dpor_done = True
            self._before = None
        return chooser

    def observe(self, execution: Execution) -> None:
        self._before = None
        (self.pct if self._probing else self.dpor).observe(execution)

    def snapshot(self) -> dict[str, Any]:
        """The state before the running execution, if one runs (``raceproof.checkpoint``)."""
        probes_run, probing = self._before or (self.probes_run, self._probing)
        return {"probes_run": probes_run, "probing": probing, "dpor_done": self._dpor_done,
                "pct": self.pct.snapshot(), "dpor": self.dpor.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        self.probes_run, self._probing = int(state["probes_run"]), bool(state["probing"])
        self._dpor_done, self._before = bool(state["dpor_done"]), None
        self.pct.restore(state["pct"])
        self.dpor.restore(state["dpor"])

    def pending(self) -> int:
        """DPOR's lower bound (the probes left are not needed to finish)."""
        return max(self.dpor.pending(), 0)
