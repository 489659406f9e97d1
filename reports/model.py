"""The report's single source: a versioned JSON document built from verifying scenarios.

``build_report`` verifies each scenario once (``raceproof.runs.verify`` with ``evidence=True``,
the same call as ``raceproof verify``) and assembles the document from the results alone:

- ``raceproof.reports.gather``: everything that runs (the verifications; the ``pre-cleanup``
  counterpart of a lone ``fixed`` variant, for non-vacuity; the fixed variant on its refuted
  sibling's schedules, one execution each);
- ``raceproof.reports.assemble``: variant entries, non-vacuity, badge and summary;
- ``raceproof.reports.explanation``: the drawn counterexample and the coverage table, read from
  the result (the trees before every step were recorded by the confirming replay; the coverage
  was observed during the verification: nothing re-explores);
- ``raceproof.reports.prose``: limitations, placeholders and the sentences of the report;
- ``raceproof.reports.schema_io``: ``validate`` against ``reports/schema.json``, load, dump.

Markdown, HTML and JUnit are rendered from this document only (``raceproof.reports.markdown``,
``raceproof.reports.html``, ``raceproof.reports.junit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raceproof.reports import assemble, gather
from raceproof.reports.gather import run_on_schedule
from raceproof.reports.prose import LIMITATIONS, PLACEHOLDER
from raceproof.reports.prose import proof_scope as _proof_scope
from raceproof.reports.schema_io import KIND, SCHEMA_VERSION, ReportError, dumps, load, normalize, schema, validate
from raceproof.scenario import Scenario

__all__ = [
    "KIND",
    "LIMITATIONS",
    "PLACEHOLDER",
    "SCHEMA_VERSION",
    "ReportError",
    "_proof_scope",
    "build_report",
    "dumps",
    "load",
    "normalize",
    "run_on_schedule",
    "schema",
    "validate",
]


def build_report(
    scenarios: Sequence[Scenario],
    *,
    strategy: str = "dpor",
    max_executions: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    command: str = "",
    keepalive: dict[str, Any] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Verify every scenario (in `jobs` processes) and assemble the report document; `keepalive` is
    an already computed ``raceproof compare`` document (``raceproof.reports.keepalive.load_compare``),
    embedded as is."""
    options = dict(options or {})
    scenarios = list(scenarios)
    results = gather.verify_all(scenarios, strategy, max_executions, seed, options, jobs)
    entries = [assemble.variant_entry(r, max_executions=max_executions, seed=seed) for r in results]
    counterparts = {
        i: gather.counterpart(scenarios[i], strategy, max_executions, seed, options)
        for i in assemble.needs_counterpart(entries, scenarios)
    }
    assemble.non_vacuity(entries, scenarios, strategy, counterparts)
    gather.fix_on_buggy_schedules(entries, scenarios)
    doc = assemble.document(
        entries, scenarios, strategy=strategy, max_executions=max_executions, seed=seed, command=command
    )
    if keepalive is not None:
        doc["keepalive"] = keepalive
    return doc


def _pinned(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's pinned schedule replayed and drawn, as a report shows it (None without a token)."""
    from raceproof.runs import replay

    return assemble.pinned(replay(scenario, explain=True)) if scenario.token else None
