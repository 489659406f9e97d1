"""What a long run shows on a terminal: ``verify --mount-sets`` reports progress inside a row."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

GUARD_S = 120  # a hang guard, not a measurement


def test_a_long_row_shows_its_executions_and_rate_on_a_terminal() -> None:
    """On a terminal (a pty here), a row that takes long says how many executions it has done and
    at what rate, not just which row it is on (issue 12: a run sat 25 minutes on one row)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "raceproof", "verify", "scenarios/guest-download-fixed.toml",
                             "--mount-sets", "4", "--jobs", "1",
                             "--no-confluence"], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    seen = b""
    found = None
    try:
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline and found is None:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
            text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen).decode(errors="replace")
            found = re.search(r"proving (\S+ w\d): (\d+) executions, ([\d,]+)/s", text)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)
    assert found is not None, seen[-2000:]
    assert int(found.group(2)) >= 50 and int(found.group(3).replace(",", "")) > 0
