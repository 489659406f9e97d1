#!/usr/bin/env python3
"""Bootstrap raceproof on a machine that has only python3, then run one of its two main jobs.

    python3 run.py incident   replay the 2026-04-10 incident, prove the fix, write the report to out/
    python3 run.py test       run the whole test suite (slow proofs included)

The first run creates ``.venv`` next to this file and installs raceproof into it (editable, with
its test tools); later runs reuse it, and reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
BIN = os.path.join(VENV, "bin")
STAMP = os.path.join(VENV, ".raceproof-installed")

INCIDENT = os.path.join("scenarios", "guest-download-2026-04-10.toml")
FIXED = os.path.join("scenarios", "guest-download-fixed.toml")


def _digest() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def ensure_env() -> None:
    want = _digest()
    if os.path.exists(STAMP):
        with open(STAMP) as fh:
            if fh.read().strip() == want:
                return
    if not os.path.exists(os.path.join(BIN, "python")):
        print("run.py: creating .venv", file=sys.stderr)
        try:
            venv.create(VENV, with_pip=True)
        except Exception as exc:
            sys.exit(f"run.py: cannot create a virtualenv ({exc}); on Debian/Ubuntu: apt-get install python3-venv")
    print("run.py: installing raceproof and its dependencies into .venv", file=sys.stderr)
    pip = [os.path.join(BIN, "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    with open(STAMP, "w") as fh:
        fh.write(want)


def run(*cmd: str) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run([os.path.join(BIN, cmd[0]), *cmd[1:]], cwd=ROOT).returncode


def incident() -> int:
    """Replay the incident, verify both variants, write the postmortem verification report."""
    codes = [
        run("raceproof", "replay", INCIDENT),
        run("raceproof", "verify", FIXED),
        # the same proof by DPOR over the heads' interleavings instead of confluence (a cross-check)
        run("raceproof", "verify", FIXED, "--no-confluence"),
        run("raceproof", "verify", INCIDENT),
        # keep-alive (issue 11): the cleanup candidates' matrix and the recommendation (out/keepalive.*),
        # with a crash at every step then a rerun (P5), computed once, then embedded in the report as
        # its keep-alive section
        run("raceproof", "compare", "A", "B", "C", "D", "--mount-sets", "2", "--stale", "1", "--crash", "-o", "out"),
        run("raceproof", "report", INCIDENT, FIXED, "-o", "out", "--keepalive", os.path.join("out", "keepalive.json")),
    ]
    bad = [c for c in codes if c != 0]
    print(f"run.py: incident job {'OK: report in out/' if not bad else 'FAILED'}", flush=True)
    return bad[0] if bad else 0


def test(args: list[str]) -> int:
    return run("python", "-m", "pytest", "--run-slow", "-q", *args)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("incident", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_env()
    return incident() if sys.argv[1] == "incident" else test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
