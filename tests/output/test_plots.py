"""The PNG of a report: written, a real image, every panel drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.output.jsonreport import to_json
from entk_probe.output.plots import plot_report

from ..helpers import write_run

matplotlib = pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")


def test_plot_is_a_png_with_six_panels(tmp_path: Path) -> None:
    write_run(tmp_path / "run", steps=tuple(range(0, 45, 5)))
    with pytest.warns(Warning):
        report = to_json(analyze(tmp_path / "run", "synthetic:3", AnalyzeOptions(device="cpu")))
    path = tmp_path / "out" / "dynamics.png"
    plot_report(report, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == (1760, 880)  # 16 x 8 inches at 110 dpi
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the panels were not drawn"


def test_heatmap_ticks_are_times_in_the_runs_unit() -> None:
    from entk_probe.output.plots import heatmap_ticks

    report = {"time_unit": "epoch", "checkpoints": [{"time": t} for t in (0.0, 0.0625, 0.125, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0,
                                                                             6.0, 7.0, 8.0)]}
    ticks, labels = heatmap_ticks(report)
    assert ticks[0] == 0 and ticks[-1] == 11 and len(ticks) == 8
    assert labels[0] == "0" and labels[-1] == "8" and labels[1] == f"{report['checkpoints'][ticks[1]]['time']:.3g}"
    assert heatmap_ticks({"time_unit": "index", "checkpoints": [{"time": 0.0}]}) == ([0], ["0"])
