"""A report read back is a dict that a notebook shows as its HTML report and that plots itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from entk_probe import Report, read_json
from entk_probe.output.notebook import notebook_html, report_plot

from ..helpers import REPO

RESULTS = REPO / "docs" / "experiments" / "results"


def test_read_json_returns_a_report_that_is_still_the_dict() -> None:
    path = RESULTS / "ts_onecycle.json"
    report = read_json(path)
    plain = json.loads(path.read_text())
    assert isinstance(report, Report) and isinstance(report, dict) and report == plain
    assert json.loads(json.dumps(report)) == plain and report["phases"]["verdict"] == "two-phase-cone"
    assert isinstance(read_json(RESULTS / "r20_switch.json"), Report)


def test_a_report_displays_as_html_with_plotly_once() -> None:
    pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
    report = read_json(RESULTS / "ts_onecycle.json")
    html = report._repr_html_()
    assert html.startswith('<div class="entk-probe">') and "<html" not in html and "<body" not in html
    assert html.count("window.Plotly = Plotly") == 1 and html.count("Plotly.newPlot") == 3
    assert '<span class="verdict">two-phase-cone</span>' in html
    switch = read_json(RESULTS / "r20_switch.json")._repr_html_()
    assert "gap: standard minus linearised accuracy" in switch and switch.count("Plotly.newPlot") == 1


def test_without_plotly_the_html_is_the_tables_and_how_to_get_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly now raises ImportError
    report = read_json(RESULTS / "r20cos.json")
    html = report._repr_html_()
    assert isinstance(html, str) and "<script" not in html and "<table>" in html and "no-cone" in html
    assert "pip install &#x27;entk-probe[html]&#x27;" in html
    assert "<table>" in notebook_html(read_json(RESULTS / "r20_switch.json"))


def test_plot_returns_the_figure_and_writes_it_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    import matplotlib.pyplot as plt

    report = read_json(RESULTS / "r20cos.json")  # schema 1.0: no kernel regression in it
    before = plt.get_fignums()
    fig = report.plot()
    assert len(fig.axes) >= 6 and fig.get_size_inches().tolist() == [16, 8]
    assert plt.get_fignums() == before  # outside pyplot: nothing to close, no backend switched
    report.plot(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    switch = report_plot(read_json(RESULTS / "r20_switch.json"), tmp_path / "s.png")
    assert len(switch.axes) == 1 and (tmp_path / "s.png").is_file()


def test_a_compare_report_displays_and_plots_itself(tmp_path: Path) -> None:
    pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    report = read_json(RESULTS / "compare_lr.json")
    html = report._repr_html_()
    assert all(row["label"] in html for row in report["runs"]) and html.count("Plotly.newPlot") == 4
    fig = report.plot(tmp_path / "c.png")
    assert len(fig.axes) == 4 and len(fig.axes[0].get_lines()) == len(report["runs"])


def test_two_cells_showing_one_report_draw_into_their_own_figures() -> None:
    import re

    pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
    report = read_json(RESULTS / "ts_onecycle.json")
    first, second = (set(re.findall(r'id="(entk-[0-9a-f-]+)"', report._repr_html_())) for _ in range(2))
    assert len(first) == 3 and not first & second
