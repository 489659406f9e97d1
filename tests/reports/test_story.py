"""The report tells the incident's story (issue 12, item 6).

- both executions drawn: the shrunk counterexample and the incident as it happened (the pinned
  schedule: the skills worker's ``canonicalize``/``realpath`` ENOENT);
- the fixed variant run on the schedules that break the buggy one, and passing;
- next to the badge, exactly what the proof covers and what it does not;
- report.md under GitHub's 65,536 characters, the full conflict-pair data in report.json;
- Mermaid colours that read in GitHub's dark theme.
"""

from __future__ import annotations

import copy
import json
import re

from raceproof.reports import html, markdown, model

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
GITHUB_LIMIT = 65_536


def test_the_incident_as_it_happened_is_drawn_like_the_counterexample(full_incident_report):
    buggy = full_incident_report["variants"][0]
    t = buggy["pinned"]["timeline"]
    failing = t["steps"][t["failing_step"]]
    # the postmortem's failure: a skills worker's canonicalize (realpath) of its target, ENOENT
    assert (failing["op"], failing["errno"]) == ("realpath", "ENOENT")
    assert failing["thread"].startswith(".claude/skills/")
    conflict = t["steps"][t["conflict_step"]]
    assert conflict["thread"] == ".claude" and conflict["op"] == "rmdir"
    # and it is not the shrunk counterexample (that one fails in create_dir_all's mkdir)
    cex = buggy["counterexample"]
    assert cex["steps"][cex["failing_step"]]["op"] == "mkdir"
    md = markdown.render(full_incident_report)
    blocks = re.findall(r"```mermaid\n(.*?)\n```", md, re.S)
    assert len(blocks) == 2, "a sequence diagram for the incident and one for the counterexample"
    assert f"-xFS: S{t['failing_step']} realpath(" in blocks[0]
    assert f"-xFS: S{cex['failing_step']} mkdir(" in blocks[1]
    page = html.render(full_incident_report)
    assert len(re.findall(r'<g id="pin-1-\d+" class="step"', page)) == len(t["steps"])
    assert len(re.findall(r'<g id="step-1-\d+" class="step"', page)) == len(cex["steps"])


def test_the_fix_passes_on_the_schedules_that_break_the_bug(full_incident_report):
    fixed = full_incident_report["variants"][1]
    runs = {r["source"]: r for r in fixed["on_buggy_schedules"]}
    assert set(runs) == {"pinned", "counterexample"}
    for run in runs.values():
        assert run["verdict"] == "pass" and not run["violations"]
        assert run["dropped_steps"], "the fix deleted remove_dir_all: those steps are not replayed"
        failed = [a for a in run["aligned"] if "failing" in a["marks"]]
        assert len(failed) == 1 and failed[0]["result"] == "-1 ENOENT"
        # the call that failed in the buggy variant runs, and succeeds, in the fixed one
        assert failed[0]["then"]["call"] == failed[0]["call"] and "ENOENT" not in failed[0]["then"]["result"]
        assert run["replay_command"].startswith("raceproof replay scenarios/guest-download-fixed.toml --token rp1.")


def test_the_fixed_runs_replay_exactly_with_their_commands(full_incident_report, monkeypatch):
    from click.testing import CliRunner

    from raceproof.cli import main

    monkeypatch.chdir(ROOT)
    for run in full_incident_report["variants"][1]["on_buggy_schedules"]:
        result = CliRunner().invoke(main, [*run["replay_command"].split()[1:], "--json"])
        out = json.loads(result.output)
        assert out["verdict"] == "pass" and len(out["trace"]) == run["steps"]


def test_the_buggy_schedule_run_on_the_buggy_variant_fails(full_incident_report):
    """The projection is not a sham: the same machinery on the buggy scenario reproduces the failure."""
    from raceproof.scenario import load

    buggy = full_incident_report["variants"][0]
    sc = load(str(ROOT / "scenarios" / "guest-download-2026-04-10.toml"))
    run = model.run_on_schedule(sc, buggy["counterexample"], drop_cleanup=False)
    assert run["verdict"] == "fail" and "FAILS" in run["text"]


def test_the_badge_states_what_the_proof_covers_and_not(full_incident_report):
    scope = full_incident_report["summary"]["proof_scope"]
    assert [s["variant"] for s in scope] == ["guest-download-fixed"]
    covers, not_covered = " ".join(scope[0]["covers"]), " ".join(scope[0]["not_covered"])
    for path in ("/home/user/.claude", "/home/user/.claude/skills/pdf", "/home/user/.claude/skills/xlsx"):
        assert path in covers
    assert "Workers: 4" in covers and "none injected" in covers and "264 equivalence classes" in covers
    assert "--mount-sets" in not_covered and "worker counts" in not_covered and "stale files" in not_covered
    md = markdown.render(full_incident_report)
    head = md[: md.index("## Summary")]
    assert "**FIX VERIFIED**" in head and "covers:" in head and "does not cover:" in head
    page = html.render(full_incident_report)
    assert page.index('id="badge"') < page.index('class="scope"') < page.index('id="summary"')


