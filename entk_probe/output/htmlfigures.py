"""The HTML report's interactive figures (plotly), drawn from the JSON report dict like the PNG's panels.

``dynamics_figure``: the angle from the first kernel (and to the last), the velocity to the next
checkpoint and the accuracies against time, Phase II shaded from the boundary on; ``trajectory_figure``:
the trajectory map (classical MDS of the centred angles, ``analysis.trajectorymap``), Phase II outlined;
``heatmap_figure``: the pairwise centred angles; ``switch_figure``: the switch experiment's accuracy and
loss against the switch point. Hovering a checkpoint shows its name, step, epoch and its row of the
report's table. Where checkpoints are dense early, time is drawn on a symmetric-log scale (linear up
to the first checkpoint after 0, logarithmic past it), as the PNG does. Strings from the report are
escaped (plotly reads hover text as a little HTML).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..analysis.trajectorymap import classical_mds, region_outline
from .htmlblocks import esc, plotly_module
from .plots import heatmap_ticks, series, uncentred_velocity
from .switchreport import SHOWN
from .terminal import table_cells

RED, PHASE2, GREY = "#d62728", "rgba(255,160,40,0.14)", "#b8bcc4"
LINSCALE = 0.5  # the width of the linear part of a symmetric-log time axis, in decades
HOVER = "%{text}<extra>%{fullData.name}</extra>"


def _values(array: Any) -> list[float | None]:
    """A float array as a JSON-ready list: None for NaN (plotly leaves a gap)."""
    return [None if v is None or not math.isfinite(v) else float(v) for v in np.asarray(array, dtype=float).tolist()]


def time_axis(times: Sequence[float | None]) -> tuple[np.ndarray, dict[str, Any]]:
    """(x position of each time, the x axis's settings): the times on a linear axis, or, where the checkpoints
    are dense early (the largest positive time over the smallest above 20), a symmetric-log axis labelled in times."""
    t = np.array([np.nan if v is None else v for v in times], dtype=float)
    positive = t[np.isfinite(t) & (t > 0)]
    if not len(positive) or positive.max() / positive.min() <= 20:
        return t, {}
    low = float(positive.min())

    def place(v: np.ndarray) -> np.ndarray:
        return np.where(v <= low, v / low * LINSCALE, LINSCALE + np.log10(np.maximum(v, low) / low))

    decades = [10.0 ** k for k in range(math.ceil(math.log10(low)), math.floor(math.log10(positive.max())) + 1)]
    ticks = [0.0, low] + [d for d in decades if d > low * 1.8]
    return place(t), {"tickmode": "array", "tickvals": _values(place(np.array(ticks))),
                      "ticktext": [f"{v:.3g}" for v in ticks]}


def checkpoint_hovers(report: dict[str, Any]) -> list[str]:
    """A checkpoint's hover label: its full name in bold, then its row of the report's table (empty cells left out)."""
    headers, rows = table_cells(report)
    return [f"<b>{esc(c['name'])}</b><br>" + "<br>".join(f"{esc(h)} {esc(v)}" for h, v in zip(headers[1:], row[1:])
                                                    if v not in ("—", ""))
            for c, row in zip(report["checkpoints"], rows)]


def _times(report: dict[str, Any]) -> np.ndarray:
    return np.array([np.nan if c["time"] is None else c["time"] for c in report["checkpoints"]], dtype=float)


def _axis_title(report: dict[str, Any], scale: dict[str, Any]) -> str:
    unit = report["time_unit"]
    name = unit if unit != "index" else "checkpoint"
    return name + (" (symmetric log: linear up to the first after 0)" if scale else "")


def _mark_phase2(fig: Any, x: np.ndarray, boundary: dict[str, Any] | None, rows: int) -> None:
    """Phase II shaded from the boundary checkpoint to the last, the boundary a dashed red line."""
    if boundary is None or not 0 <= boundary["index"] < len(x) or not np.isfinite(x[boundary["index"]]):
        return
    xb, end = float(x[boundary["index"]]), float(np.nanmax(x))
    for row in range(1, rows + 1):
        fig.add_vrect(x0=xb, x1=end, fillcolor=PHASE2, line_width=0, layer="below", row=row, col=1)
        fig.add_vline(x=xb, line={"color": RED, "dash": "dash", "width": 1}, row=row, col=1)
    fig.add_annotation(x=(xb + end) / 2, y=1.0, xref="x", yref="paper", text="Phase II", showarrow=False,
                       yanchor="bottom", font={"color": "#b86e00"})


def _layout(fig: Any, height: int, title: str) -> None:
    fig.update_layout(template="plotly_white", height=height, hovermode="closest", title={"text": esc(title), "x": 0.01},
                      margin={"l": 60, "r": 20, "t": 60, "b": 40}, legend={"orientation": "h", "y": -0.12},
                      font={"size": 12})


def dynamics_figure(report: dict[str, Any]) -> Any:
    """Three rows against time: angles from the first and to the last kernel, velocity (log), accuracy."""
    plotly_module()
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = _times(report)
    x, scale = time_axis(t)
    hover, unit = checkpoint_hovers(report), report["time_unit"]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=(
        "Angle from the first kernel (and to the last)", f"Velocity to the next checkpoint (° per {esc(unit)})", "Accuracy"))
    lines = [(1, "centered_angle_from_first_deg", "∠ from first, centred", "solid"),
             (1, "centered_angle_to_last_deg", "∠ to last, centred", "solid"),
             (1, "angle_from_first_deg", "∠ from first, uncentred", "dot"),
             (3, "accuracy", "network on the probe", "solid"), (3, "kernel_regression_accuracy", "kernel regression", "solid")]
    for row, key, name, dash in lines:
        fig.add_trace(go.Scatter(x=_values(x), y=_values(series(report, key)), name=name, text=hover, hovertemplate=HOVER,
                                 mode="lines+markers", line={"dash": dash}), row=row, col=1)
    velocities = (("centred kernel", series(report, "angular_velocity_deg"), "solid"),
                  ("uncentred kernel", uncentred_velocity(report, t), "dot"))
    for name, values, dash in velocities:
        values = np.where(values > 0, values, np.nan)[:-1]
        fig.add_trace(go.Scatter(x=_values(x[:-1]), y=_values(values), name=f"velocity, {name}", text=hover[:-1],
                                 hovertemplate=HOVER, mode="lines+markers", line={"dash": dash}), row=2, col=1)
    log = [(c.get("training_log") or {}).get("eval_top1") for c in report["checkpoints"]]
    if any(v is not None for v in log):
        fig.add_trace(go.Scatter(x=_values(x), y=[None if v is None else v / 100 for v in log], name="the run's validation top-1",
                                 text=hover, hovertemplate=HOVER, mode="lines+markers", line={"dash": "dash"}), row=3, col=1)
    fig.update_yaxes(title_text="angle (°)", row=1, col=1)
    fig.update_yaxes(type="log", title_text=f"°/{esc(unit)}", row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="accuracy", row=3, col=1)
    fig.update_xaxes(showgrid=True, **scale)
    fig.update_xaxes(title_text=esc(_axis_title(report, scale)), row=3, col=1)
    _mark_phase2(fig, x, report["phases"]["boundary"], 3)
    _layout(fig, 760, "How the kernel moved")
    return fig


def trajectory_figure(report: dict[str, Any]) -> Any:
    """The kernels placed by classical MDS of their centred angles, coloured by time; the boundary circled,
    Phase II's region outlined."""
    plotly_module()
    import plotly.graph_objects as go

    coords, kept = classical_mds(np.array(report["pairwise"]["angle_centered_deg"], dtype=float))
    t, hover = _times(report), checkpoint_hovers(report)
    known = bool(np.isfinite(t).all())  # colour by time, else (a time missing) by position
    colour, scale = (t, report["time_unit"]) if known else (np.arange(len(t), dtype=float), "checkpoint")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=_values(coords[:, 0]), y=_values(coords[:, 1]), mode="lines", hoverinfo="skip",
                             line={"color": GREY, "width": 1}, showlegend=False))
    fig.add_trace(go.Scatter(x=_values(coords[:, 0]), y=_values(coords[:, 1]), mode="markers", name="checkpoints",
                             text=hover, hovertemplate=HOVER, marker={
                                 "size": 9, "color": colour.tolist(), "colorscale": "Viridis", "showscale": True,
                                 "colorbar": {"title": {"text": esc(scale)}, "thickness": 12}}))
    boundary = report["phases"]["boundary"]
    if boundary is not None and 0 <= boundary["index"] < len(coords):
        b = boundary["index"]
        fig.add_trace(go.Scatter(x=_values(coords[b:b + 1, 0]), y=_values(coords[b:b + 1, 1]), mode="markers",
                                 name="end of Phase I", hoverinfo="skip",
                                 marker={"size": 20, "symbol": "circle-open", "color": RED, "line": {"width": 2}}))
        hull = region_outline(coords[b + 1:])
        if len(hull):
            fig.add_trace(go.Scatter(x=_values(hull[:, 0]), y=_values(hull[:, 1]), mode="lines", name="Phase II region",
                                     hoverinfo="skip", line={"color": "#ff8c00", "dash": "dash"}))
    if np.isfinite(coords[0]).all():
        fig.add_annotation(x=float(coords[0, 0]), y=float(coords[0, 1]), text="first", showarrow=False, xshift=16, yshift=10)
    fig.update_xaxes(title_text="°")
    fig.update_yaxes(title_text="°", scaleanchor="x", scaleratio=1)
    _layout(fig, 480, f"Trajectory map (MDS of centred angles, {kept:.0%} kept)")
    return fig


