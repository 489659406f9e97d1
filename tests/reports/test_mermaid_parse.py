"""Dev-only: the Mermaid blocks parse with the real mermaid parser (node + jsdom).

Skipped unless ``RACEPROOF_MERMAID_DIR`` names a directory where ``npm install mermaid jsdom`` was
run (it is ~200 MB, so it is never a runtime or CI dependency). A block of unescaped labels is
parsed too, and must FAIL: that shows the check can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from raceproof.reports import markdown

MERMAID_DIR = os.environ.get("RACEPROOF_MERMAID_DIR", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (MERMAID_DIR and shutil.which("node") and (Path(MERMAID_DIR) / "node_modules" / "mermaid").is_dir()),
        reason="set RACEPROOF_MERMAID_DIR to a directory with `npm install mermaid jsdom` to parse Mermaid blocks",
    ),
]


def test_report_and_hostile_blocks_parse_and_unescaped_ones_do_not(incident_report, full_incident_report, tmp_path):
    blocks = [
        b
        for report in (incident_report, full_incident_report)
        for b in re.findall(r"```mermaid\n(.*?)```", markdown.render(report), re.S)
    ]
    assert len(blocks) == 3, "the small counterexample, and the incident's pinned schedule and counterexample"
    t = markdown.mermaid_text
    hostile = (
        "sequenceDiagram\n"
        f"    participant T0 as {t('evil;#x end <b> a:b, c', alias=True)}\n"
        "    participant FS as filesystem\n"
        f"    T0->>FS: {t('open(/a;b#c/end/<x>) = -1 ENOENT [x] 50%')}\n"
        f"    Note right of FS: {t('end')}\n"
        f"    rect {markdown.WINDOW_FILL}\n"
        f"    T0-xFS: {t('end; #')}\n"
        "    end\n"
    )
    unescaped = "sequenceDiagram\n    participant T0 as a\n    T0->>T0: a;b end\n    Note right of T0: end\n"
    src = tmp_path / "blocks.json"
    src.write_text(json.dumps([*blocks, hostile, unescaped]))
    script = Path(__file__).with_name("mermaid_parse.mjs")
    out = subprocess.run(
        ["node", str(script), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RACEPROOF_MERMAID_DIR": str(Path(MERMAID_DIR).resolve())},
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(blocks) + 2, out.stderr
    assert all(line.endswith(" OK") for line in lines[:-1]), lines
    assert " FAIL " in lines[-1]
