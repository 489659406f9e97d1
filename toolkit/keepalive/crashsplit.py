"""Crash runs in two stages: every crash state first, then each distinct crash tree's rerun once.

A keep-alive crash run (``inject crash``) is a prefix (every thread up to the crash barrier: the
crash-free executions, and every crash placement with every other thread's progress) followed,
when the machine crashed, by a rerun of the whole pipeline on the tree the crash left. The full
exploration (``raceproof.inject.explore_placements``) explores the rerun's interleavings again for
every crash prefix, although many prefixes leave the same tree (a read, a failed step or a
synchronisation step changes no entry).

**Stage 1** explores the crash-free program once (one optimal DPOR: every crash-free execution is
judged as usual, P1-P4 and the crash-free breaks P5 is judged against) and reads every crash tree
off its executions (``raceproof.keepalive.crashstates``: a crash state is an ideal of an explored
execution's happens-before order). Where that cannot be done (a backend other than memory, a hard
link) it explores the same program with the rerun switched off (``CrashRerun.rerun = False``) and
every crash placement, each crashed execution contributing its final tree (= the tree at the
crash: after it, a thread's filesystem steps fail without touching anything). **Stage 2** runs,
for each distinct crash tree in the order first reached, one optimal DPOR of the pipeline from that
tree (a program whose initial tree is it, no injector), and judges each execution as the full run
would judge a crashed one (``properties.p5_violations`` with ``crashed=True``; P3 on the rerun's
steps).

Why this explores the same violations (the soundness argument):

1. Every prefix of a full execution is an execution of the stage-1 program (the rerun starts only
   after every thread passed the ``crash:rerun`` barrier, so the steps before it are the same), and
   DPOR covers every Mazurkiewicz trace of it; equivalent traces leave the same tree. So every
   crash tree of the full run is reached in stage 1, and stage 1 reaches no other (read off the
   crash-free executions: ``crashstates`` gives the argument).
2. The rerun depends on nothing but that tree: it is a fresh ``bodies`` of the pipeline (a new
   generation: its events, latches and barriers are new names; ``results`` cleared; the failed set
   keyed by generation), its threads are out of the crash hook (phase 2), and nothing else runs
   (a run with extra threads, such as a writer, or a tree with hard links, is not split: it is
   explored in full). File identities differ, which no step's outcome depends on.
3. So the reruns of the full run from a tree are the executions of stage 2 from it, with the
   same final trees and worker errors: the same P1/P2/P4 (as P5) and the same P3 of the rerun's
   steps; a prefix's own P3 is a P3 of a crash-free execution (a crashed prefix is a prefix of a
   crash-free execution), judged in stage 1.

A deadlock or an aborted execution in stage 1's crashed prefixes (not expected: synchronisation
steps are exempt from the crash) makes the run fall back to the full exploration. A P5 violation
found in stage 2 is confirmed by the full exploration (stopping at its first P5), whose execution
gives the replay token; not finding it is an internal error (the argument above failed).
``tests/keepalive/test_crashsplit.py`` compares both on small runs: the same crash-free verdicts,
and the same set of (final tree, violated properties) over the crashed executions.
"""

from __future__ import annotations

from typing import Any

from raceproof.execution import Execution, Runner
from raceproof.loop import Loop
from raceproof.properties import note_first, p5_violations
from raceproof.runs import program_for
from raceproof.scenario import Scenario
from raceproof.strategies.dpor import Dpor

CRASH = "crash"


def tree_scenario(sc: Scenario, tree: dict[str, str]) -> Scenario | None:
    """`sc` with `tree` (``Vfs.tree`` descriptions) as its initial tree and no injector; None for a
    tree this cannot express (a hard link)."""
    dirs, files, links = [], {}, {}
    for path, desc in tree.items():
        if desc == "dir":
            dirs.append(path)
        elif desc.startswith("file:"):
            files[path] = bytes.fromhex(desc[5:])
        elif desc.startswith("link:"):
            links[path] = desc[5:]
        else:
            return None
    return sc.with_changes(initial_dirs=dirs, initial_files=files, initial_links=links, token=None, inject=[])


def _dpor(runner: Runner, visit: Any, budget: int | None) -> tuple[int, bool]:
    count = {"n": 0}

    async def driver(r: Runner) -> bool:
        loop = Loop(r, Dpor(), budget=budget)

        def seen(ex: Execution) -> bool:
            count["n"] += 1
            return bool(visit(ex))

        await loop.run(seen)
        return loop.exhausted

    done = runner.run(driver)
    return count["n"], bool(done)


