"""The HTML report: every fact of the terminal report, self-contained, escaped, for every schema 1.x report.

What a browser makes of the pages (no error, the figures drawn, a phone's width) is in test_html_browser.py.
"""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from entk_probe.analysis.verdicts import verdict as describe
from entk_probe.output.html import report_html, report_parts, switch_html, switch_parts
from entk_probe.output.jsonreport import read_json, schema, to_json

from ..helpers import REPO
from .test_schema import _minimal

pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
RESULTS = REPO / "docs" / "experiments" / "results"
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


class _Loads(HTMLParser):
    """Every address the page would fetch: src, href and the like outside scripts, url() and @import in styles."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style = tag == "style"
        self.addresses += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "action", "data", "poster")]

    def handle_data(self, data: str) -> None:
        if self._style:
            self.addresses += re.findall(r"url\(([^)]*)\)|@import\s+(\S+)", data)  # type: ignore[arg-type]


def external_loads(page: str) -> list[str]:
    parser = _Loads()
    parser.feed(page)
    return [str(a) for a in parser.addresses]


@pytest.fixture(scope="module")
def small(small_analysis: object) -> dict:
    return to_json(small_analysis)  # type: ignore[arg-type]


def test_the_page_of_a_real_analysis_has_the_verdict_and_every_checkpoint(small: dict) -> None:
    page = report_html(small)
    verdict = small["phases"]["verdict"]
    assert f'<span class="verdict">{verdict}</span>' in page and describe(verdict).description in page
    for c in small["checkpoints"]:
        assert f"<td>{c['name']}</td>" in page
    for fact in ("test_resnet", "synthetic:3", "Evidence and thresholds", "min_checkpoints", "batchnorm-buffers",
                 "the JSON has both", "Confidence"):
        assert fact in page
    assert page.count("Plotly.newPlot") == 3 and page.count("window.Plotly = Plotly") == 1


def test_the_page_loads_nothing_from_elsewhere(small: dict) -> None:
    page = report_html(small)
    assert external_loads(page) == [] and "<script src" not in page and "@import" not in page
    assert external_loads('<img src="https://x/y.png"><style>a{background:url(http://x)}</style>') != []


def test_names_from_the_report_are_escaped_everywhere(small: dict) -> None:
    hostile = copy.deepcopy(small)
    hostile["checkpoints"][1]["name"] = HOSTILE
    hostile["warnings"].append({"code": "x", "message": HOSTILE})
    page = report_html(hostile)
    assert HOSTILE not in page and "alert(2)</script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and external_loads(page) == []


@pytest.mark.parametrize("name", sorted(p.stem for p in RESULTS.glob("*.json") if not p.stem.startswith("compare")))
def test_every_saved_report_renders_without_figures(name: str) -> None:
    report = read_json(RESULTS / f"{name}.json")  # schema 1.0 and 1.4 reports, and switch reports
    parts = switch_parts(report, plots=False) if report.get("kind") == "switch" else report_parts(report, plots=False)
    text = "\n".join(parts)
    assert "<script" not in text and "<table>" in text
    names = ({r["checkpoint"].split(".")[0] for r in report["switch"]["results"]} if report.get("kind") == "switch"
             else {c["name"] for c in report["checkpoints"]})
    assert all(n in text for n in names)


@pytest.mark.parametrize("name", ["r20cos", "ts_onecycle"])
def test_old_schemas_render_with_figures(name: str) -> None:
    report = read_json(RESULTS / f"{name}.json")  # 1.0: no confidence, no kernel regression; 1.4: the speed rule
    page = report_html(report)
    assert report["phases"]["verdict"] in page and page.count("Plotly.newPlot") == 3
    assert ("Confidence" in page) is bool(report["phases"].get("confidence"))


@pytest.mark.parametrize("null", [True, False])
def test_a_minimal_valid_report_renders(null: bool) -> None:
    page = report_html(_minimal(schema(), null))
    assert "two-phase-cone" in page and page.count("Plotly.newPlot") == 3


def test_the_switch_page(tmp_path: Path) -> None:
    report = read_json(RESULTS / "r20_switch.json")
    page = switch_html(report)
    assert page.count("Plotly.newPlot") == 1 and "gap: standard minus linearised accuracy" in page
    assert "cifar10:3660,split=train" in page and "<td>step00093</td>" in page and external_loads(page) == []
    assert '<tr class="phase-II">' in page  # switch points after the boundary
