"""Testing helpers for users' and raceproof's own tests, in one import (old path): the trace-counting
oracle (``raceproof.oracle``), programs with known trace counts (``raceproof.known_programs``) and
Hypothesis strategies (``raceproof.generators``).

- ``count_traces(programs, setup=...)`` is the *counting oracle* (PRIOR-ART.md, appendix): it runs
  the plain ``dfs`` enumeration (every interleaving, no reduction) and classifies each execution
  by its Mazurkiewicz trace, i.e. by each thread's sequence of executed events plus the set of
  ordered pairs of dependent events of different threads. The number of classes is the number of
  Mazurkiewicz traces, computed independently of DPOR: ``dpor`` must explore exactly that many.
- ``explore_traces(programs, strategy=...)`` does the same classification for any strategy.
- ``compare_strategies(...)`` runs ``dpor`` and the oracle on one program and lists every
  disagreement (outcome sets, traces covered, execution counts, blocked executions).
- Programs with known trace counts (PRIOR-ART.md §7): ``readers(n)`` (2^n),
  ``distinct_writers(n)`` (1), ``writers_reader(n)`` ((n+1)!), ``lastzero(n)`` (2, 5, 12, 28, 64).
- Hypothesis strategies: ``mount_sets()``, ``archives()`` and ``programs()``.

Example (in a user's test)::

    from hypothesis import given, settings
    from raceproof.testing import programs, compare_strategies

    @settings(max_examples=50, deadline=None)
    @given(programs())
    def test_dpor_is_sound(program):
        assert compare_strategies(program.functions(), setup=program.setup) == []
"""

from __future__ import annotations

from raceproof.generators import (
    ALL_OPS,
    NOT_FS_OPS,
    OPS,
    PATHS,
    GeneratedProgram,
    Op,
    archives,
    initial_trees,
    mount_sets,
    programs,
    run_op,
)
from raceproof.known_programs import (
    LASTZERO_TRACES,
    KnownProgram,
    distinct_writers,
    lastzero,
    readers,
    writers_reader,
)
from raceproof.oracle import (
    TOO_LARGE,
    ProgramFn,
    Setup,
    TraceCount,
    compare_strategies,
    count_traces,
    explore_traces,
    trace_key,
)

__all__ = [
    "ALL_OPS",
    "LASTZERO_TRACES",
    "NOT_FS_OPS",
    "OPS",
    "PATHS",
    "TOO_LARGE",
    "GeneratedProgram",
    "KnownProgram",
    "Op",
    "ProgramFn",
    "Setup",
    "TraceCount",
    "archives",
    "compare_strategies",
    "count_traces",
    "distinct_writers",
    "explore_traces",
    "initial_trees",
    "lastzero",
    "mount_sets",
    "programs",
    "readers",
    "run_op",
    "trace_key",
    "writers_reader",
]
