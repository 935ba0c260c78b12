"""The compare report as one self-contained HTML page: the table and every run's curves overlaid,
interactive (hover a point: run, checkpoint, time, value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .compareplots import PANELS, time_unit
from .comparetable import COLUMNS, cells
from .comparison import run_tag
from .htmlblocks import esc, facts_html, figure_html, page, paragraphs, plotly_module, section, table_html
from .htmlfigures import time_axis


def _points(report: Mapping[str, Any], key: str, log: bool, relative: bool) -> list[tuple[str, list[tuple]]]:
    """(legend name, [(time, value, checkpoint)]) a run; relative: times minus the run's boundary, runs without one
    left out."""
    out = []
    for row in report["runs"]:
        curves, boundary = row["curves"], row["boundary"]
        shift = (boundary or {}).get("time") if relative else 0.0
        if shift is None:
            continue
        out.append((run_tag(report, row), [(t - shift, y, name) for t, y, name in
                                           zip(curves["time"], curves[key], curves["checkpoints"])
                                           if t is not None and y is not None and (y > 0 or not log)]))
    return out


def _curves(report: Mapping[str, Any], key: str, label: str, log: bool, relative: bool) -> str:
    go = plotly_module().graph_objects
    unit = time_unit(report)
    label = label.format(unit=unit)
    runs = _points(report, key, log, relative)
    # one time axis for every run: symmetric-log where checkpoints are dense early, as the report's own plots
    x, axis = (np.array([p[0] for _, points in runs for p in points], dtype=float), {}) if relative else \
        time_axis([p[0] for _, points in runs for p in points])
    fig, start = go.Figure(), 0
    for tag, points in runs:
        xs, start = x[start:start + len(points)], start + len(points)
        fig.add_trace(go.Scatter(x=xs.tolist(), y=[p[1] for p in points], mode="lines+markers", name=esc(tag),
                                 text=[f"<b>{esc(tag)}</b><br>{esc(p[2])}<br>time {p[0]:.4g}<br>{esc(label)} {p[1]:.4g}"
                                       for p in points], hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=f"{label}, against {unit}" + (" since each run's boundary" if relative else ""),
                      yaxis_title=label, yaxis_type="log" if log else "linear", height=420,
                      margin={"l": 50, "r": 10, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title=f"{unit} since the boundary" if relative else unit, **axis)
    if relative:
        fig.add_vline(x=0.0, line_dash="dash", line_color="firebrick")
    return figure_html(fig)


def compare_parts(report: Mapping[str, Any], plots: bool = True) -> list[str]:
    """The sections of a compare report's page: its facts, the table and its legend, the curves (``plots``)."""
    by = report.get("by")
    headers = [COLUMNS[0][0]] + ([by] if by else []) + [name for name, _ in COLUMNS[1:]]
    facts = [f"entk-probe {report['tool']['version']} · compare · {len(report['runs'])} runs"
             + (f" by {by}" if by else ""), f"created {report['created']}"]
    facts += [f"{row['label']}: {row['source']}" + (f" (switch: {row['switch_source']})" if row["switch_source"] else "")
              for row in report["runs"]]
    missing = [row["label"] for row in report["runs"] if by and row["by_value"] is None]
    parts = [f"<h1>Runs side by side{esc(f' by {by}') if by else ''}</h1>", facts_html(facts),
             section("Table", table_html(headers, [cells(row, by, rule=True) for row in report["runs"]]),
                     "<div class=\"note\">" + facts_html(f"{name}: {what}" for name, what in COLUMNS[1:]) + "</div>")]
    if plots:
        curves = [_curves(report, key, label, log, relative) for key, label, log in PANELS for relative in (False, True)]
        parts.append(section("Curves", "<div class=\"grid\">" + "".join(curves) + "</div>"))
    return parts + [paragraphs([f"no recorded {by}: {', '.join(missing)}"] if missing else [], css="note")]


def compare_html(report: Mapping[str, Any]) -> str:
    """The whole page of a compare report (``comparison.compare_to_json``)."""
    return page(f"entk-probe compare: {len(report['runs'])} runs", compare_parts(report))
