"""The compare curves as a matplotlib figure: every run on each panel, the relative panels shifted by the boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from entk_probe.output.comparison import Compared, compare_to_json

from .test_comparison import report

pytest.importorskip("matplotlib")


def test_each_panel_overlays_every_run_and_the_relative_axis_starts_at_the_boundary(tmp_path: Path) -> None:
    from entk_probe.output.compareplots import compare_figure, plot_compare

    rep = compare_to_json([Compared("a", "a", report([0, 1, 2, 3], [0, 30, 40, 42], boundary=1)),
                           Compared("b", "b", report([0, 2, 4, 6], [0, 50, 60, 61], boundary=2)),
                           Compared("c", "c", report([0, 1, 2, 3], [0, 5, 6, 7], boundary=None))])
    fig = compare_figure(rep)
    absolute, relative = fig.axes[0], fig.axes[1]
    assert len(absolute.get_lines()) == 3 and len(relative.get_lines()) == 2 + 1  # c has no boundary; + the 0 line
    np.testing.assert_array_equal(relative.get_lines()[1].get_xdata(), [-4, -2, 0, 2])  # b: times minus 4
    np.testing.assert_array_equal(absolute.get_lines()[0].get_ydata(), [0, 30, 40, 42])
    assert fig.axes[2].get_yscale() == "log"
    plot_compare(rep, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
