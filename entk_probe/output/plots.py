"""The PNG of a report (``--plot``): velocity, displacement, accuracy (the network's and its kernel
regression's), subspace angles, the trajectory map (classical MDS of the centred angles, Phase II
outlined) and the pairwise heatmap.

Drawn from the JSON report dict, so a saved report can be plotted again. Needs matplotlib (the
``plot`` extra: ``pip install 'entk-probe[plot]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.trajectorymap import classical_mds, region_outline
from ..errors import UsageError


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or a UsageError saying how to install the plot extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'entk-probe[plot]'") from None
    return plt


def new_figure(**options: Any) -> Any:
    """A matplotlib Figure of its own, outside pyplot: no backend is switched (a notebook keeps its
    own) and nothing needs closing; the UsageError of ``pyplot`` when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'entk-probe[plot]'") from None
    return Figure(**options)


def save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` as a PNG at the plots' resolution, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _metric(c: dict[str, Any], key: str) -> Any:
    """A checkpoint's metric, None when it is null, the checkpoint was left out, or the report predates it."""
    return None if c["metrics"] is None else c["metrics"].get(key)


def check_plotting() -> None:
    """A UsageError now, rather than after the analysis, when matplotlib is missing."""
    pyplot()


def series(report: dict[str, Any], key: str) -> np.ndarray:
    """A metric of every checkpoint (``checkpoints[].metrics[key]``), NaN where it has none."""
    return np.array([np.nan if _metric(c, key) is None else _metric(c, key) for c in report["checkpoints"]], dtype=float)


def uncentred_velocity(report: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """The uncentred angle per time unit to the next checkpoint (NaN for the last, and where time stands still)."""
    angle = np.array(report["pairwise"]["angle_deg"], dtype=float)
    return np.array([angle[i, i + 1] / (t[i + 1] - t[i]) if t[i + 1] > t[i] else np.nan for i in range(len(t) - 1)] + [np.nan])


def _mark(ax: Any, t: np.ndarray, unit: str, boundary: dict[str, Any] | None) -> None:
    """The end of Phase I, the time axis (log where checkpoints are dense early), the grid."""
    if boundary is not None:
        ax.axvline(boundary["time"], color="tab:red", linestyle="--", linewidth=1, label="end of Phase I")
    positive = t[t > 0]
    if len(positive) and positive.max() / positive.min() > 20:  # dense early checkpoints: log time
        ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
    ax.set_xlim(left=min(0.0, float(t[0])))
    ax.set_xlabel(unit)
    ax.grid(alpha=0.3)


def _velocity(ax: Any, report: dict[str, Any], t: np.ndarray, unit: str) -> None:
    omega = series(report, "angular_velocity_deg")
    raw_omega = uncentred_velocity(report, t)
    ax.plot(t[:-1], omega[:-1], "o-", label="centred kernel")
    ax.plot(t[:-1], raw_omega[:-1], ".--", alpha=0.6, label="uncentred")
    ax.set_yscale("log")
    ax.set_ylabel(f"velocity (° per {unit})")
    ax.set_title("Kernel velocity to the next checkpoint")


def _displacement(ax: Any, report: dict[str, Any], t: np.ndarray) -> None:
    ax.plot(t, series(report, "centered_angle_from_first_deg"), "o-", label="from init, centred")
    ax.plot(t, series(report, "centered_angle_to_last_deg"), "s-", label="to final, centred")
    ax.plot(t, series(report, "angle_from_first_deg"), ".--", alpha=0.6, label="from init, uncentred")
    ax.plot(t, series(report, "angle_to_last_deg"), ".--", alpha=0.6, label="to final, uncentred")
    ax.set_ylabel("angle (°)")
    ax.set_title("Distance from the initial and to the final kernel")


def _subspaces(ax: Any, report: dict[str, Any], t: np.ndarray) -> None:
    for stat, style in (("mean", "o-"), ("rms", "s-"), ("largest", ".:")):
        values = [(_metric(c, "subspace_to_next") or {}).get(stat) for c in report["checkpoints"][:-1]]
        ax.plot(t[:-1], [np.nan if v is None else v for v in values], style, label=f"{stat}, to the next checkpoint")
    cone = report.get("cone")
    if cone is not None and len(cone["per_checkpoint_deg"]) == len(t):
        ax.plot(t, [np.nan if v is None else v for v in cone["per_checkpoint_deg"]], "k-", linewidth=2,
                label=f"{cone['statistic']}, to the Phase II mean (cone)")
    k = cone["k"] if cone else report["kernel"]["num_classes"]
    ax.set_ylabel("principal angle (°)")
    ax.set_title(f"Top-{k} eigenspace angles")


def _accuracy(ax: Any, report: dict[str, Any], t: np.ndarray) -> None:
    ax.plot(t, series(report, "accuracy"), "o-", label="the network on the probe")
    ax.plot(t, series(report, "kernel_regression_accuracy"), "s-", label="kernel regression with its eNTK")
    log = [(c.get("training_log") or {}).get("eval_top1") for c in report["checkpoints"]]
    if any(v is not None for v in log):
        ax.plot(t, [np.nan if v is None else v / 100 for v in log], ".--", label="the run's validation top-1")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy: the network and its kernel")


def _trajectory(fig: Any, ax: Any, report: dict[str, Any], t: np.ndarray, boundary: dict[str, Any] | None) -> None:
    """The kernels placed by classical MDS of their centred angles, coloured by time."""
    coords, kept = classical_mds(np.array(report["pairwise"]["angle_centered_deg"], dtype=float))
    ax.plot(coords[:, 0], coords[:, 1], "-", color="0.7", linewidth=1, zorder=1)
    points = ax.scatter(coords[:, 0], coords[:, 1], c=t, cmap="viridis", zorder=2)
    fig.colorbar(points, ax=ax, label=report["time_unit"])
    ax.annotate("first", coords[0], textcoords="offset points", xytext=(5, 5), fontsize=8)
    if boundary is not None:
        b = boundary["index"]
        ax.scatter(coords[b, 0], coords[b, 1], s=160, facecolors="none", edgecolors="tab:red", zorder=3,
                   label="end of Phase I")
        _outline(ax, coords[b + 1:])
        ax.legend(fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("°")
    ax.set_title(f"Trajectory map (MDS of centred angles, {kept:.0%} kept)")


def _outline(ax: Any, points: np.ndarray) -> None:
    """Phase II's region (``region_outline``)."""
    hull = region_outline(points)
    if len(hull):
        ax.plot(hull[:, 0], hull[:, 1], "--", color="tab:orange", label="Phase II region")


def _heatmap(fig: Any, ax: Any, report: dict[str, Any], boundary: dict[str, Any] | None) -> None:
    centred = np.array(report["pairwise"]["angle_centered_deg"], dtype=float)
    image = ax.imshow(centred, cmap="viridis", origin="upper")
    fig.colorbar(image, ax=ax, label="centred angle (°)")
    if boundary is not None:
        edge = boundary["index"] + 0.5
        ax.axhline(edge, color="tab:red", linewidth=1)
        ax.axvline(edge, color="tab:red", linewidth=1)
    ax.set_title("Pairwise angles between checkpoints")
    ticks, labels = heatmap_ticks(report)
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    unit = report["time_unit"]
    ax.set_xlabel(unit if unit != "index" else "checkpoint")
    ax.set_ylabel(unit if unit != "index" else "checkpoint")


MAX_TICKS = 8


def heatmap_ticks(report: dict[str, Any]) -> tuple[list[int], list[str]]:
    """At most MAX_TICKS evenly spaced checkpoint positions, labelled with their time in the run's unit."""
    times = [c["time"] for c in report["checkpoints"]]
    count = len(times)
    ticks = sorted({round(i * (count - 1) / max(min(MAX_TICKS, count) - 1, 1)) for i in range(min(MAX_TICKS, count))})
    return ticks, ["?" if times[i] is None else f"{times[i]:.3g}" for i in ticks]


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Write the six-panel figure of ``report`` to ``path`` (PNG)."""
    save_png(report_figure(report), path)


def report_figure(report: dict[str, Any]) -> Any:
    """The six-panel matplotlib Figure of ``report`` (what ``plot_report`` saves), outside pyplot (``new_figure``)."""
    t = np.array([c["time"] for c in report["checkpoints"]], dtype=float)
    unit = report["time_unit"]
    boundary = report["phases"]["boundary"]
    fig = new_figure(figsize=(16, 8), layout="constrained")
    (ax_v, ax_d, ax_a), (ax_s, ax_m, ax_h) = fig.subplots(2, 3)
    for ax, draw in ((ax_v, lambda a: _velocity(a, report, t, unit)), (ax_d, lambda a: _displacement(a, report, t)),
                     (ax_s, lambda a: _subspaces(a, report, t)), (ax_a, lambda a: _accuracy(a, report, t))):
        draw(ax)
        _mark(ax, t, unit, boundary)
        ax.legend(fontsize=8)
    _trajectory(fig, ax_m, report, t, boundary)
    _heatmap(fig, ax_h, report, boundary)
    fig.suptitle(f"{report['model']['arch']} · {report['run']['path']} · verdict: {report['phases']['verdict']}")
    return fig
