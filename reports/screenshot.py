"""Screenshot a report.html with headless Chromium (offline), and check the swimlane is visible.

    python -m raceproof.reports.screenshot out/report.html out/report.png [--width 1500] [--height 2400]

Chromium runs with networking disabled (every host resolves to nothing), so the screenshot also
shows that the file is self-contained. Afterwards the PNG is decoded (standard library only) and
the pixels of the failing step's highlight colour are counted: 0 means the swimlane did not render.
Exit codes: 0 ok, 1 the highlight is not visible, 2 no Chromium or bad arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: the failing step's fill (light theme, see templates/report.html.j2 --bad)
FAILING_FILL = (0xFF, 0xD7, 0xD5)


def find_chromium() -> str | None:
    env = os.environ.get("RACEPROOF_CHROMIUM")
    if env:
        return env if shutil.which(env) or os.path.isfile(env) else None
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_args(browser: str, profile: str) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--force-color-profile=srgb",
        "--force-prefers-reduced-motion",
        "--blink-settings=preferredColorScheme=1",
    ]


def screenshot(
    html: Path, png: Path, width: int = 1500, height: int = 2400, browser: str | None = None, scale: float = 1.0
) -> None:
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found (looked for " + ", ".join(BROWSERS) + "; set RACEPROOF_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="raceproof-chromium-") as profile:
        cmd = [
            *chromium_args(browser, profile),
            f"--window-size={width},{height}",
            f"--force-device-scale-factor={scale:g}",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def dump_dom(html: Path, browser: str | None = None, width: int | None = None, height: int = 900) -> str:
    """The DOM after Chromium loaded the file (offline), in a window `width` px wide if given."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found")
    size = [f"--window-size={width},{height}"] if width else []
    with tempfile.TemporaryDirectory(prefix="raceproof-chromium-") as profile:
        cmd = [*chromium_args(browser, profile), *size, "--dump-dom", html.resolve().as_uri()]
        out = subprocess.run(cmd, check=True, capture_output=True, timeout=120, text=True)
    return out.stdout


def print_to_pdf(html: Path, pdf: Path, browser: str | None = None) -> None:
    """Print the file to PDF as a user would (print stylesheet, the page size it asks for, no header/footer)."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found")
    with tempfile.TemporaryDirectory(prefix="raceproof-chromium-") as profile:
        cmd = [
            *chromium_args(browser, profile),
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf.resolve()}",
            html.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def decode_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def count_color(path: Path, rgb: tuple[int, int, int], tolerance: int = 6) -> int:
    width, _, rows = decode_png(path)
    channels = len(rows[0]) // width if rows else 3
    n = 0
    for row in rows:
        for x in range(0, len(row), channels):
            if all(abs(row[x + k] - rgb[k]) <= tolerance for k in range(3)):
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m raceproof.reports.screenshot", description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1500)
    ap.add_argument("--height", type=int, default=2400)
    ap.add_argument("--scale", type=float, default=1.0, help="device scale factor (0.5: half-size PNG)")
    args = ap.parse_args(argv)
    if not args.html.is_file():
        print(f"screenshot: error: {args.html}: no such file", file=sys.stderr)
        return 2
    try:
        screenshot(args.html, args.png, args.width, args.height, scale=args.scale)
    except FileNotFoundError as exc:
        print(f"screenshot: error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"screenshot: error: chromium exited {exc.returncode}", file=sys.stderr)
        return 2
    n = count_color(args.png, FAILING_FILL)
    print(f"wrote {args.png} ({args.width}x{args.height}); failing-step highlight pixels: {n}")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
