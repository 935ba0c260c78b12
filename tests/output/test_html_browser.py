"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright): the pages
open from file:// without an error and without a request anywhere else, show the verdict and every
checkpoint, draw their figures, show a checkpoint on hover, look like something, and fit a phone.

Skipped, saying why, where /usr/bin/chromium or the playwright package is missing (.ci/run installs
Debian's chromium; playwright is in the dev extra). Nothing here downloads a browser.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entk_probe.output.comparehtml import compare_html
from entk_probe.output.comparison import compare_to_json
from entk_probe.output.html import report_html, switch_html, write_html
from entk_probe.output.jsonreport import read_json, to_json
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.compare import gather

from ..helpers import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RESULTS = REPO / "docs" / "experiments" / "results"
PHONE = 390  # CSS pixels: a phone held upright
DRAWN = """n => { const plots = document.querySelectorAll('.js-plotly-plot');
  return plots.length === n && Array.from(plots).every(p => p.querySelector('.main-svg')
    && p.querySelector('.scatterlayer .trace path, .heatmaplayer .hm image')); }"""

pytestmark = pytest.mark.browser
pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (dev extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, small_analysis: object) -> dict[str, tuple[Path, dict]]:
    """name: (the page written to a file, its report), for a real analysis, saved reports of schema 1.0 and 1.4, a switch report."""
    folder = tmp_path_factory.mktemp("html")
    reports = {"small": to_json(small_analysis), "r20cos": read_json(RESULTS / "r20cos.json"),  # type: ignore[arg-type]
               "ts_onecycle": read_json(RESULTS / "ts_onecycle.json"), "switch": read_json(RESULTS / "r20_switch.json")}
    out = {name: (write_html(switch_html(r) if name == "switch" else report_html(r), folder / f"{name}.html"), r)
           for name, r in reports.items()}
    runs = gather([RESULTS / f"{name}.json" for name in ("r20", "r20lr01", "ts_onecycle")], None, AnalyzeOptions())
    compared = compare_to_json(runs)
    out["compare"] = (write_html(compare_html(compared), folder / "compare.html"), compared)
    return out


class Opened:
    """A page opened from a file, with what went wrong on the way: console errors, page errors, requests elsewhere."""

    def __init__(self, browser: Any, path: Path, width: int = 1280, figures: int = 3) -> None:
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page: {e}"))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri())
        self.page.wait_for_function(DRAWN, arg=figures, timeout=20_000)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def text(self) -> str:
        return self.page.inner_text("body")

    def hover(self, point: Any) -> None:
        """The mouse over ``point``'s centre, scrolled into view first."""
        point.scroll_into_view_if_needed()
        box = point.bounding_box()  # in the viewport's coordinates, where the mouse is
        assert box is not None
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("name", ["small", "r20cos", "ts_onecycle"])
def test_an_analysis_page_opens_clean_and_draws_every_figure(browser: Any, pages: dict, name: str) -> None:
    path, report = pages[name]
    opened = Opened(browser, path)
    text = opened.text()
    assert opened.errors == [] and opened.elsewhere == []
    assert f"Verdict: {report['phases']['verdict']}" in text
    assert all(c["name"] in text for c in report["checkpoints"])
    assert opened.page.locator(".js-plotly-plot").count() == 3
    if report["phases"]["boundary"] is not None:
        assert "Phase II" in opened.page.locator(".js-plotly-plot").first.inner_text()
    opened.page.close()


def test_the_switch_page_opens_clean_and_draws_its_figure(browser: Any, pages: dict) -> None:
    path, report = pages["switch"]
    opened = Opened(browser, path, figures=1)
    text = opened.text()
    assert opened.errors == [] and opened.elsewhere == []
    assert all(r["checkpoint"].split(".")[0] in text for r in report["switch"]["results"])
    assert "end of Phase I" in opened.page.locator(".js-plotly-plot").first.inner_text()
    opened.page.close()


def test_the_compare_page_opens_clean_and_draws_every_runs_curves(browser: Any, pages: dict) -> None:
    from playwright.sync_api import expect

    path, report = pages["compare"]
    opened = Opened(browser, path, figures=4)
    text = opened.text()
    assert opened.errors == [] and opened.elsewhere == []
    assert all(row["label"] in text and (row["verdict"] or "") in text for row in report["runs"])
    assert "+0.007" in text  # r20's switch gap, from r20_switch.json beside it
    first = opened.page.locator(".js-plotly-plot").first
    assert first.locator(".scatterlayer .trace").count() == len(report["runs"])
    opened.hover(first.locator(".scatterlayer .trace").nth(2).locator("path.point").nth(5))
    row = report["runs"][2]
    expect(opened.page.locator(".hoverlayer .hovertext").first).to_contain_text(row["curves"]["checkpoints"][5])
    opened.page.close()


def test_hovering_a_point_shows_its_checkpoint(browser: Any, pages: dict) -> None:
    from playwright.sync_api import expect

    path, report = pages["ts_onecycle"]
    opened = Opened(browser, path)
    opened.hover(opened.page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace").first
                 .locator("path.point").nth(20))
    expect(opened.page.locator(".hoverlayer .hovertext").first).to_contain_text(report["checkpoints"][20]["name"])
    opened.page.close()


def test_a_screenshot_is_a_picture_not_a_blank(browser: Any, pages: dict) -> None:
    from PIL import Image

    opened = Opened(browser, pages["ts_onecycle"][0])
    with Image.open(io.BytesIO(opened.page.screenshot(full_page=True))) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
        share_white = max(count for count, _ in colours) / (rgb.width * rgb.height)
    assert len(colours) > 1000 and share_white < 0.95, (len(colours), share_white)
    opened.page.close()


@pytest.mark.parametrize("name", ["ts_onecycle", "switch", "compare"])
def test_a_phone_width_page_has_no_sideways_overflow(browser: Any, pages: dict, name: str) -> None:
    opened = Opened(browser, pages[name][0], width=PHONE, figures={"switch": 1, "compare": 4}.get(name, 3))
    widths = opened.page.evaluate("[document.body.scrollWidth, document.documentElement.scrollWidth]")
    assert max(widths) <= PHONE + 1 and opened.errors == []
    table = opened.page.locator(".scroll").last  # a wide table scrolls in its own box instead
    assert table.evaluate("e => e.scrollWidth >= e.clientWidth")
    opened.page.close()


def test_the_notebook_html_draws_under_an_amd_loader(browser: Any, pages: dict, tmp_path: Path) -> None:
    """Jupyter's classic notebook has require.js: plotly.js must still land in window.Plotly."""
    report = read_json(RESULTS / "ts_onecycle.json")
    loader = "<script>window.define = function () { throw new Error('AMD define used'); }; window.define.amd = {};</script>"
    path = write_html(f"<!DOCTYPE html><html><body>{loader}{report._repr_html_()}</body></html>", tmp_path / "cell.html")
    opened = Opened(browser, path)
    assert opened.errors == [] and opened.elsewhere == []
    assert opened.page.evaluate("typeof window.define === 'function' && typeof window.Plotly === 'object'")
    opened.page.close()
