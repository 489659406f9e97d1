"""Interrupts held back while a small piece of bookkeeping must finish whole."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Hold:
    """A Python signal handler that notes the signal while a block runs and afterwards behaves as
    the handler it stands in for (so that one left installed by an interrupted restore is
    harmless)."""

    def __init__(self, original: Any, held: list[int]) -> None:
        self.original = original
        self.held = held
        self.active = True

    def __call__(self, signum: int, frame: Any) -> Any:
        if self.active:
            self.held.append(signum)
            return None
        return self.original(signum, frame)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block; one that arrives meanwhile is delivered (its
    handler runs) as soon as the block ends. For steps that must not be cut between creating
    something and recording it: a sandbox root and its registration for the interrupt clean-up,
    a temporary checkpoint file and its rename into place, the exploration loop's bookkeeping.

    Two layers: the signals are blocked in this thread (a C-level handler does not run here), and
    in the main thread their Python handlers are swapped for one that only notes the signal. The
    second is needed because a process-directed signal goes to any thread that does not block it
    (a progress bar's refresh thread, a pool's), whose C handler then has the main thread run the
    Python handler at its next instruction, inside the block. The way out is ordered so that a
    signal's handler raising on the way (the original, once restored) can leave neither the mask
    blocked (children would inherit it) nor a noting handler active."""
    # the mask as it is, read before anything changes: a handler that runs as the blocking call
    # returns (a signal another thread took just before) raises before any result is stored,
    # and the way out must still know what to restore
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    held: list[int] = []
    holds: dict[signal.Signals, _Hold] = {}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNALS))
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):  # an ignored or default signal is left as it is
                    holds[signum] = _Hold(handler, held)
                    signal.signal(signum, holds[signum])
        yield
    finally:
        # a signal that reaches the main thread while the holds come off runs its own handler
        # there, which may raise mid-loop: finish the loop, then raise it (a hold left installed
        # would sit in the next block's chain, a handler left active would swallow signals)
        caught: BaseException | None = None
        while True:
            try:
                for signum, hold in holds.items():
                    hold.active = False  # from here on a signal goes to its own handler
                    original = hold.original
                    if signal.getsignal(signum) is hold:
                        signal.signal(signum, original)
                break
            except BaseException as exc:  # re-raised below
                caught = caught or exc
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        except BaseException as exc:  # a handler that ran as the mask came off
            caught = caught or exc
        if caught is not None:
            raise caught
        for got in dict.fromkeys(held):  # each held signal once, to the handler it was meant for
            signal.raise_signal(got)
