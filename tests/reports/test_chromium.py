"""report.html opened offline in headless Chromium: on screens 1280, 1600 and 1920 px wide, and printed.

Install Chromium with ``apt-get install -y chromium`` (Debian) or point ``RACEPROOF_CHROMIUM`` at a
binary; the print test also needs ``pdfinfo``/``pdftotext`` (``apt-get install -y poppler-utils``).
Without them these tests skip, unless ``RACEPROOF_REQUIRE_CHROMIUM=1`` (``.ci/run`` sets it), which
turns a missing browser into a failure: CI never skips them silently.

Chromium runs with every host resolving to nothing, so a page that needed the network would not
render. The geometry is measured by the browser itself: a copy of the report gets a small script
(the report's own Content-Security-Policy forbids scripts, so only the copy's policy allows inline
ones) that writes the measured sizes into the DOM, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from raceproof.reports import html, screenshot

BROWSER = screenshot.find_chromium()
REQUIRED = os.environ.get("RACEPROOF_REQUIRE_CHROMIUM", "") not in ("", "0")
POPPLER = bool(shutil.which("pdfinfo") and shutil.which("pdftotext"))


def _require(ok: bool, what: str) -> None:
    """Skip without the tool, or fail when CI requires it."""
    if ok:
        return
    msg = f"{what} not found: apt-get install -y chromium poppler-utils, or set RACEPROOF_CHROMIUM"
    if REQUIRED:
        pytest.fail(msg + " (RACEPROOF_REQUIRE_CHROMIUM=1: this must not skip)")
    pytest.skip(msg)


PROBE = r"""
<script>
(function () {
  function box(r) { return [r.x, r.y, r.width, r.height]; }
  function inside(a, b) {   // a inside b (SVG user units), half a unit of slack
    return a.x >= b.x - 0.5 && a.y >= b.y - 0.5 && a.x + a.width <= b.x + b.width + 0.5 &&
           a.y + a.height <= b.y + b.height + 0.5;
  }
  var out = {innerWidth: window.innerWidth, innerHeight: window.innerHeight,
             scrollWidth: document.documentElement.scrollWidth};
  out.frames = Array.from(document.querySelectorAll('.lane-frame')).map(function (f) {
    return {client: f.clientWidth, scroll: f.scrollWidth};
  });
  out.svgs = Array.from(document.querySelectorAll('svg.swimlane')).map(function (s) {
    var r = s.getBoundingClientRect(), vb = s.viewBox.baseVal;
    var heads = Array.from(s.querySelectorAll('text.lane-head')).map(function (t) {
      var text = Array.from(t.querySelectorAll('tspan')).map(function (x) { return x.textContent; }).join('');
      return {text: text, x: t.getBBox().x, w: t.getBBox().width};
    });
    var outside = Array.from(s.querySelectorAll('text')).filter(function (t) {
      var b = t.getBBox(); return b.x < -0.5 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5;
    }).map(function (t) { return t.textContent; });
    return {width: r.width, height: r.height, vbw: vb.width, vbh: vb.height, heads: heads, outside: outside};
  });
  out.steps = Array.from(document.querySelectorAll('svg.swimlane g.step')).map(function (g) {
    var rect = g.querySelector('rect'), label = g.querySelector('text.label');
    var rb = rect.getBBox(), tb = label.getBBox();
    return {id: g.id, text: label.textContent, fits: inside(tb, rb), box: box(rb), text_box: box(tb)};
  });
  out.fs = Array.from(document.querySelectorAll('svg.swimlane rect.snap')).length;
  var pre = document.createElement('pre');
  pre.id = 'raceproof-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _probe_copy(page: str, path: Path) -> Path:
    """The page with the measuring script, under a policy that allows only inline script (no network)."""
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp, "the report declares a Content-Security-Policy"
    page = page.replace(csp.group(1), csp.group(1) + "; script-src 'unsafe-inline'")
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return path


def _measure(path: Path, width: int) -> dict:
    dom = screenshot.dump_dom(path, width=width, height=900)
    m = re.search(r'<pre id="raceproof-probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run"
    return json.loads(htmllib.unescape(m.group(1)))


def _expected_labels(drawn: dict) -> dict[int, str]:
    """Each step's full box label (paths relative to the tree scope), without whitespace."""
    out = {}
    for s in drawn["steps"]:
        detail = ", " + s["detail"] if s["detail"] else ""
        label = f"{s['op']}({html._rel(s['path'], drawn['tree_scope'])}{detail}) = {s['result']}"
        out[s["n"]] = "".join(label.split())
    return out


@pytest.fixture(scope="module")
def incident_page(tmp_path_factory, full_incident_report_raw) -> tuple[Path, dict]:
    """The real incident's report.html (4 lanes: the page that was cut at 1280 px), with the probe."""
    d = tmp_path_factory.mktemp("chromium")
    page = html.render(full_incident_report_raw)
    (d / "report.html").write_text(page, encoding="utf-8")
    return _probe_copy(page, d / "probe.html"), full_incident_report_raw


@pytest.mark.parametrize("width", [1280, 1600, 1920])
def test_the_report_fits_the_screen_and_shows_every_result(incident_page, width):
    _require(BROWSER is not None, "headless Chromium")
    path, report = incident_page
    got = _measure(path, width)
    assert got["innerWidth"] == width, "Chromium did not use the requested window width"
    # no horizontal scrolling: not the page, not any swimlane frame
    assert got["scrollWidth"] <= width, f"the page is {got['scrollWidth']} px wide in a {width} px window"
    assert got["frames"] and all(f["scroll"] <= f["client"] + 1 for f in got["frames"]), got["frames"]
    buggy = report["variants"][0]
    drawings = {"pin-1": buggy["pinned"]["timeline"], "step-1": buggy["counterexample"]}
    want = {f"{p}-{n}": text for p, d in drawings.items() for n, text in _expected_labels(d).items()}
    steps = {s["id"]: s for s in got["steps"]}
    assert set(steps) == set(want), "one box per step of the incident and of the counterexample"
    for sid, text in want.items():
        assert "".join(steps[sid]["text"].split()) == text, f"{sid}: label cut or changed"
        assert steps[sid]["fits"], f"{sid}: label {steps[sid]['text_box']} overflows its box {steps[sid]['box']}"
    lanes = [ln["name"] for ln in buggy["counterexample"]["lanes"]]
    for svg in got["svgs"]:
        # every chunk repeats the lane headers, each within its lane, and is at most a screen high
        assert [h["text"] for h in svg["heads"]] == [*lanes, "filesystem after the step"]
        for h in svg["heads"][:-1]:
            assert h["w"] <= html.LANE_W, f"lane header {h['text']!r} is wider than its lane"
        assert not svg["outside"], f"text outside the drawing: {svg['outside'][:3]}"
        assert svg["height"] <= got["innerHeight"], "a chunk taller than the window hides its lane headers"
        scale = svg["width"] / svg["vbw"]
        assert html.MIN_SCALE - 0.01 <= scale <= 1.0 + 1e-6, f"swimlane drawn at {scale:.2f}x"


def test_the_report_prints_without_empty_or_cut_pages(incident_page, tmp_path):
    _require(BROWSER is not None, "headless Chromium")
    _require(POPPLER, "pdfinfo/pdftotext (poppler-utils)")
    path, report = incident_page
    page = (path.parent / "report.html")
    pdf = tmp_path / "report.pdf"
    screenshot.print_to_pdf(page, pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    w, h = (float(x) for x in re.search(r"^Page size:\s+([\d.]+) x ([\d.]+)", info, re.M).groups())
    assert w > h, "the print stylesheet asks for landscape pages (a swimlane is wide)"
    assert pages >= 2
    # every page has content (an empty box or a blank page has no words)
    for i in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert len(text.split()) >= 20, f"page {i} of {pages} is (nearly) empty"
    # nothing is cut at the page edge: every word lies inside its page
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', bbox)
    assert len(words) > 500
    cut = [wd for wd in words if float(wd[2]) > w + 0.5 or float(wd[3]) > h + 0.5]
    assert not cut, f"words beyond the page edge: {cut[:5]}"
    # every chunk of every swimlane is printed whole: its header row appears once per chunk
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    chunks = page.read_text(encoding="utf-8").count('class="lane-head fs-head"')
    assert text.count("filesystem after the step") == chunks
    # and the failing calls' results are in the printed text
    buggy = report["variants"][0]
    for drawn in (buggy["pinned"]["timeline"], buggy["counterexample"]):
        assert drawn["steps"][drawn["failing_step"]]["result"] in text


def test_chromium_renders_the_swimlane_offline(tmp_path, incident_report):
    _require(BROWSER is not None, "headless Chromium")
    page = tmp_path / "report.html"
    page.write_text(html.render(incident_report), encoding="utf-8")
    dom = screenshot.dump_dom(page)
    lanes = incident_report["variants"][0]["counterexample"]["lanes"]
    chunks = len(re.findall(r'<svg class="swimlane"', dom))
    assert chunks >= 1
    assert len(re.findall(r'<text class="lane-head', dom)) == (len(lanes) + 1) * chunks
    assert 'data-marks="window failing' in dom
    assert 'id="badge">FIX VERIFIED<' in dom


@pytest.mark.slow
def test_screenshot_shows_the_highlighted_failing_step(tmp_path, incident_report):
    _require(BROWSER is not None, "headless Chromium")
    page = tmp_path / "report.html"
    page.write_text(html.render(incident_report), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot.screenshot(page, png, 1500, 2400, scale=0.5)  # tall enough for the 24-step counterexample
    width, height, _ = screenshot.decode_png(png)
    assert (width, height) == (750, 1200)
    assert screenshot.count_color(png, screenshot.FAILING_FILL) > 50, "the failing step's box is not visible"


def test_screenshot_script_without_chromium_is_a_clear_error(tmp_path, monkeypatch, capsys, incident_report):
    page = tmp_path / "report.html"
    page.write_text(html.render(incident_report), encoding="utf-8")
    monkeypatch.setenv("RACEPROOF_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert screenshot.main([str(page), str(tmp_path / "x.png")]) == 2
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
