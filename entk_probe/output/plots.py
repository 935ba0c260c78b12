"""The PNG of a report (``--plot``): velocity, displacement, subspace angles, pairwise heatmap.

Drawn from the JSON report dict, so a saved report can be plotted again. Needs matplotlib (the
``plot`` extra: ``pip install 'entk-probe[plot]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'entk-probe[plot]'") from None
    return plt


def _series(report: dict[str, Any], key: str) -> np.ndarray:
    return np.array([np.nan if c["metrics"][key] is None else c["metrics"][key] for c in report["checkpoints"]], dtype=float)


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Write the four-panel figure of ``report`` to ``path`` (PNG)."""
    plt = _pyplot()
    t = np.array([c["time"] for c in report["checkpoints"]], dtype=float)
    unit = report["time_unit"]
    boundary = report["phases"]["boundary"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    (ax_v, ax_d), (ax_s, ax_h) = axes

    def mark(ax: Any) -> None:
        if boundary is not None:
            ax.axvline(boundary["time"], color="tab:red", linestyle="--", linewidth=1, label="end of Phase I")
        positive = t[t > 0]
        if len(positive) and positive.max() / positive.min() > 20:  # dense early checkpoints: log time
            ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
        ax.set_xlim(left=min(0.0, float(t[0])))
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)

    omega = _series(report, "angular_velocity_deg")
    angle = np.array(report["pairwise"]["angle_deg"], dtype=float)
    raw_omega = np.array([angle[i, i + 1] / (t[i + 1] - t[i]) if t[i + 1] > t[i] else np.nan for i in range(len(t) - 1)] + [np.nan])
    ax_v.plot(t[:-1], omega[:-1], "o-", label="centred kernel")
    ax_v.plot(t[:-1], raw_omega[:-1], ".--", alpha=0.6, label="uncentred")
    ax_v.set_yscale("log")
    ax_v.set_ylabel(f"velocity (° per {unit})")
    ax_v.set_title("Kernel velocity to the next checkpoint")
    mark(ax_v)
    ax_v.legend(fontsize=8)

    ax_d.plot(t, _series(report, "centered_angle_from_first_deg"), "o-", label="from init, centred")
    ax_d.plot(t, _series(report, "centered_angle_to_last_deg"), "s-", label="to final, centred")
    ax_d.plot(t, _series(report, "angle_from_first_deg"), ".--", alpha=0.6, label="from init, uncentred")
    ax_d.plot(t, _series(report, "angle_to_last_deg"), ".--", alpha=0.6, label="to final, uncentred")
    ax_d.set_ylabel("angle (°)")
    ax_d.set_title("Distance from the initial and to the final kernel")
    mark(ax_d)
    ax_d.legend(fontsize=8)

    for stat, style in (("mean", "o-"), ("rms", "s-"), ("largest", ".:")):
        values = [c["metrics"]["subspace_to_next"].get(stat) for c in report["checkpoints"][:-1]]
        ax_s.plot(t[:-1], [np.nan if v is None else v for v in values], style, label=f"{stat}, to the next checkpoint")
    cone = report.get("cone")
    if cone is not None and len(cone["per_checkpoint_deg"]) == len(t):
        ax_s.plot(t, [np.nan if v is None else v for v in cone["per_checkpoint_deg"]], "k-", linewidth=2,
                  label=f"{cone['statistic']}, to the Phase II mean (cone)")
    k = cone["k"] if cone else report["kernel"]["num_classes"]
    ax_s.set_ylabel("principal angle (°)")
    ax_s.set_title(f"Top-{k} eigenspace angles")
    mark(ax_s)
    ax_s.legend(fontsize=8)

    centred = np.array(report["pairwise"]["angle_centered_deg"], dtype=float)
    image = ax_h.imshow(centred, cmap="viridis", origin="upper")
    fig.colorbar(image, ax=ax_h, label="centred angle (°)")
    if boundary is not None:
        edge = boundary["index"] + 0.5
        ax_h.axhline(edge, color="tab:red", linewidth=1)
        ax_h.axvline(edge, color="tab:red", linewidth=1)
    ax_h.set_title("Pairwise angles between checkpoints")
    ax_h.set_xlabel("checkpoint")
    ax_h.set_ylabel("checkpoint")

    fig.suptitle(f"{report['model']['arch']} · {report['run']['path']} · verdict: {report['phases']['verdict']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
