"""Model and binary side by side: a model schedule mapped onto the binary, step by step.

The mapping is the fidelity suite's (``tests/fidelity``): the n-th step of model thread t is the
n-th gated system call (or readlink run) of binary thread t+1 (thread 0 is the binary's main
thread, which makes no step in the mounts). Model steps without a system call (``download``, a
thread-local step: the binary read its archives before its threads started) are dropped. The
model's global order of the remaining steps is the binary's schedule; each step's real result is
then compared with the model's (results normalised as ``tests/fidelity/harness.py`` does: an
``open``/``write``/``close``/``chmod``/``utimes`` that succeeded is ``ok``, a ``realpath`` is ``ok``
or its errno, a directory listing is compared as a set since the kernel lists in hash order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from raceproof import token as tokens
from raceproof.errors import TokenError
from raceproof.exec.runner import ExecRunner, scenario_program
from raceproof.execution import Execution, Runner
from raceproof.runs import program_for
from raceproof.scenario import Scenario
from raceproof.steps import StepEvent
from raceproof.strategies.replay import ReplayChooser

#: model steps that make no system call in the binary
NO_SYSCALL = frozenset({"download", "take_job"})


class MappedChooser:
    """Follows a thread sequence; remembers the first position where it could not."""

    sees_forced = True

    def __init__(self, seq: Sequence[int]) -> None:
        self.seq = list(seq)
        self.diverged: int | None = None

    def choose(self, enabled: tuple[int, ...], trace: Sequence[StepEvent]) -> int:
        pos = len(trace)
        want = self.seq[pos] if pos < len(self.seq) else None
        if want in enabled:
            return want  # type: ignore[return-value]
        if self.diverged is None:
            self.diverged = pos
        return enabled[0]

    def choose_value(self, thread: int, label: str, n: int) -> int:
        return 0


def normalise(ev: StepEvent | None) -> tuple[str, str, str]:
    if ev is None:
        return ("-", "-", "-")
    op, path, result = ev.op, ev.path, ev.result
    failed = result.startswith("-1")
    if op == "realpath":
        path, result = "", (result if failed else "ok")
    elif op in ("open", "write", "close", "chmod", "utimes") and not failed:
        result = "ok"
    elif op == "readdir" and not failed:
        result = "[" + ", ".join(sorted(n for n in result.strip("[]").split(", ") if n)) + "]"
    return (op, path, result)


@dataclass
class Row:
    index: int
    thread: str
    model: tuple[str, str, str]
    real: tuple[str, str, str]

    @property
    def same(self) -> bool:
        return self.model == self.real

    @property
    def order_only(self) -> bool:
        """The same step on a sibling entry: the kernel listed the directory in another order (hash
        order; the model lists in name order, a documented limitation), so a walk took the entries in
        another order."""
        (mo, mp, mr), (ro, rp, rr) = self.model, self.real
        if mo != ro or mr != rr or mp == rp:
            return False
        a, b = mp.split("/"), rp.split("/")
        return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1

    @property
    def mark(self) -> str:
        return "=" if self.same else ("~" if self.order_only else "!")


@dataclass
class SideBySide:
    scenario: Scenario
    binary: str
    model: Execution
    real: Execution
    rows: list[Row] = field(default_factory=list)
    model_token: str = ""
    binary_token: str = ""
    diverged: int | None = None  # first position where the binary's enabled threads did not fit

    @property
    def agree(self) -> bool:
        return all(r.same or r.order_only for r in self.rows) and self.diverged is None

    @property
    def first_difference(self) -> Row | None:
        return next((r for r in self.rows if not (r.same or r.order_only)), None)


def side_by_side(sc: Scenario, binary: str, token: str | None = None, *, token_source: str = "--token",
                 timeout: float = 30.0) -> SideBySide:
    """Replay the model on `token` (else the scenario's pinned token, else the first schedule), map its
    schedule onto `binary` and compare them step by step."""
    program = program_for(sc)
    token = token or sc.token
    choices: list[int] = []
    if token:
        try:
            choices = tokens.decode(token, program.digest, sc.file)
        except TokenError as exc:
            raise TokenError(f"{token_source}: {str(exc).removeprefix('token: ')}") from None
    with Runner(program, "memory") as runner:
        chooser = ReplayChooser(choices, collect=True)
        model = runner.run_single(chooser)
        if token and (misfit := chooser.leftover()) is not None:
            raise TokenError(f"{token_source}: {misfit.removeprefix('token: ')}")
    mapped = [ev for ev in model.trace if ev.op not in NO_SYSCALL]
    seq = [ev.thread + 1 for ev in mapped]
    mchooser = MappedChooser(seq)
    eprog = scenario_program(sc, [binary, "{variant}", "{manifest}"], timeout=timeout)
    with ExecRunner(eprog) as er:
        real = er.execute(mchooser)
    out = SideBySide(sc, binary, model, real, model_token=tokens.encode(program.digest, model.choices),
                     binary_token=tokens.encode(eprog.digest, real.choices), diverged=mchooser.diverged)
    for k in range(max(len(mapped), len(real.trace))):
        m = mapped[k] if k < len(mapped) else None
        r = real.trace[k] if k < len(real.trace) else None
        who = real.names[r.thread] if r is not None else (model.names[m.thread] if m is not None else "")
        out.rows.append(Row(k, who, normalise(m), normalise(r)))
    return out
