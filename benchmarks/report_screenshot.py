"""Screenshot a benchmark run's report.html in headless Chromium: the docs' picture.

Opens RUN/report.html through file:// in the system's Chromium (Debian's ``chromium``
package, or the binary in $FERENGINE_CHROMIUM), driven by Playwright from the ``dev``
extra — no browser is downloaded. Fails when the page logs a console error or raises,
then writes a PNG of the page from its title to the end of the first leaderboard and
its notes, in a --width pixels wide window (a 128-colour palette: it is text).

Usage: python benchmarks/report_screenshot.py RUN [--out docs/assets/report-html.png]
       [--width 1400] [--full]

The docs' picture (docs/benchmarks.md) is of the built-in quick suite:

    ferengine bench --out bench-results/quick-docs
    python benchmarks/report_screenshot.py bench-results/quick-docs
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright


def chromium() -> str:
    """Return the Chromium binary: $FERENGINE_CHROMIUM, else the first one on PATH."""
    found = os.environ.get("FERENGINE_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if not found:
        sys.exit("no chromium on PATH: apt-get install chromium, or set FERENGINE_CHROMIUM")
    return found


def main() -> None:
    """Open the report, check it loads cleanly, write the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a results folder holding report.html")
    parser.add_argument("--out", type=Path, default=Path("docs/assets/report-html.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--full", action="store_true", help="the whole page, not its top")
    args = parser.parse_args()
    page_path = (args.run / "report.html").resolve()
    if not page_path.is_file():
        sys.exit(f"{page_path}: no such file (run `ferengine bench --out {args.run}` first)")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium())
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.as_uri())
        if errors:
            sys.exit(f"{page_path}: the page logged errors: {errors}")
        if args.full:
            png = page.screenshot(full_page=True)
        else:  # from the top to the end of the first leaderboard's notes
            box = page.locator("table.leaderboard").first.bounding_box()
            notes = page.locator("table.leaderboard >> xpath=../following-sibling::p[1]")
            bottom = box["y"] + box["height"]
            if notes.count():
                end = notes.first.bounding_box()
                bottom = end["y"] + end["height"]
            clip = {"x": 0, "y": 0, "width": args.width, "height": bottom + 16}
            png = page.screenshot(clip=clip, full_page=True)
        version = browser.version
        browser.close()
    # a page of text needs few colours: a 128-colour palette PNG is a third of the size
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.quantize(128, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        args.out, optimize=True
    )
    print(f"wrote {args.out} ({page_path.as_uri()}, chromium {version})")


if __name__ == "__main__":
    main()
