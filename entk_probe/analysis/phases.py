"""Phases of a kernel trajectory: the Phase I / Phase II boundary, the verdict, the cone width.

Everything is computed from the pairwise angles A[i, j] (degrees) between the run's kernels,
centred (H K H) by default, and the checkpoints' times t_i (epochs, else steps).

Boundary. Phase I is the rich phase, in which the kernel moves away from its initialisation
fast. Its end is the kink of the displacement curve d(t_j) = A[0, j]: the checkpoint b whose
time t_b, as the corner of a continuous two-piece line (slope s1 up to t_b, s2 after), fits
d best in least squares. At least ``min_phase_steps`` steps lie before it and at least
``min_phase2_checkpoints`` checkpoints after it. The displacement
of a checkpoint carries its own SGD jitter only once, whereas a step's angle divided by a short
step's duration would turn that jitter into speed (dense early checkpoints would fake a Phase
I); and the line after the corner takes a Phase II that slows down under a decaying learning
rate. Phase II's geometry is measured on the checkpoints after the boundary, so that a corner
placed one checkpoint early (the corner of a curve that bends gradually) does not count the
last of Phase I's motion as Phase II's.

Verdict (``verdicts.py`` holds their ids and plain words), in this order (every threshold a field
of ``PhaseThresholds``, printed in the report):

- ``insufficient``: fewer than ``min_checkpoints`` checkpoints with distinct times.
- ``lazy``: the trajectory's diameter (largest pairwise angle) is below ``lazy_max_angle_deg``:
  the kernel barely moves at all.
- ``single-phase``: after the corner the kernel still moves away from its initialisation at more
  than ``max_velocity_ratio`` times its Phase I rate (|s2| / s1): no slow-down, no second phase.
- ``two-phase-frozen``: Phase II's diameter (largest angle between two of its kernels) is below
  ``frozen_diameter_fraction`` of Phase I's travel A[0, b]: after the boundary the kernel stops
  (up to jitter).
- ``two-phase-cone``: Phase II keeps moving, but within a narrow region that it does not leave:
  its diameter is at most ``cone_max_diameter_fraction`` times Phase I's travel, and its drift
  ratio is at most ``cone_max_drift_ratio``.
- ``no-cone``: Phase II keeps moving and its region is wide, or it drifts.

Drift ratio: whether Phase II's diameter grows with its path, measured so that SGD noise does
not fake it. Split Phase II's checkpoints into an earlier and a later half; the ratio is the mean
angle between a kernel of one half and a kernel of the other, over the mean angle between two
kernels of the same half. A kernel wandering in a cone (or settling in it) is about as far from
the other half as from its own: ratio near 1. A drifting kernel leaves: for a steady drift the
ratio is 3. Noise adds to both means alike. Synthetic trajectories (docs/phases.md) give
0.94 to 1.03 for cones (up to 1.11 for a frozen kernel's jitter), 1.8 to 2.7 for drifts, with
and without noise and learning-rate decay.
The plain ratio diameter / path is reported too; it is not used because noise inflates the path.

Cone width: the angles between each checkpoint's top-k eigenspace (k = number of classes) and
that of the Phase II mean kernel (the mean of the unit kernels after the boundary), summarised by
one statistic (``CONE_STATISTIC``); the width is its largest value over Phase II. Also reported:
the Frobenius half-angle, the largest angle between a Phase II kernel and the Phase II mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from .dynamics import (
    ANGLE_STATISTICS,
    NO_ANGLES,
    angle_statistics,
    kernel_angle_deg,
    path_and_diameter,
    sample_kernel,
    step_rates,
    subspace_angles,
    subspaces_informative,
    top_eigenspace,
)
from .speed import speed_boundary
from .verdicts import INSUFFICIENT, LAZY, NO_CONE, SINGLE_PHASE, TWO_PHASE_CONE, TWO_PHASE_FROZEN

CONE_STATISTIC = "mean"
# What ``classify`` puts in ``PhaseResult.evidence`` (the JSON's ``phases.evidence``): the first two
# for every trajectory, the rest once a boundary is placed.
EVIDENCE_KEYS = ("checkpoints", "diameter_deg", "boundary_time", "phase1_travel_deg", "phase1_rate_deg",
                 "phase2_rate_deg", "velocity_ratio", "phase1_median_step_velocity_deg",
                 "phase2_median_step_velocity_deg", "phase2_path_deg", "phase2_diameter_deg",
                 "phase2_diameter_over_path", "phase2_drift_ratio",
                 # evidence only, not used by the verdict yet (``speed``): the boundary by window speed
                 "speed_window", "speed_boundary_time", "speed_before_deg", "speed_after_deg")


@dataclass(frozen=True)
class PhaseThresholds:
    """Every number the verdict depends on (module docstring); the report prints them."""

    min_checkpoints: int = field(default=7, metadata={"help": "fewer checkpoints (distinct times): insufficient"})
    min_phase_steps: int = field(default=2, metadata={"help": "steps Phase I has at least"})
    min_phase2_checkpoints: int = field(default=4, metadata={"help": "checkpoints after the boundary, at least"})
    lazy_max_angle_deg: float = field(default=5.0, metadata={"help": "trajectory diameter (degrees) below which the run is lazy"})
    max_velocity_ratio: float = field(default=0.25, metadata={"help": "Phase II / Phase I rate away from init above which there is one phase"})
    frozen_diameter_fraction: float = field(default=0.05, metadata={"help": "Phase II diameter / Phase I travel below which Phase II is frozen"})
    cone_max_diameter_fraction: float = field(default=0.5, metadata={"help": "Phase II diameter / Phase I travel at most, for a cone"})
    cone_max_drift_ratio: float = field(default=1.5, metadata={"help": "Phase II drift ratio at most, for a cone"})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class PhaseResult:
    """The verdict, the boundary checkpoint (None when there is none) and the numbers behind it."""

    verdict: str
    boundary: int | None
    thresholds: PhaseThresholds
    evidence: dict[str, float] = field(default_factory=dict)
    explanation: str = ""


def _hinge_fit(t: np.ndarray, d: np.ndarray, corner: float) -> tuple[float, float, float]:
    """Least-squares d ≈ a + s1·min(t, corner) + s2·max(t − corner, 0): (sse, s1, s2)."""
    design = np.stack([np.ones_like(t), np.minimum(t, corner), np.maximum(t - corner, 0.0)], axis=1)
    coef, *_ = np.linalg.lstsq(design, d, rcond=None)
    residual = d - design @ coef
    return float(residual @ residual), float(coef[1]), float(coef[2])


def find_boundary(displacement: np.ndarray, times: np.ndarray, min_steps: int,
                  min_after: int) -> tuple[int, float, float] | None:
    """The kink of the displacement curve (module docstring): (checkpoint b, slope before, slope after)."""
    best: tuple[int, float, float] | None = None
    best_sse = math.inf
    for b in range(min_steps, len(times) - min_after):
        if not times[0] < times[b] < times[-1]:
            continue
        sse, s1, s2 = _hinge_fit(times, displacement, float(times[b]))
        if best is None or sse < best_sse - 1e-12 * (1 + best_sse):  # ties keep the earlier corner
            best, best_sse = (b, s1, s2), sse
    return best


def classify(angle: np.ndarray, times: Sequence[float], thresholds: PhaseThresholds = PhaseThresholds()) -> PhaseResult:
    """Boundary and verdict of a trajectory from its pairwise angles (T, T) in degrees and times."""
    th = thresholds
    t = np.asarray(times, dtype=float)
    distinct = len(np.unique(t))
    diameter = float(np.nanmax(angle)) if angle.size else 0.0
    evidence: dict[str, float] = {"checkpoints": float(len(t)), "diameter_deg": diameter}
    needed = max(th.min_checkpoints, th.min_phase_steps + 1 + th.min_phase2_checkpoints)
    if distinct < needed:
        return PhaseResult(INSUFFICIENT.id, None, th, evidence,
                           f"{distinct} checkpoints with distinct times; at least {needed} are needed")
    if diameter < th.lazy_max_angle_deg:
        return PhaseResult(LAZY.id, None, th, evidence,
                           f"the kernel never moves more than {diameter:.2f}° from any of its other states "
                           f"(lazy below {th.lazy_max_angle_deg}°)")
    found = find_boundary(angle[0], t, th.min_phase_steps, th.min_phase2_checkpoints)
    if found is None:
        return PhaseResult(INSUFFICIENT.id, None, th, evidence, "too few checkpoints with increasing times to place a boundary")
    b, s1, s2 = found
    last = len(t) - 1
    travel = float(angle[0, b])
    path2, diam2 = path_and_diameter(angle, b + 1, last)
    drift = drift_ratio(angle, b + 1, last)
    rates = step_rates(angle, t)
    ratio = abs(s2) / s1 if s1 > 0 else math.inf
    evidence.update({
        "boundary_time": float(t[b]),
        "phase1_travel_deg": travel,
        "phase1_rate_deg": s1,
        "phase2_rate_deg": s2,
        "velocity_ratio": ratio,
        "phase1_median_step_velocity_deg": float(np.nanmedian(rates[:b])),
        "phase2_median_step_velocity_deg": float(np.nanmedian(rates[b:])),
        "phase2_path_deg": path2,
        "phase2_diameter_deg": diam2,
        "phase2_diameter_over_path": diam2 / path2 if path2 > 0 else math.nan,
        "phase2_drift_ratio": drift,
        **_speed_evidence(angle, t, th.max_velocity_ratio),
    })
    if ratio > th.max_velocity_ratio:
        return PhaseResult(SINGLE_PHASE.id, None, th, evidence,
                           f"no slow-down: after the best corner the kernel still moves away from its initialisation "
                           f"at {ratio:.2f} times its earlier rate (two phases need below {th.max_velocity_ratio})")
    if not diam2 >= th.frozen_diameter_fraction * travel:  # NaN-safe: a still kernel has no drift ratio
        return PhaseResult(TWO_PHASE_FROZEN.id, b, th, evidence,
                           f"Phase I moved the kernel {travel:.1f}°; afterwards it stays within {diam2:.2f}° "
                           f"(frozen below {th.frozen_diameter_fraction:.0%} of Phase I)")
    narrow = diam2 <= th.cone_max_diameter_fraction * travel
    settled = drift <= th.cone_max_drift_ratio
    if narrow and settled:
        return PhaseResult(TWO_PHASE_CONE.id, b, th, evidence,
                           f"after Phase I ({travel:.1f}°) the kernel keeps moving ({path2:.1f}° of path) but stays "
                           f"within {diam2:.1f}° and does not leave that region (drift ratio {drift:.2f} <= "
                           f"{th.cone_max_drift_ratio})")
    why = (f"its region is {diam2:.1f}° wide, more than {th.cone_max_diameter_fraction} x Phase I's {travel:.1f}°"
           if not narrow else f"it leaves the region it was in (drift ratio {drift:.2f} > {th.cone_max_drift_ratio})")
    return PhaseResult(NO_CONE.id, b, th, evidence, f"after Phase I the kernel does not settle into a cone: {why}")


def _speed_evidence(angle: np.ndarray, t: np.ndarray, max_ratio: float) -> dict[str, float]:
    found = speed_boundary(angle, t, max_ratio)
    return {"speed_window": found.window,
            "speed_boundary_time": math.nan if found.index is None else float(t[found.index]),
            "speed_before_deg": found.before, "speed_after_deg": found.after}


def drift_ratio(angle: np.ndarray, start: int, stop: int) -> float:
    """Mean angle across the two halves of checkpoints start..stop over the mean angle within a half."""
    idx = list(range(start, stop + 1))
    half = (len(idx) + 1) // 2
    first, second = idx[:half], idx[half:]
    within = [angle[i, j] for part in (first, second) for a, i in enumerate(part) for j in part[a + 1 :]]
    across = [angle[i, j] for i in first for j in second]
    mean_within = float(np.mean(within)) if within else math.nan
    return float(np.mean(across)) / mean_within if mean_within > 0 else math.nan


@dataclass(frozen=True)
class ConeWidth:
    """Subspace angles of every checkpoint's top-k eigenspace to the Phase II mean kernel's."""

    k: int
    statistic: str
    width_deg: float  # the statistic's largest value over Phase II
    per_checkpoint_deg: list[float]  # the statistic, every checkpoint
    all_statistics: dict[str, list[float]]  # every statistic of ANGLE_STATISTICS, every checkpoint
    frobenius_half_angle_deg: float
    init_to_axis_deg: float = math.nan  # angle from the first kernel to the Phase II mean (the cone's axis)


def cone_width(kernels: Sequence[Tensor], boundary: int, k: int, statistic: str = CONE_STATISTIC) -> ConeWidth:
    """Cone width around the Phase II mean kernel (module docstring); kernels as the verdict saw them."""
    samples = [sample_kernel(kern).to(torch.float64) for kern in kernels]
    phase2 = samples[boundary + 1 :]
    mean = torch.stack([s / torch.linalg.vector_norm(s) for s in phase2]).mean(0)
    if subspaces_informative(k, mean.shape[0]):
        reference = top_eigenspace(mean, k)
        stats = [angle_statistics(subspace_angles(top_eigenspace(s, k), reference)) for s in samples]
    else:
        stats = [dict(NO_ANGLES) for _ in samples]
    every = {name: [s[name] for s in stats] for name in ANGLE_STATISTICS}
    half = max(kernel_angle_deg(s, mean) for s in phase2)
    return ConeWidth(k, statistic, max(every[statistic][boundary + 1 :]), every[statistic], every, half,
                     kernel_angle_deg(samples[0], mean))
