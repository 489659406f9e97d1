"""The leader rule over identical threads (``raceproof.symmetry``) against plain enumeration.

Generated programs: two or three copies of one template thread, each with its own root under
``/p`` (``$R`` in the template), plus a third-party thread over shared paths. Two claims, checked
separately on every program:

1. the rule loses no outcome up to symmetry: the restricted program reaches a subset of the
   program's outcomes, and the same ones once each outcome is put in a canonical form over every
   permutation of the copies (roots renamed, results permuted). The program's outcome set is
   DPOR's (``test_search_soundness`` holds DPOR to plain enumeration; plain DFS of three copies of
   a ``create_dir_all`` is out of a test's reach);
2. DPOR explores the restricted program exactly: its outcome set is plain DFS's of the same
   restricted program (whenever that enumeration fits 5,000 executions).

A program whose third party reaches into a root (or lists ``/p``) must stop with
``SymmetryBroken`` under the rule, never give an answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from raceproof.execution import Runner
from raceproof.exploration import FunctionProgram, run_exploration
from raceproof.generators import Op, run_op
from raceproof.scheduler import Scheduler
from raceproof.sfs import SchedFS
from raceproof.strategies import make_strategy
from raceproof.symmetry import Symmetry, SymmetryBroken

ROOTS = ("/p/a", "/p/b", "/p/c")
TEMPLATE_PATHS = ("$R", "$R/f", "$R/g", "/s", "/s/x")
SHARED_PATHS = ("/s", "/s/x", "/s/y", "/p/z", "/s", "/s/x", "/p/a/f", "/p/b")  # sometimes inside a copy
#: every non-blocking operation but ``symlink`` (a symlink's target is path text written outside the
#: thread's subtree: the one way a copy could leave its root's name in shared state)
TEMPLATE_OPS = ("write_file", "read_file", "atomic_write_file", "mkdir", "rmdir", "unlink", "readdir",
                "rename", "exists", "is_dir", "stat", "link", "realpath", "create_dir_all", "remove_dir_all",
                "canonicalize", "append", "read_handle", "create_excl", "set_event", "arrive")
OTHER_OPS = ("write_file", "read_file", "mkdir", "rmdir", "unlink", "rename", "exists", "stat", "create_dir_all",
             "remove_dir_all", "readlink", "listdir")


def _op(paths: Sequence[str], ops: Sequence[str]) -> st.SearchStrategy[Op]:
    @st.composite
    def one(draw: st.DrawFn) -> Op:
        name = draw(st.sampled_from(ops))
        path = draw(st.sampled_from(paths))
        arg: str | bytes | None = None
        if name in ("write_file", "atomic_write_file", "append"):
            arg = draw(st.sampled_from((b"1", b"22")))
        elif name in ("rename", "link"):
            arg = draw(st.sampled_from(paths))
        return Op(name, path, arg)

    return one()


def _bind(op: Op, root: str) -> Op:
    arg = op.arg.replace("$R", root) if isinstance(op.arg, str) else op.arg
    return Op(op.name, op.path.replace("$R", root), arg)


async def _run(fs: SchedFS, ops: Sequence[Op]) -> tuple[Any, ...]:
    out = []
    for op in ops:
        value = await run_op(fs, op)
        if op.name == "stat" and isinstance(value, tuple) and len(value) == 3:
            value = value[:2]  # inode numbers differ between copies: not part of the comparison
        out.append(value)
    return tuple(out)


class SymProgram(FunctionProgram):
    """`copies` copies of `template` rooted at ``ROOTS``, then `others` (third-party threads)."""

    def __init__(self, template: Sequence[Op], copies: int, others: Sequence[Sequence[Op]],
                 initial: dict[str, bytes], symmetric: bool) -> None:
        threads = [[_bind(op, ROOTS[i]) for op in template] for i in range(copies)] + [list(o) for o in others]

        def make(ops: list[Op]) -> Any:
            async def thread(fs: SchedFS) -> tuple[Any, ...]:
                return await _run(fs, ops)

            return thread

        super().__init__([make(ops) for ops in threads], initial, check=lambda _: None)
        self.copies = copies
        self.symmetric = symmetric

    def hooks(self, sched: Scheduler) -> None:
        if self.symmetric:
            roots = [*ROOTS[:self.copies], *[""] * (len(self.programs) - self.copies)]
            sched.symmetry = Symmetry([tuple(range(self.copies))], roots, sched.threads)


def outcomes(template: Sequence[Op], copies: int, others: Sequence[Sequence[Op]], initial: dict[str, bytes],
             strategy: str, symmetric: bool, budget: int = 200_000) -> frozenset[tuple[Any, ...]] | None:
    """The outcome set of a complete search, None if it needed more than `budget` executions."""
    program = SymProgram(template, copies, others, initial, symmetric)
    with Runner(program, "memory", "direct") as runner:
        result = run_exploration(runner, make_strategy(strategy), stop_on_failure=False, collect_outcomes=True,
                                 max_executions=budget)
    return result.outcomes if result.complete else None


def canonical(outcome: tuple[Any, ...], copies: int) -> str:
    """The least rendering of `outcome` over every permutation of the copies (copy i renamed to
    copy perm[i]: its root in the tree and in every result, its result moved to that place)."""
    tree, threads = outcome
    forms = []
    for perm in itertools.permutations(range(copies)):
        moved = [threads[perm.index(j)] for j in range(copies)] + list(threads[copies:])
        renamed_tree = sorted((_renamed(path, perm), _renamed(repr(v), perm)) for path, v in tree)
        forms.append(repr((renamed_tree, _renamed(repr(moved), perm))))
    return min(forms)


def _renamed(text: str, perm: Sequence[int]) -> str:
    for i, j in enumerate(perm):
        text = text.replace(ROOTS[i], f"\0{j}")
    return text


def _initial(draw: st.DrawFn) -> dict[str, bytes]:
    tree = {"/p/": b""}
    if draw(st.booleans()):
        tree["/s/"] = b""
        if draw(st.booleans()):
            tree["/s/x"] = b"0"
    return tree


@st.composite
def symmetric_programs(draw: st.DrawFn) -> tuple[tuple[Op, ...], int, tuple[tuple[Op, ...], ...], dict[str, bytes]]:
    copies = draw(st.integers(2, 3))
    template = tuple(draw(st.lists(_op(TEMPLATE_PATHS, TEMPLATE_OPS), min_size=1, max_size=3 if copies == 2 else 2)))
    others = tuple(tuple(draw(st.lists(_op(SHARED_PATHS, OTHER_OPS), min_size=1, max_size=2)))
                   for _ in range(draw(st.integers(0, 1))))
    return template, copies, others, _initial(draw)


SPINE = (Op("create_dir_all", "$R/f"), Op("realpath", "$R/f"))


@pytest.mark.quick(30)
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(symmetric_programs())
@example((SPINE, 3, ((Op("mkdir", "/s"),),), {"/p/": b""}))
@example((SPINE, 2, ((Op("rmdir", "/p/z"), Op("mkdir", "/p/z")),), {"/p/": b""}))
@example(((Op("mkdir", "/s"), Op("mkdir", "$R"), Op("exists", "/s/x")), 2, ((Op("write_file", "/s/x", b"1"),),),
          {"/p/": b""}))
def test_the_leader_rule_loses_no_outcome_up_to_symmetry_and_dpor_explores_it_exactly(
        case: tuple[tuple[Op, ...], int, tuple[tuple[Op, ...], ...], dict[str, bytes]]) -> None:
    template, copies, others, initial = case
    plain = outcomes(template, copies, others, initial, "dpor", symmetric=False)
    try:
        ruled = outcomes(template, copies, others, initial, "dpor", symmetric=True)
    except SymmetryBroken:
        event("symmetry broken")
        return  # the assumptions failed and the run said so (see the tests below for the reasons)
    assert plain is not None and ruled is not None
    assert ruled <= plain, "the restricted program reached an outcome the program cannot"
    assert {canonical(o, copies) for o in ruled} == {canonical(o, copies) for o in plain}
    enumerated = outcomes(template, copies, others, initial, "dfs", symmetric=True, budget=5_000)
    event(f"plain DFS of the restricted program {'done' if enumerated is not None else 'over budget'}")
    if enumerated is not None:
        assert enumerated == ruled, "DPOR and plain enumeration disagree on the restricted program"


def test_the_rule_cuts_mirror_images() -> None:
    """Three copies that race to create a shared directory: which copy wins is one outcome up to
    symmetry, three without the rule (a check that the rule does something, next to the soundness
    property above)."""
    template = (Op("mkdir", "/s"), Op("mkdir", "$R"))
    plain = outcomes(template, 3, (), {"/p/": b""}, "dpor", symmetric=False)
    ruled = outcomes(template, 3, (), {"/p/": b""}, "dpor", symmetric=True)
    assert plain is not None and ruled is not None
    assert (len(plain), len(ruled)) == (3, 1)
    assert {canonical(o, 3) for o in ruled} == {canonical(o, 3) for o in plain}


@pytest.mark.parametrize(("others", "why"), [
    (((Op("mkdir", "/p/a"),),), "inside the subtree of identical job 0"),
    (((Op("listdir", "/p"),),), "lists /p"),
    (((Op("exists", "/p/b/f"),),), "inside the subtree of identical job 1"),
])
def test_a_third_party_inside_a_copy_stops_the_symmetric_run(others: tuple[tuple[Op, ...], ...], why: str) -> None:
    with pytest.raises(SymmetryBroken, match=why):
        outcomes((Op("mkdir", "$R"),), 2, others, {"/p/": b""}, "dpor", symmetric=True)


def test_a_blocking_step_in_a_copy_stops_the_symmetric_run() -> None:
    with pytest.raises(SymmetryBroken, match="blocking step"):
        outcomes((Op("wait_event", "/e"),), 2, ((Op("set_event", "/e"),),), {"/p/": b""}, "dpor", symmetric=True)