def test_a_proof_with_faults_says_so(full_incident_report):
    from raceproof.scenario import load

    sc = load(str(ROOT / "scenarios" / "chaos-eio.toml"))
    entry = copy.deepcopy(full_incident_report["variants"][1])
    scope = model._proof_scope(entry, sc)
    assert "none injected" not in " ".join(scope["covers"]) and "eio" in " ".join(scope["covers"]).lower()


def test_report_md_stays_under_githubs_limit(full_incident_report):
    md = markdown.render(full_incident_report)
    assert len(md) < GITHUB_LIMIT
    # the conflict pairs are summarised; every pair is still in the JSON
    for i, v in enumerate(full_incident_report["variants"]):
        cov = v["coverage"]
        assert f"`variants[{i}].coverage.pairs`, {cov['pairs_total']} pairs" in md
        assert len(cov["pairs"]) == cov["pairs_total"] > 200
    assert "| site A | site B |" not in md


def test_an_oversized_report_is_shortened_not_refused(full_incident_report):
    big = copy.deepcopy(full_incident_report)
    cex = big["variants"][0]["counterexample"]
    step = cex["steps"][-1]
    cex["steps"] += [dict(step, n=len(cex["steps"]) + i, path=step["path"] + "/x" * 20) for i in range(1500)]
    full = markdown._render(big, full=True)
    assert len(full) > GITHUB_LIMIT, "the test input must be too big for GitHub"
    md = markdown.render(big)
    assert len(md) <= markdown.MAX_CHARS < GITHUB_LIMIT
    assert f"The full timeline of the counterexample ({len(cex['steps'])} steps) is in report.html" in md
    assert md.count("```") % 2 == 0, "no code fence left open"
    # even text that cannot be shortened by dropping timelines is cut cleanly
    big["summary"]["text"] = "x " * 40_000
    md = markdown.render(big)
    assert len(md) <= markdown.MAX_CHARS and "Report cut here" in md and md.count("```") % 2 == 0


def test_mermaid_colours_read_in_the_dark_theme(full_incident_report):
    md = markdown.render(full_incident_report)
    fills = re.findall(r"^\s*rect (.*)$", md, re.M)
    assert fills
    for fill in fills:
        m = re.fullmatch(r"rgba\((\d+), (\d+), (\d+), ([\d.]+)\)", fill)
        assert m, f"{fill}: an opaque fill hides the dark theme's light text"
        assert float(m.group(4)) <= 0.3, "a translucent tint keeps GitHub's text readable on light and dark"


def _luminance(rgb: tuple[float, float, float]) -> float:
    def ch(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (ch(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _fill_over(fill: str, page: tuple[int, int, int]) -> tuple[float, float, float]:
    m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", fill)
    assert m, fill
    alpha = float(m.group(4) or 1)
    return tuple(alpha * int(m.group(i + 1)) + (1 - alpha) * page[i] for i in range(3))  # type: ignore[return-value]


def test_the_race_window_keeps_mermaids_text_readable_in_both_github_themes():
    """WCAG contrast of Mermaid's message text over the window's fill, on GitHub's page backgrounds.

    Mermaid's default theme writes messages in #333 (GitHub light page #ffffff), its dark theme in
    lightgrey (#d3d3d3; GitHub dark page #0d1117). The old opaque rgb(255, 228, 228) fell to 1.2:1
    in the dark theme."""
    themes = {"light": ((0x33, 0x33, 0x33), (0xFF, 0xFF, 0xFF)), "dark": ((0xD3, 0xD3, 0xD3), (0x0D, 0x11, 0x17))}
    for name, (text, page) in themes.items():
        assert _contrast(text, _fill_over(markdown.WINDOW_FILL, page)) >= 4.5, name
    assert _contrast(themes["dark"][0], _fill_over("rgb(255, 228, 228)", themes["dark"][1])) < 4.5


def test_a_report_json_without_the_story_fields_still_renders(incident_report):
    """report.json files written before these fields existed (same schema_version) re-render."""
    from raceproof.reports import junit

    old = copy.deepcopy(incident_report)
    del old["summary"]["proof_scope"]
    for v in old["variants"]:
        v.pop("on_buggy_schedules", None)
        if v.get("pinned"):
            v["pinned"].pop("timeline", None)
    model.validate(old)
    md, page, xml = markdown.render(old), html.render(old), junit.render(old)
    assert "covers:" not in md and 'class="scope"' not in page and "on_buggy_schedules" not in xml
    assert "On the schedules that break" not in md and "On the schedules that break" not in page
