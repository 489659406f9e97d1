"""``Job.members()``: a user algorithm lists its archive without extracting (issue 11)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from raceproof.models import tar
from raceproof.runs import replay
from raceproof.scenario import load, parse

ROOT = Path(__file__).resolve().parents[2]

#: rejects an archive with an entry on another mount's path up front (A's precondition), then extracts
CHECKED = '''\
from raceproof.models import tar


async def checked(fs, job):
    names = [m.name.rstrip("/") for m in job.members()]
    for other in job.mounts:
        if other.startswith(job.root + "/"):
            rel = other[len(job.root) + 1:]
            if any(n == rel or n.startswith(rel + "/") for n in names):
                raise OSError(22, "archive entry on a nested mount's path", rel)
    await fs.create_dir_all(job.root)
    return await tar.unpack(fs, job.root, job.payload())
'''


def test_members_lists_without_a_step() -> None:
    sc = load(ROOT / "scenarios" / "keepalive.toml")
    job = sc.program().jobs[0]
    names = [m.name for m in job.members()]
    assert names and names == [m.name for m, _ in tar.parse(job.archive)]
    assert all(isinstance(m, tar.Member) for m in job.members())
    with pytest.raises(tar.TarError):
        job.members(job.archive[: tar.BLOCK + 10])  # a member cut short, as extracting it fails


def test_a_user_algorithm_rejects_an_entry_on_a_nested_root_before_extracting(tmp_path: Path) -> None:
    (tmp_path / "members_algo.py").write_text(CHECKED)
    raw = tomllib.loads((ROOT / "scenarios" / "keepalive.toml").read_text())
    raw["algorithm"] = "members_algo:checked"
    raw.pop("properties")
    raw["workers"] = 1
    try:
        sc = parse(raw, "members.toml", allow_import=[str(tmp_path / "members_algo.py")])
        ok = replay(sc)
        bad_raw = dict(raw)
        parent = {"path": raw["mounts"][0]["path"], "members": [{"name": "CLAUDE.md", "data": "x"},
                                                                {"name": "skills/a/x.md", "data": "y"}]}
        bad_raw["mounts"] = [parent, raw["mounts"][1]]
        bad = replay(parse(bad_raw, "members.toml", allow_import=[str(tmp_path / "members_algo.py")]))
    finally:
        sys.modules.pop("members_algo", None)
    assert ok.verdict == "pass", ok.execution.violations
    assert bad.verdict == "fail"
    err = next(v for v in bad.execution.violations if v.check == "no-worker-error")
    assert "nested mount" in err.message
    assert not any(e.op in ("mkdir", "open") for e in bad.execution.trace if e.thread == 0)  # nothing extracted
