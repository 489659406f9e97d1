"""Benchmarks against another checkout: import raceproof from a source tree (its folders laid out
as the package through symlinks in a temporary directory), e.g. to time a commit before a change
beside the working tree in the same minutes (``--tree`` of bench/report_time.py, bench/throughput.py)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def use_tree(tree: Path) -> None:
    """Make ``import raceproof`` load the package from `tree` (call before any raceproof import)."""
    pkg = Path(tempfile.mkdtemp(prefix="raceproof-tree-")) / "raceproof"
    pkg.mkdir()
    for entry in (tree / "toolkit").iterdir():
        (pkg / entry.name).symlink_to(entry)
    (pkg / "injectors").symlink_to(tree / "injectors")
    (pkg / "reports").symlink_to(tree / "reports")
    sys.path.insert(0, str(pkg.parent))


def bench_args() -> argparse.Namespace:
    """``--runs N`` (default 3) and ``--tree DIR``; with ``--tree`` raceproof is imported from DIR
    from here on (``use_tree``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=None)
    args = parser.parse_args()
    if args.tree is not None:
        use_tree(args.tree.resolve())
    return args
