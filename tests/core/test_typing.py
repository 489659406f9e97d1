"""``mypy --strict`` stays clean on the whole package (the core, the injectors, the reports, the
CLI and the pytest plugin)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _package_tree(tmp: Path) -> Path:
    """The folders laid out as the installed package (``pyproject.toml``'s ``package-dir``):
    ``raceproof/`` holds toolkit/'s modules and the ``injectors`` and ``reports`` packages."""
    pkg = tmp / "raceproof"
    pkg.mkdir()
    for entry in (ROOT / "toolkit").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    (pkg / "injectors").symlink_to(ROOT / "injectors")
    (pkg / "reports").symlink_to(ROOT / "reports")
    return tmp


@pytest.mark.slow
def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    tree = _package_tree(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "raceproof",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(tree)},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
