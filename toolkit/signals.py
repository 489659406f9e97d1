"""Interrupts held back while a small piece of bookkeeping must finish whole."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the block; one that arrives meanwhile is
    delivered (and its handler runs) as soon as the block ends. For steps that must not be cut
    between creating something and recording it: a sandbox root and its registration for the
    interrupt clean-up, a temporary checkpoint file and its rename into place."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
