"""The HTML pieces: a page carries plotly.js once, tables escape and scroll, writes are atomic, and a
missing plotly is a one-line error saying how to install it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from entk_probe.errors import EntkProbeError
from entk_probe.output import htmlblocks
from entk_probe.output.htmlblocks import check_html, esc, facts_html, figure_html, fragment, page, paragraphs
from entk_probe.output.htmlblocks import section, table_html, warnings_html, write_html

from entk_probe.output.writes import write_all

from ..helpers import REPO

go = pytest.importorskip("plotly.graph_objects", reason="the html extra (plotly) is not installed")
LIBRARY = "window.Plotly = Plotly"  # a line of the bundled plotly.js


def test_a_page_has_plotly_js_once_a_viewport_and_its_parts_in_order() -> None:
    figure = figure_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])))
    text = page("run <1> & co", ["<p>first</p>", figure, figure, "<p>last</p>"])
    assert text.startswith("<!DOCTYPE html>") and text.count(LIBRARY) == 1
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "<title>run &lt;1&gt; &amp; co</title>" in text
    assert text.index("<p>first</p>") < text.index("<p>last</p>") and text.count("Plotly.newPlot") == 2


def test_a_figure_is_a_responsive_div_without_the_library() -> None:
    div = figure_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])), height=300)
    assert LIBRARY not in div and "<script src" not in div and len(div) < 20_000
    assert '"responsive": true' in div and "height:300px" in div and 'class="figure"' in div


def test_a_table_escapes_every_cell_and_scrolls_in_its_own_box() -> None:
    text = table_html(["name", "<b>"], [["<script>alert(1)</script>", 1.5], ["ok", None]], ["phase-II", ""])
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<th>&lt;b&gt;</th>" in text
    assert text.startswith('<div class="scroll"><table>') and '<tr class="phase-II">' in text and "<td>None</td>" in text


def test_warnings_notes_paragraphs_facts_and_sections_are_escaped() -> None:
    assert warnings_html([]) == ""
    text = warnings_html([{"code": "c<1>", "message": "m & n", "checkpoint": "x\"y"}], ["note <i>"])
    assert "c&lt;1&gt;" in text and "m &amp; n" in text and "x&quot;y" in text and "note &lt;i&gt;" in text
    assert paragraphs(["a<", "", "b"], "note") == '<p class="note">a&lt;</p>\n<p class="note">b</p>'
    assert facts_html(["<x>"]) == '<ul class="facts"><li>&lt;x&gt;</li></ul>'
    assert section("T<", "<p>x</p>", "").startswith("<section>\n<h2>T&lt;</h2>") and esc("'") == "&#x27;"


def test_a_fragment_scopes_its_style_and_carries_the_library_only_with_plots() -> None:
    with_plots, without = fragment(["<p>x</p>"]), fragment(["<p>x</p>"], plots=False)
    assert with_plots.startswith('<div class="entk-probe">') and with_plots.count(LIBRARY) == 1
    assert "<script" not in without and "<p>x</p>" in without
    rules = [line for line in htmlblocks.CSS.splitlines() if "{" in line]
    assert all(line.startswith((".entk-probe", "body.entk-probe")) for line in rules), "CSS leaks out of .entk-probe"


def test_write_html_is_atomic_and_names_the_path_when_it_fails(tmp_path: Path) -> None:
    path = write_html("<p>é</p>", tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == "<p>é</p>" and [p.name for p in path.parent.iterdir()] == ["report.html"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        write_html("x", blocker / "r.html")
    assert write_all([("HTML report", blocker / "r.html", lambda: write_html("x", blocker / "r.html"))]) == [
        f"could not write the HTML report {blocker / 'r.html'} ({blocker} is a file, not a folder)"]


def test_without_plotly_check_html_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly now raises ImportError
    with pytest.raises(EntkProbeError) as error:  # a UsageError, as --plot without matplotlib
        check_html()
    assert str(error.value) == "the HTML report needs plotly: pip install 'entk-probe[html]'"


def test_the_same_report_gives_the_same_page() -> None:
    from entk_probe.output.html import report_html
    from entk_probe.output.jsonreport import read_json

    report = read_json(REPO / "docs" / "experiments" / "results" / "ts_onecycle.json")
    assert report_html(report) == report_html(report)  # no random plotly div ids
