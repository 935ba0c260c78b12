"""Screenshot an HTML report in headless Chromium, as README's pictures were made.

    python scripts/screenshot.py report.html docs/images/html_report.png [--width 1280] [--height 1400]

Needs Debian's /usr/bin/chromium and the playwright package (dev extra); it waits for every
plotly figure to be drawn, then takes the top ``--height`` pixels of the page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.html.resolve().as_uri())
        page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                               ".every(p => p.querySelector('.main-svg'))")
        page.screenshot(path=str(args.png), clip={"x": 0, "y": 0, "width": args.width, "height": args.height})
        browser.close()
    print("wrote", args.png)


if __name__ == "__main__":
    main()
