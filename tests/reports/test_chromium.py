"""report.html opened offline in headless Chromium (skipped when no Chromium is installed).

Install one with ``apt-get install -y chromium`` (Debian) or point ``RACEPROOF_CHROMIUM`` at a
binary. Chromium runs with every host resolving to nothing, so a page that needed the network
would not render its swimlane.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raceproof.reports import html, screenshot

BROWSER = screenshot.find_chromium()
needs_chromium = pytest.mark.skipif(
    BROWSER is None, reason="headless Chromium not found (apt-get install -y chromium, or set RACEPROOF_CHROMIUM)"
)


@pytest.fixture
def report_html(tmp_path: Path, incident_report: dict) -> Path:
    path = tmp_path / "report.html"
    path.write_text(html.render(incident_report), encoding="utf-8")
    return path


@needs_chromium
def test_chromium_renders_the_swimlane_offline(report_html, incident_report):
    dom = screenshot.dump_dom(report_html)
    lanes = incident_report["variants"][0]["counterexample"]["lanes"]
    assert '<svg class="swimlane"' in dom
    assert len(re.findall(r'<text class="lane-head"', dom)) == len(lanes) + 1  # + the filesystem column
    assert 'data-marks="window failing' in dom
    assert 'id="badge">FIX VERIFIED<' in dom


@needs_chromium
@pytest.mark.slow
def test_screenshot_shows_the_highlighted_failing_step(report_html, tmp_path):
    png = tmp_path / "report.png"
    screenshot.screenshot(report_html, png, 1500, 2400, scale=0.5)  # tall enough for the 24-step counterexample
    width, height, _ = screenshot.decode_png(png)
    assert (width, height) == (750, 1200)
    assert screenshot.count_color(png, screenshot.FAILING_FILL) > 50, "the failing step's box is not visible"


def test_screenshot_script_without_chromium_is_a_clear_error(tmp_path, monkeypatch, capsys, report_html):
    monkeypatch.setenv("RACEPROOF_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert screenshot.main([str(report_html), str(tmp_path / "x.png")]) == 2
    assert "no Chromium found" in capsys.readouterr().err


def test_png_decoder_reads_what_it_is_given(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # 2x2 RGB: row 0 unfiltered, row 1 with the Up filter (adds the row above)
    raw = b"\x00" + bytes([255, 215, 213, 0, 0, 0]) + b"\x02" + bytes([0, 0, 0, 1, 2, 3])
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    png = tmp_path / "t.png"
    png.write_bytes(data)
    w, h, rows = screenshot.decode_png(png)
    assert (w, h) == (2, 2) and rows[1] == bytes([255, 215, 213, 1, 2, 3])
    assert screenshot.count_color(png, screenshot.FAILING_FILL) == 2