def crash_trees(sc: Scenario, wanted: set[str], budget: int | None = None, placements: bool = False
                ) -> tuple[dict[str, Execution], list[dict[str, str]], int, bool, Any] | None:
    """Stage 1: the first crash-free execution breaking each property in `wanted` (P1-P4), every
    distinct crash tree (first-reached order), the executions, completeness and the program; None
    when the run must not be split (extra threads, a deadlocked or aborted crashed prefix).

    The crash trees are read off the crash-free executions (``raceproof.keepalive.crashstates``)
    when they can be, else (or with `placements`) found by exploring every crash placement."""
    program = program_for(sc, [CRASH])
    if len(program.names) != len(program.pipeline.thread_names()):
        return None  # extra threads (a writer): the rerun is not a function of the tree alone
    if not placements and [inj.name for inj in program.injectors] == [CRASH]:
        from raceproof.keepalive import crashstates

        first: dict[str, Execution] = {}

        def judge(ex: Execution) -> bool:
            note_first(first, wanted, ex)
            return False

        try:
            states, n, complete = crashstates.explore(program, sc.backend, budget, judge)
            trees = [crashstates.describe(state) for state in states]
            if all(tree is not None for tree in trees):
                return first, [tree for tree in trees if tree is not None], n, complete, program
        except crashstates.NotHandled:
            pass
        program = program_for(sc, [CRASH])  # a fresh one: its crash-free breaks start empty
    return _crash_trees_by_placement(sc, program, wanted, budget)


def _crash_trees_by_placement(sc: Scenario, program: Any, wanted: set[str], budget: int | None
                              ) -> tuple[dict[str, Execution], list[dict[str, str]], int, bool, Any] | None:
    from raceproof.inject import explore_placements

    crash = next(inj for inj in program.injectors if inj.name == CRASH)
    crash.rerun = False
    first: dict[str, Execution] = {}
    trees: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    bad = {"split": True}

    def observe(ex: Execution) -> bool:
        if ex.extra.get("crash_step") is not None:
            if ex.deadlock is not None or ex.aborted or ex.tree is None:
                bad["split"] = False
                return True
            trees.setdefault(tuple(sorted(ex.tree.items())), ex.tree)
            return False
        note_first(first, wanted, ex)
        return False

    with Runner(program, sc.backend, "direct") as runner:
        pr = explore_placements(runner, program.injectors, max_executions=budget, stop_on_failure=False,
                                observe=observe)
    if not bad["split"]:
        return None
    return first, list(trees.values()), pr.executions, pr.complete, program


def explore_split(sc: Scenario, wanted: set[str], budget: int | None = None
                  ) -> tuple[dict[str, Execution], int, bool, Any] | None:
    """A crash run in two stages (see the module docstring): the first failing execution per
    property in `wanted`, the executions of both stages, completeness and the crash program (whose
    ``crash_free_broken`` P5 was judged against). None: not split, explore it in full."""
    stage1 = crash_trees(sc, wanted - {"P5"}, budget)
    if stage1 is None:
        return None
    first, trees, n, complete, program = stage1
    pending: set[str] = set()  # broken by a rerun: confirmed (and given a token) by the full run

    def visit(ex: Execution) -> bool:
        for v in p5_violations(list(ex.violations), True, program.crash_free_broken):
            if v.check in wanted and v.check not in first:
                pending.add(v.check)
        return wanted <= set(first) | pending

    for tree in trees:
        if wanted <= set(first) | pending:
            break
        rerun = tree_scenario(sc, tree)
        if rerun is None:
            return None
        with Runner(program_for(rerun), rerun.backend, "direct") as runner:
            k, done = _dpor(runner, visit, None if budget is None else max(1, budget - n))
        n += k
        complete = complete and (done or wanted <= set(first) | pending)
    if pending:  # a crashed execution's token comes from the full exploration
        from raceproof.keepalive.compare import explore_run

        full, _n, _c, _r, _p = explore_run(sc, True, pending, budget, split=False)
        for prop in sorted(pending):
            if prop not in full:
                raise AssertionError(f"[raceproof internal bug] the crash split found {prop}, the full run does not")
            first[prop] = full[prop]
    return first, n, complete, program
