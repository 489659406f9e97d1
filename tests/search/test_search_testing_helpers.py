"""The Hypothesis strategies users get from ``raceproof.testing``: valid by construction, and rich
enough to produce the shapes that matter (nesting, string-prefix siblings, hostile names)."""

from __future__ import annotations

from hypothesis import find, given, settings
from hypothesis import strategies as st

from raceproof.models import tar
from raceproof.scenario import check_mount_path, parse
from raceproof.testing import GeneratedProgram, archives, mount_sets, programs, trace_key

QUICK = settings(max_examples=50, deadline=None)
SEARCH = settings(max_examples=500, deadline=None, database=None)


def nested(mounts: list[str]) -> bool:
    return any(b.startswith(a + "/") for a in mounts for b in mounts if a != b)


def prefix_siblings(mounts: list[str]) -> bool:
    return any(b.startswith(a) and not b.startswith(a + "/") for a in mounts for b in mounts if a != b)


@QUICK
@given(mount_sets())
def test_mount_sets_are_valid_scenario_mounts(mounts: list[str]) -> None:
    assert 1 <= len(mounts) <= 4
    assert len(set(mounts)) == len(mounts)
    for i, m in enumerate(mounts):
        assert check_mount_path("<test>", f"mounts[{i}]", m) == m
        assert m.startswith("/home/user/")
    sc = parse({"name": "m", "mounts": [{"path": m, "files": 1} for m in mounts]})
    assert [m.path for m in sc.mounts] == mounts


def test_mount_sets_produce_every_interesting_shape() -> None:
    assert nested(find(mount_sets(), nested, settings=SEARCH))
    assert prefix_siblings(find(mount_sets(), prefix_siblings, settings=SEARCH))
    chain = find(mount_sets(min_size=3, max_size=3),
                 lambda ms: sum(any(b.startswith(a + "/") for a in ms) for b in ms) == 2 and
                 all(any(a.startswith(b + "/") or b.startswith(a + "/") for b in ms if b != a) for a in ms),
                 settings=SEARCH)
    assert len(chain) == 3
    disjoint = find(mount_sets(min_size=2), lambda ms: not nested(ms) and not prefix_siblings(ms), settings=SEARCH)
    assert len(disjoint) >= 2


@QUICK
@given(archives(kinds=("file", "dir", "symlink", "hardlink")))
def test_archives_round_trip_through_ustar(members: list[tar.Member]) -> None:
    parsed = [m for m, _ in tar.parse(tar.build(members))]
    assert [m.name.rstrip("/") for m in parsed] == [m.name for m in members]
    assert [m.kind for m in parsed] == [m.kind for m in members]
    assert [m.data for m in parsed if m.kind == "file"] == [m.data for m in members if m.kind == "file"]
    names = [m.name for m in members]
    assert len(set(names)) == len(names)
    for m in members:
        assert not m.name.startswith("/") and ".." not in m.name.split("/")
        if m.kind == "hardlink":
            assert m.target in names[: names.index(m.name)]


def test_hostile_archives_contain_escapes() -> None:
    found = find(archives(hostile=True), lambda ms: any(".." in m.name.split("/") for m in ms), settings=SEARCH)
    assert any(".." in m.name.split("/") for m in found)
    absolute = find(archives(hostile=True), lambda ms: any(m.name.startswith("/") for m in ms), settings=SEARCH)
    assert absolute


@QUICK
@given(programs())
def test_programs_respect_their_size_limits(program: GeneratedProgram) -> None:
    assert 2 <= len(program.threads) <= 3
    assert all(1 <= len(t) <= 4 for t in program.threads)
    assert sum(len(t) for t in program.threads) <= 6
    r = program.explore("dpor")
    assert r.complete and len(r.outcomes) >= 1
    for outcome in r.outcomes:  # every thread returns its observations; errors are values
        assert all(kind == "ok" for kind, *_ in outcome[1])


@QUICK
@given(st.data())
def test_trace_key_is_schedule_independent_for_one_trace(data: st.DataObject) -> None:
    """Replaying the same schedule twice gives the same trace key."""
    from raceproof.execution import Runner
    from raceproof.exploration import FunctionProgram
    from raceproof.strategies.random import RandomWalk

    program = data.draw(programs())
    seed = data.draw(st.integers(0, 1000))
    keys = []
    for _ in range(2):
        with Runner(FunctionProgram(program.functions(), program.setup)) as runner:
            keys.append(trace_key(runner.run_single(RandomWalk(seed=seed).next_execution())))
    assert keys[0] == keys[1]
