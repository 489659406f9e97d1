"""Interrupts held back while a small piece of bookkeeping must finish whole."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
    Python handler at its next instruction, inside the block."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNALS))
    held: list[int] = []
    swapped: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):  # an ignored or default signal is left as it is
                swapped[signum] = signal.signal(signum, lambda got, _frame: held.append(got))
    try:
        yield
    finally:
        for signum, handler in swapped.items():
            signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for got in dict.fromkeys(held):  # each held signal once, to the handler it was meant for
            signal.raise_signal(got)