def _unique_names(report: dict[str, Any]) -> list[str]:
    """The checkpoints' names, escaped, made unique (a heatmap's categories) by their position where needed."""
    names = [esc(c["name"]) for c in report["checkpoints"]]
    return names if len(set(names)) == len(names) else [f"{n} #{i}" for i, n in enumerate(names)]


def heatmap_figure(report: dict[str, Any]) -> Any:
    """The centred angle between every two checkpoints; the boundary drawn across."""
    plotly_module()
    import plotly.graph_objects as go

    angles = np.array(report["pairwise"]["angle_centered_deg"], dtype=float)
    names = _unique_names(report)
    fig = go.Figure(go.Heatmap(z=[_values(row) for row in angles], x=names, y=names, colorscale="Viridis",
                               colorbar={"title": {"text": "°"}, "thickness": 12},
                               hovertemplate="%{y}<br>%{x}<br>%{z:.1f}°<extra></extra>"))
    ticks, labels = heatmap_ticks(report)
    unit = report["time_unit"] if report["time_unit"] != "index" else "checkpoint"
    for axis in (fig.update_xaxes, fig.update_yaxes):
        axis(tickmode="array", tickvals=[names[i] for i in ticks], ticktext=labels, title_text=esc(unit))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1)
    boundary = report["phases"]["boundary"]
    if boundary is not None and 0 <= boundary["index"] < len(names):
        edge = boundary["index"] + 0.5
        fig.add_hline(y=edge, line={"color": RED, "width": 1})
        fig.add_vline(x=edge, line={"color": RED, "width": 1})
    _layout(fig, 480, "Pairwise centred angles between checkpoints")
    return fig


