"""The compare report's curves as a PNG: every run's angle from its first kernel and its velocity,
against time and against time relative to its own boundary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .comparison import run_tag
from .plots import new_figure, save_png

# (curve key, axis label, log scale)
PANELS: tuple[tuple[str, str, bool], ...] = (
    ("angle_from_first_deg", "angle from the first kernel (°)", False),
    ("velocity_deg", "angular velocity (° per {unit})", True),
)


def _values(row: Mapping[str, Any], key: str, relative: bool) -> tuple[np.ndarray, np.ndarray] | None:
    curves = row["curves"]
    t = np.array([np.nan if v is None else v for v in curves["time"]], dtype=float)  # (C,)
    y = np.array([np.nan if v is None else v for v in curves[key]], dtype=float)  # (C,)
    if relative:
        boundary = row["boundary"]
        if boundary is None or boundary.get("time") is None:
            return None  # no boundary: no place on a relative axis
        t = t - boundary["time"]
    keep = np.isfinite(t) & np.isfinite(y) & ((y > 0) if key == "velocity_deg" else True)
    return t[keep], y[keep]


def time_unit(report: Mapping[str, Any]) -> str:
    """The runs' time unit, or "time" where they differ."""
    units = {row["time_unit"] for row in report["runs"]}
    return str(units.pop()) if len(units) == 1 else "time"


def compare_figure(report: Mapping[str, Any]) -> Any:
    """A matplotlib Figure: rows the curves of ``PANELS``, columns time and time since each run's boundary; a
    colour a run (tab10, tab20 past ten runs), one legend under the panels."""
    import matplotlib

    fig = new_figure(figsize=(11, 7.5), constrained_layout=True)
    axes = fig.subplots(len(PANELS), 2, squeeze=False)
    unit = time_unit(report)
    runs = report["runs"]
    palette = matplotlib.colormaps["tab10" if len(runs) <= 10 else "tab20"]
    unplaced = [row["label"] for row in runs if _values(row, PANELS[0][0], True) is None]
    for r, (key, label, log) in enumerate(PANELS):
        for c, relative in enumerate((False, True)):
            ax = axes[r][c]
            for i, row in enumerate(runs):
                points = _values(row, key, relative)
                if points is not None and len(points[0]):
                    ax.plot(points[0], points[1], "o-", markersize=3, linewidth=1.2, color=palette(i % palette.N),
                            label=run_tag(report, row) if r == 0 and c == 0 else None)
            if relative:
                ax.axvline(0.0, color="tab:red", linestyle="--", linewidth=1)
                if unplaced and r == 0:
                    ax.set_title(f"without a boundary: {', '.join(unplaced)}", fontsize=8)
            ax.set_xlabel(f"{unit} since the run's boundary" if relative else unit)
            ax.set_ylabel(label.format(unit=unit))
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(4, max(1, len(runs))), fontsize=7)
    count = len(runs)
    fig.suptitle(f"{count} run{'s' if count != 1 else ''}" + (f" by {report['by']}" if report.get("by") else ""))
    return fig


def plot_compare(report: Mapping[str, Any], path: Path) -> None:
    """Write ``compare_figure`` to ``path`` as a PNG."""
    save_png(compare_figure(report), path)
