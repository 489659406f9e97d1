"""The one frozen result of a run: what every renderer (CLI text, ``--json``, reports, JUnit, the
pytest plugin, ``explore()``) reads, without running anything again.

A ``Result`` is made once, at the end of the loop and the counterexample pipeline
(``raceproof.pipeline``), and never changed: a stage that adds something builds a new one with
``dataclasses.replace``. One type serves every command: ``kind`` says which made it (``explore``,
``verify``, ``replay``) and so which words the verdict uses (a search: ``safe``, ``unsafe``,
``bounded``, ``inconclusive``; one schedule: ``pass``, ``fail``). The evidence a report shows
rides along: ``coverage`` (conflict pairs seen in the explored executions), the counterexample's
``before`` trees (the tree before each of its steps), ``placements`` (fault placements), and
``pinned`` (the scenario's pinned schedule, replayed and explained).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raceproof.errors import StepBudgetExceeded
    from raceproof.execution import Execution, Violation
    from raceproof.scenario import Scenario

#: what kind of failure a counterexample is (``Counterexample.kind``)
RACE = "race"  # another interleaving of the same program passes: the order matters
PROGRAM_ERROR = "program-error"  # every interleaving fails: a bug in the program, not a race
UNCONFIRMED = "unconfirmed"  # no passing interleaving found within the budget

#: a fault placement pin: (label, thread, n-th decision of that thread for the label, value)
Pin = tuple[str, int, int, int]
#: a site pair of dependent steps -> the orders seen ("ab": the key's first site ran first)
Pairs = Mapping[tuple[str, str], frozenset[str]]


@dataclass(frozen=True)
class Counterexample:
    """A failing execution, confirmed by replay, with what explains it."""

    execution: Execution
    token: str = ""
    replay_command: str = ""
    #: failing step, conflicting pair, mechanism, certain-after step, cost (``raceproof.pipeline``)
    explanation: Mapping[str, Any] = field(default_factory=dict)
    #: ``race``, ``program-error`` or ``unconfirmed`` (see ``raceproof.pipeline.classify``)
    kind: str = RACE
    #: each failed thread's exception, as a traceback into the program's own code
    tracebacks: Mapping[str, str] = field(default_factory=dict)
    #: the tree before each step, recorded by the confirming replay (``before[i]``: before step i)
    before: tuple[Mapping[str, str] | None, ...] = ()
    #: (threads, preemptions, steps to the failure) of the execution as the search found it
    found_cost: tuple[int, int, int] | None = None

    @property
    def violations(self) -> list[Violation]:
        return self.execution.violations

    @property
    def shrunk(self) -> bool:
        return bool(self.explanation.get("shrunk"))


@dataclass(frozen=True)
class Coverage:
    """Conflict-pair coverage of the explored executions (observed by ``raceproof.observe``)."""

    pairs: Pairs
    #: hashes of the distinct final trees (only their number is shown)
    finals: frozenset[int]
    executions: int


@dataclass(frozen=True)
class Placements:
    """What enumerating fault placements found (``raceproof.placements.explore_placements``)."""

    placements: int = 0
    executions: int = 0
    blocked: int = 0
    steps: int = 0
    naive: int = 0
    failing_placements: int = 0  # placements with at least one violation
    clean_failure_executions: int = 0  # executions where a fault made a job fail cleanly
    complete: bool = True
    stop_reason: str = "exhausted"
    first: Execution | None = None
    first_pins: tuple[Pin, ...] = ()
    per_placement: tuple[tuple[tuple[Pin, ...], int, int], ...] = ()
    wall_time: float = 0.0
    #: distinct Mazurkiewicz traces, summed over the placements
    classes: int = 0


@dataclass(frozen=True)
class Split:
    """How one search was shared with worker processes (``raceproof.subtrees``): the subtrees
    sent to them, taken (whole, or up to where the serial search caught up with the worker and
    went on from the worker's stack: `handed_over`), dropped (the serial search reached them in
    another state) and sent again (their branch grew meanwhile), and how many of its executions
    the workers ran."""

    workers: int
    sent: int
    taken: int
    dropped: int
    resent: int
    handed_over: int
    executions: int
    #: a worker died (the search went on alone, which is always sound)
    worker_lost: bool = False

    def to_json(self) -> dict[str, int]:
        return {"workers": self.workers, "subtrees_sent": self.sent, "subtrees_taken": self.taken,
                "subtrees_dropped": self.dropped, "subtrees_resent": self.resent, "handed_over": self.handed_over,
                "worker_lost": self.worker_lost,
                "executions_by_workers": self.executions}


@dataclass(frozen=True)
class Result:
    """One run: a search (``explore``/``verify``) or one schedule (``replay``)."""

    verdict: str
    kind: str = "explore"
    complete: bool = False
    stop_reason: str = "exhausted"
    executions: int = 0
    blocked: int = 0
    strategy: str = ""
    #: how many of `executions` were a portfolio's PCT probes (run before its DPOR search; the
    #: proof's own executions are ``executions - probes``)
    probes: int = 0
    naive_interleavings: int = 0
    counterexample: Counterexample | None = None
    #: the distinct observable outcomes (final tree, each thread's result), when collected
    outcomes: frozenset[tuple[Any, ...]] = frozenset()
    failing: int = 0
    steps: int = 0
    wall_time: float = 0.0
    #: distinct Mazurkiewicz traces among the executions (counted for sound strategies), else None
    classes: int | None = None
    #: symmetry over identical jobs (``raceproof.symmetry``): which jobs were explored as one, or
    #: why it was dropped ("" when no job had an identical sibling)
    symmetry: str = ""
    #: set when an execution exceeded the step budget (``stop_reason == "step-budget"``)
    overrun: StepBudgetExceeded | None = None
    # what was run (scenario commands)
    scenario: Scenario | None = None
    backend: str = "memory"
    inject: tuple[str, ...] = ()
    expected: str | None = None
    # a replay: its one execution, where its schedule came from, its token and command
    execution: Execution | None = None
    schedule_source: str = ""
    token: str | None = None
    command: str | None = None
    # evidence for reports
    coverage: Coverage | None = None
    placements: Placements | None = None
    pinned: Result | None = None
    #: the search's subtrees run by worker processes (``--jobs``), None when it ran alone
    split: Split | None = None

    @property
    def proved(self) -> bool:
        return self.verdict == "safe"

    @property
    def equivalence_classes(self) -> int | None:
        """The number of equivalence classes, claimed only for a complete search."""
        return self.classes if self.complete else None

    @property
    def result(self) -> Result:
        """This result (``verify(...).result`` reads as it did when verify wrapped a search result)."""
        return self

    @property
    def explore(self) -> Result | None:
        """The search result: this one (None for a replay). The pytest plugin's results offered it
        when they wrapped a search result; kept so tests written against them still read."""
        return None if self.kind == "replay" else self

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document of this result (``raceproof.render``)."""
        from raceproof.render import to_json

        return to_json(self)


def search_verdict(failed: bool, complete: bool, sound: bool, bounded: bool) -> str:
    """The verdict of a search: a failure is ``unsafe``; only an exhausted sound search is
    ``safe``; an exhausted bounded one is ``bounded``; anything else ``inconclusive``."""
    if failed:
        return "unsafe"
    if complete and sound:
        return "safe"
    if complete and bounded:
        return "bounded"
    return "inconclusive"
