"""Exact-count tests: on tiny programs with known Mazurkiewicz trace counts, ``dpor`` explores
exactly one execution per trace, with no blocked (redundant) execution, and the counting oracle
(``raceproof.testing.count_traces``, plain enumeration classified by trace) agrees."""

from __future__ import annotations

import math

import pytest

from raceproof import explore
from raceproof.testing import KnownProgram, count_traces, distinct_writers, lastzero, readers, writers_reader


def run_dpor(p: KnownProgram):  # type: ignore[no-untyped-def]
    return explore(p.programs, setup=p.setup, strategy="dpor")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_one_writer_n_readers_has_2_to_the_n_traces(n: int) -> None:
    """Each reader reads before or after the single write; readers commute: 2^N traces."""
    p = readers(n)
    r = run_dpor(p)
    assert (r.executions, r.blocked, r.complete, r.verdict) == (2 ** n, 0, True, "safe")
    # what the readers saw: every subset of readers sees the old content
    seen = {tuple(o[1][1:]) for o in r.outcomes}
    assert len(seen) == 2 ** n


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_writers_of_distinct_files_have_one_trace(n: int) -> None:
    """N threads each write their own existing file: nothing conflicts, one trace."""
    r = run_dpor(distinct_writers(n))
    assert (r.executions, r.blocked, r.complete) == (1, 0, True)
    assert r.naive_interleavings == math.factorial(n)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_writers_and_a_reader_have_n_plus_1_factorial_traces(n: int) -> None:
    """N writers and one reader of one file: every pair conflicts, so every order is a trace."""
    r = run_dpor(writers_reader(n))
    assert (r.executions, r.blocked, r.complete) == (math.factorial(n + 1), 0, True)
    # the reader can see the initial content or any writer's; the final content is any writer's
    assert {o[1][-1] for o in r.outcomes} == {("ok", repr(str(v).encode())) for v in range(n + 1)}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_lastzero_matches_the_literature(n: int) -> None:
    """lastzero(N) has 2, 5, 12, 28, 64 traces (nidhugg / Concuerror reference results)."""
    r = run_dpor(lastzero(n))
    assert (r.executions, r.blocked, r.complete) == ({1: 2, 2: 5, 3: 12, 4: 28, 5: 64}[n], 0, True)


@pytest.mark.parametrize("make,n", [(readers, 1), (readers, 3), (readers, 4), (distinct_writers, 3),
                                    (writers_reader, 2), (writers_reader, 3), (lastzero, 2), (lastzero, 3)])
def test_counting_oracle_agrees_with_the_known_counts(make, n) -> None:  # type: ignore[no-untyped-def]
    """The oracle is independent of DPOR: every interleaving, grouped by trace."""
    p = make(n)
    oracle = count_traces(p.programs, setup=p.setup)
    assert oracle.complete
    assert oracle.classes == p.traces
    dpor = run_dpor(p)
    assert dpor.outcomes == oracle.outcomes
    assert oracle.executions >= dpor.executions


def test_the_oracle_separates_orders_of_dependent_steps_only() -> None:
    """Two readers of one file are one trace however they interleave; a writer makes two."""
    assert count_traces(readers(1).programs[1:] * 2, setup={"/x": b"0"}).classes == 1
    oracle = count_traces(readers(1).programs, setup={"/x": b"0"})
    assert (oracle.executions, oracle.classes) == (2, 2)