def switch_figure(report: dict[str, Any]) -> Any:
    """The switch experiment: accuracy and loss (log) after training, against the switch point, for the
    network and its linearisation; the boundary (end of Phase I) marked."""
    plotly_module()
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    sw = report["switch"]
    boundary = sw["boundary"] or {}
    x, scale = time_axis([r["at_epoch"] for r in sw["results"]] + [boundary.get("time")])  # the boundary last
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=(
        f"Accuracy after {sw['epochs']:g} epoch(s)", "Loss after training (log)"))
    for kind, dash, colour in (("standard", "solid", "#1f77b4"), ("linearized", "dash", "#ff7f0e")):
        chosen = sorted((float(x[i]), r) for i, r in enumerate(sw["results"]) if r["kind"] == kind)
        text = [f"<b>{esc(r['checkpoint'])}</b><br>{SHOWN[kind]} at {esc(report['time_unit'])} {r['at_epoch']:.3g}<br>"
                f"accuracy {r['accuracy']:.3f}<br>loss {r['loss']:.4g}" for _, r in chosen]
        for row, key in ((1, "accuracy"), (2, "loss")):
            fig.add_trace(go.Scatter(x=[p for p, _ in chosen], y=[r[key] for _, r in chosen], name=SHOWN[kind], text=text,
                                     hovertemplate=HOVER, mode="lines+markers", line={"dash": dash, "color": colour}, legendgroup=kind,
                                     showlegend=row == 1), row=row, col=1)
    if np.isfinite(x[-1]):
        fig.add_vline(x=float(x[-1]), line={"color": RED, "dash": "dash", "width": 1}, annotation_text="end of Phase I")
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_yaxes(type="log", title_text="loss", row=2, col=1)
    fig.update_xaxes(showgrid=True, **scale)
    fig.update_xaxes(title_text=esc(f"switch point ({_axis_title(report, scale)})"), row=2, col=1)
    _layout(fig, 620, "Training the network or its linearisation")
    return fig
