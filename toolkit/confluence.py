"""Confluent heads: when every job's head only creates directories, one execution is the proof.

The fixed algorithm's job is ``create_dir_all(root)`` (its *head*), then the download and tar-rs's
``unpack`` into the root (its *tail*, deferred: ``raceproof.tails``). DPOR with deferred tails and
symmetry still explores every order in which the heads' ``mkdir`` steps meet on the shared
ancestors: which job created ``.claude``, which saw ``skills`` missing (parent + 20 skills: 7,680
executions). Those observations are dead: ``create_dir_all`` returns nothing, and every one of
those executions reaches the same state at the cut.

**Why one execution loses no verdict.** Suppose (checked, below) that before the cut every step is
a ``mkdir`` or an ``is_dir`` of a job's own ``create_dir_all``, or a claim (which changes nothing).

(1) *The heads are confluent.* The only change before the cut is ``mkdir`` creating a directory at
an absent path whose parent is a directory; nothing is ever removed, renamed or replaced, and no
file or link is created. So a path that is a non-directory at the start stays one, and a path that
is absent either stays absent or becomes a directory. ``create_dir_all(root)`` (both Rust
algorithms, ``raceproof.models.rust_fs``) then succeeds exactly when no component of `root` is a
non-directory at the start (every ``mkdir`` either creates a directory or meets one, and
``is_dir`` after EEXIST is true), and otherwise fails at the first such component with an error
that only depends on it: a non-directory has only directories above it, which exist from the
start. So every job's result is the same in every interleaving, and the state at the cut is the
start plus every directory on the successful jobs' roots: the same state (directories get a
schedule-independent identity, ``Vfs._name_new``).

(2) *The tails see that state.* A tail steps outside its claim never (``raceproof.tails``, checked
as it runs). Every step of job j's head lies inside its *envelope* (``head_envelope``: the entries
of the components of j's root, possibly created, and their directories' entry sets; checked at
every step). If no claim of job i writes what j's envelope reads or writes, or reads what it may
create (the entries of i's own root and its ancestors aside: they are directories at i's claim,
and from then on can only be met as directories), and no claim lists a directory j may add an
entry to, then every tail step commutes with every head step of another job in any execution,
and tails are pairwise independent (checked as claims are made): every execution of the program
is equivalent to one that runs all heads first, then the tails in thread order: the one execution
explored, whatever order its heads took (1).

The outcome (every job's result and the final tree) is then the same in every execution, so the
default checks (a function of it) give one verdict. Static conditions (``why_not``): deferrable
tails (built-in jobs, default checks, no injector, no pool, no initial links or mount points), the
``fixed`` algorithm, a claim for every job, no claim clashing with another job's envelope. Checked
at every step of the execution (``Confluence.after``): a step before the cut that is not ``mkdir``,
``is_dir`` or a claim, or that leaves its job's envelope: ``NotConfluent``, a machinery error,
never an outcome; ``raceproof.runs`` then explores with DPOR. Only a safe verdict is kept (a
counterexample is searched for again with DPOR, so that its token replays as is).

Tested against plain DPOR on generated scenarios (``tests/search/test_confluence.py``): wherever it
applies, plain DPOR reaches exactly one outcome, and it is this execution's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raceproof.errors import RaceproofError
from raceproof.fs.base import parent_of
from raceproof.steps import EMPTY, Footprint, StepEvent, entry
from raceproof.tails import deferrable

if TYPE_CHECKING:
    from raceproof.execution import Execution
    from raceproof.incident import IncidentProgram

#: the steps of ``create_dir_all`` (``raceproof.models.rust_fs``), and the claim of a deferred tail
HEAD_OPS = frozenset({"mkdir", "is_dir"})


class NotConfluent(RaceproofError):
    """A confluent-heads execution met a step the confluence argument does not cover."""


def head_envelope(root: str) -> Footprint:
    """Everything ``create_dir_all(root)`` may touch, in any state with no symbolic link: the
    entries of `root` and each of its ancestors (looked up, maybe created) and the entry sets of
    their directories (a created one is added there)."""
    path = root.rstrip("/")
    entries: set[str] = set()
    dirs: set[str] = set()
    while path and path != "/":
        entries.add(entry(path))
        dirs.add(parent_of(path))
        path = parent_of(path)
    frozen = frozenset(entries)
    return Footprint(frozen, frozen, EMPTY, frozenset(dirs))


def why_not(program: IncidentProgram) -> str:
    """"" when `program`'s heads are confluent (the module docstring), else why not."""
    if not deferrable(program):
        return "its tails cannot be deferred"
    if program.pipeline.algorithm != "fixed":
        return f"the {program.pipeline.algorithm} algorithm does more than create directories before its tail"
    jobs = program.jobs
    claims = [job.claim() for job in jobs]
    envelopes = [head_envelope(job.root) for job in jobs]
    for i, claim in enumerate(claims):
        if claim is None:
            return f"{program.names[i]}'s archive holds a link: its tail is not deferred"
        own = envelopes[i].writes  # i's root and ancestors: directories from i's claim on
        for j, env in enumerate(envelopes):
            if i == j:
                continue
            clash = sorted((claim.writes & (env.reads | env.writes)) | ((claim.reads - own) & env.writes)
                           | (claim.lists & env.touches))
            if clash:
                return (f"{program.names[i]}'s archive reaches {clash[0][2:]}, which {program.names[j]}'s "
                        "create_dir_all may create")
    return ""


class Confluence:
    """The per-step check of a confluent-heads execution (the scheduler calls ``after``)."""

    __slots__ = ("envelopes",)

    def __init__(self, roots: Sequence[str]) -> None:
        self.envelopes = [head_envelope(r) for r in roots]

    def after(self, tid: int, op: str, path: str, fp: Footprint) -> None:
        """Thread `tid`'s step `op` on `path` ran before the cut with footprint `fp`."""
        if op == "defer":
            return  # the claim: changes nothing (``Scheduler.defer``)
        if op not in HEAD_OPS:
            raise NotConfluent(f"thread {tid}'s {op} {path} before the cut is not a step of create_dir_all")
        env = self.envelopes[tid]
        if not (fp.reads <= env.reads and fp.writes <= env.writes and fp.touches <= env.touches) or fp.lists:
            raise NotConfluent(f"thread {tid}'s {op} {path} leaves the envelope of its create_dir_all")


class Once:
    """The strategy of a confluent-heads search: one execution (the argument covers every other),
    round robin: each choice takes the next enabled thread after the last one chosen, so that the
    heads meet on their shared ancestors (concurrent creators, EEXIST then ``is_dir``) and those
    steps are checked too."""

    name = "confluence"
    sound = True
    bounded = False
    probes_run = 0
    sees_forced = False

    def __init__(self) -> None:
        self.started = False
        self.observed = False
        self.last = -1

    def next_execution(self) -> Once | None:
        if self.started:
            return None
        self.started = True
        return self

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        self.last = next((t for t in enabled if t > self.last), enabled[0])
        return self.last

    def choose_value(self, thread: int, label: str, n: int) -> int:
        raise NotConfluent(f"thread {thread} makes a data choice ({label})")

    def observe(self, execution: Execution) -> None:
        """Nothing to learn: there is no next execution."""
        self.observed = True

    def snapshot(self) -> dict[str, Any]:
        """Whether the one execution has been seen (``raceproof.checkpoint``): if not, a resumed
        search runs it (again)."""
        return {"done": self.observed}

    def restore(self, state: dict[str, Any]) -> None:
        self.started = self.observed = bool(state["done"])

    def pending(self) -> int:
        return 0
