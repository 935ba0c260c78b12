"""An Analysis in a notebook: it displays itself as its HTML report and plot() returns its figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.pipeline import Analysis
from entk_probe.pipeline.display import NotebookDisplay


def test_an_analysis_displays_its_report(small_analysis: Analysis) -> None:
    pytest.importorskip("plotly", reason="the html extra (plotly) is not installed")
    assert isinstance(small_analysis, NotebookDisplay)
    html = small_analysis._repr_html_()
    assert f'<span class="verdict">{small_analysis.summary.phases.verdict}</span>' in html
    assert all(f"<td>{r.checkpoint.name}</td>" in html for r in small_analysis.runs)
    assert html.count("Plotly.newPlot") == 3


def test_an_analysis_plots_itself(small_analysis: Analysis, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    fig = small_analysis.plot()
    assert len(fig.axes) >= 6 and str(small_analysis.run_dir) in fig._suptitle.get_text()
    assert small_analysis.plot(tmp_path / "a.png") is not fig and (tmp_path / "a.png").stat().st_size > 20_000
