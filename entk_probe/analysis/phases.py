"""Phases of a kernel trajectory: the Phase I / Phase II boundary, the verdict, the cone width.

Everything is computed from the pairwise angles A[i, j] (degrees) between the run's kernels,
centred (H K H) by default, and the checkpoints' times t_i (epochs, else steps).

Boundary. Phase I is the kernel's initial motion away from its initialisation. Its end is the
plateau boundary (``plateau.py``): the first checkpoint from which the angle from the first kernel,
d(t_j) = A[0, j], stays at ``plateau_fraction`` of the level that follows it (the median of d over the
next five checkpoints) or above (the boundary and the next checkpoint, and all but
``plateau_tolerance`` of the later ones), with at least
``min_phase_steps`` steps before it and ``min_phase2_checkpoints`` checkpoints after it. It reads
no times: neither the learning-rate schedule (cosine and OneCycle runs slow down only when their
learning rate anneals, long after the kernel reached its plateau) nor the spacing of the
checkpoints moves it. Where no checkpoint qualifies, the boundary is the kink of the displacement
curve: the checkpoint b whose time t_b, as the corner of a continuous two-piece line (slope s1 up
to t_b, s2 after), fits d best in least squares. ``phases.boundary.rule`` in the JSON says which
rule placed it; the evidence has both boundaries. The slopes s1, s2 are those of the two-piece
line with its corner at the boundary, whichever rule placed it. Phase II's geometry is measured
on the checkpoints after the boundary, so that a boundary placed one checkpoint early does not
count the last of Phase I's motion as Phase II's. (Until schema 1.4 the boundary was where the
kernel's speed over windows of the largest gap fell and stayed low; docs/phases.md says why it
changed.)

Verdict (``verdicts.py`` holds their ids and plain words), in this order (every threshold a field
of ``PhaseThresholds``, printed in the report):

- ``insufficient``: fewer than ``min_checkpoints`` checkpoints with distinct times.
- ``lazy``: the trajectory's diameter (largest pairwise angle) is below ``lazy_max_angle_deg``:
  the kernel barely moves at all.
- ``single-phase``: after the boundary the kernel still moves away from its initialisation at
  more than ``max_velocity_ratio`` times its Phase I rate (|s2| / s1): no plateau, no second phase.
- ``two-phase-frozen``: Phase II's diameter (largest angle between two of its kernels) is below
  ``frozen_diameter_fraction`` of Phase I's travel A[0, b]: after the boundary the kernel stops
  (up to jitter).
- ``two-phase-cone``: Phase II keeps moving, but within a narrow cone that it does not leave:
  the cone's half-angle (the largest angle between a Phase II kernel and the cone's axis, the
  mean of Phase II's unit kernels) is at most ``cone_max_half_angle_fraction`` of the angle from
  the first kernel to that axis, and its drift ratio is at most ``cone_max_drift_ratio``. With
  the default 0.5 the first kernel lies at least twice as far from the axis as any Phase II
  kernel. (Until schema 1.4 the width test was Phase II's diameter <= 0.5 x Phase I's travel,
  about a half-angle <= 0.25 x that distance; docs/phases.md has the evidence for the change.)
- ``no-cone``: Phase II keeps moving and its region is wide, or it drifts.

Drift ratio: whether Phase II's diameter grows with its path, measured so that SGD noise does
not fake it. Split Phase II's checkpoints into an earlier and a later half; the ratio is the mean
angle between a kernel of one half and a kernel of the other, over the mean angle between two
kernels of the same half. A kernel wandering in a cone (or settling in it) is about as far from
the other half as from its own: ratio near 1. A drifting kernel leaves: for a steady drift the
ratio is 3. Noise adds to both means alike. Synthetic trajectories (docs/phases.md) give
0.94 to 1.03 for cones (up to 1.11 for a frozen kernel's jitter), 1.7 to 3.2 for drifts (the
lowest under learning-rate schedules), with and without noise.
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
    axis_angles,
    kernel_angle_deg,
    path_and_diameter,
    sample_kernel,
    step_rates,
    subspace_angles,
    subspaces_informative,
    top_eigenspace,
)
from .plateau import PlateauBoundary, plateau_boundary
from .verdicts import INSUFFICIENT, LAZY, NO_CONE, SINGLE_PHASE, TWO_PHASE_CONE, TWO_PHASE_FROZEN

CONE_STATISTIC = "mean"
# What ``classify`` puts in ``PhaseResult.evidence`` (the JSON's ``phases.evidence``): the first two
# for every trajectory, the rest once a boundary is placed.
EVIDENCE_KEYS = ("checkpoints", "diameter_deg", "boundary_time", "phase1_travel_deg", "phase1_rate_deg",
                 "phase2_rate_deg", "velocity_ratio", "phase1_median_step_velocity_deg",
                 "phase2_median_step_velocity_deg", "phase2_path_deg", "phase2_diameter_deg",
                 "phase2_diameter_over_path", "phase2_drift_ratio", "phase2_half_angle_deg", "init_to_axis_deg",
                 # both boundaries (``place_boundary`` says which one decides) and the plateau's numbers
                 "corner_boundary_time", "plateau_boundary_time", "plateau_level_deg", "plateau_below_share")
# How the boundary was placed (the JSON's ``phases.boundary.rule``): the plateau of the angle from the first kernel,
# else the displacement corner.
BOUNDARY_RULES = ("plateau", "corner")
# What the displacement's slopes are measured against (the JSON's ``phases.slopes_against``): the run's time, or
# gradient-flow time (``flowtime.py``) where the run recorded its learning rate.
SLOPE_AXES = ("time", "gradient-flow")


@dataclass(frozen=True)
class PhaseThresholds:
    """Every number the verdict depends on (module docstring); the report prints them."""

    min_checkpoints: int = field(default=7, metadata={"help": "fewer checkpoints (distinct times): insufficient"})
    min_phase_steps: int = field(default=2, metadata={"help": "steps Phase I has at least"})
    min_phase2_checkpoints: int = field(default=4, metadata={"help": "checkpoints after the boundary, at least"})
    lazy_max_angle_deg: float = field(default=5.0, metadata={"help": "trajectory diameter (degrees) below which the run is lazy"})
    plateau_fraction: float = field(default=0.9, metadata={"help": "Phase I ends where the angle from the first kernel reaches this fraction of its level over the next five checkpoints and stays there"})
    plateau_tolerance: float = field(default=0.1, metadata={"help": "share of the later checkpoints that may dip below that level"})
    max_velocity_ratio: float = field(default=0.25, metadata={"help": "Phase II / Phase I rate away from init above which there is one phase"})
    frozen_diameter_fraction: float = field(default=0.045, metadata={"help": "Phase II diameter / Phase I travel below which Phase II is frozen"})
    cone_max_half_angle_fraction: float = field(default=0.5, metadata={"help": "Phase II cone's half-angle / angle from the first kernel to its axis at most, for a cone"})
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
    boundary_rule: str = ""  # one of BOUNDARY_RULES where a boundary is placed


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


def classify(angle: np.ndarray, times: Sequence[float], thresholds: PhaseThresholds = PhaseThresholds(),
             flow: Sequence[float] | None = None) -> PhaseResult:
    """Boundary and verdict of a trajectory from its pairwise angles (T, T) in degrees and times (T,).

    ``flow`` (T,), when the learning rate is known: each checkpoint's gradient-flow time (the
    learning rate integrated over training, Σ lr·Δ, in any unit). The displacement's slopes (the
    single-phase test, the Phase I and II rates) are then measured against it, so that a kernel
    that slows down only because its learning rate anneals still counts as moving; the boundary
    itself is not (the plateau reads no times; the corner is fitted against ``times``).
    """
    th = thresholds
    t = np.asarray(times, dtype=float)
    axis = t if flow is None else np.asarray(flow, dtype=float)  # the slopes' time axis
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
    plateau = plateau_boundary(angle, th.plateau_fraction, th.plateau_tolerance, th.min_phase_steps,
                               th.min_phase2_checkpoints)
    corner = find_boundary(angle[0], t, th.min_phase_steps, th.min_phase2_checkpoints)
    found = place_boundary(angle, t, th, plateau, corner, axis)
    if found is None:
        return PhaseResult(INSUFFICIENT.id, None, th, evidence, "too few checkpoints with increasing times to place a boundary")
    b, s1, s2, rule = found
    evidence.update(_evidence(angle, t, b, s1, s2, plateau, corner))
    ev = evidence
    travel, path2, diam2, drift = ev["phase1_travel_deg"], ev["phase2_path_deg"], ev["phase2_diameter_deg"], ev["phase2_drift_ratio"]
    half, init_to_axis, ratio = ev["phase2_half_angle_deg"], ev["init_to_axis_deg"], ev["velocity_ratio"]
    if ratio > th.max_velocity_ratio:
        return PhaseResult(SINGLE_PHASE.id, None, th, evidence,
                           f"no plateau: after the {rule} boundary the kernel still moves away from its initialisation "
                           f"at {ratio:.2f} times its earlier rate (two phases need below {th.max_velocity_ratio})")
    if not diam2 >= th.frozen_diameter_fraction * travel:  # NaN-safe: a still kernel has no drift ratio
        return PhaseResult(TWO_PHASE_FROZEN.id, b, th, evidence,
                           f"Phase I moved the kernel {travel:.1f}°; afterwards it stays within {diam2:.2f}° "
                           f"(frozen below {th.frozen_diameter_fraction:.0%} of Phase I)", rule)
    narrow = half <= th.cone_max_half_angle_fraction * init_to_axis
    settled = drift <= th.cone_max_drift_ratio
    if narrow and settled:
        return PhaseResult(TWO_PHASE_CONE.id, b, th, evidence,
                           f"after Phase I ({travel:.1f}°) the kernel keeps moving ({path2:.1f}° of path) but stays "
                           f"within {half:.1f}° of an axis {init_to_axis:.1f}° from the first kernel and does not leave "
                           f"that cone (drift ratio {drift:.2f} <= {th.cone_max_drift_ratio})", rule)
    why = (f"its cone's half-angle is {half:.1f}°, more than {th.cone_max_half_angle_fraction} x the "
           f"{init_to_axis:.1f}° from the first kernel to its axis"
           if not narrow else f"it leaves the region it was in (drift ratio {drift:.2f} > {th.cone_max_drift_ratio})")
    return PhaseResult(NO_CONE.id, b, th, evidence, f"after Phase I the kernel does not settle into a cone: {why}", rule)


def _evidence(angle: np.ndarray, t: np.ndarray, b: int, s1: float, s2: float, plateau: PlateauBoundary,
              corner: tuple[int, float, float] | None) -> dict[str, float]:
    """The numbers behind a verdict with its boundary at checkpoint b (EVIDENCE_KEYS from the third on)."""
    last = len(t) - 1
    path2, diam2 = path_and_diameter(angle, b + 1, last)
    half, init_to_axis = axis_angles(angle, b + 1, last)
    rates = step_rates(angle, t)
    return {
        "boundary_time": float(t[b]),
        "phase1_travel_deg": float(angle[0, b]),
        "phase1_rate_deg": s1,
        "phase2_rate_deg": s2,
        "velocity_ratio": abs(s2) / s1 if s1 > 0 else math.inf,
        "phase1_median_step_velocity_deg": float(np.nanmedian(rates[:b])),
        "phase2_median_step_velocity_deg": float(np.nanmedian(rates[b:])),
        "phase2_path_deg": path2,
        "phase2_diameter_deg": diam2,
        "phase2_diameter_over_path": diam2 / path2 if path2 > 0 else math.nan,
        "phase2_drift_ratio": drift_ratio(angle, b + 1, last),
        "phase2_half_angle_deg": half,
        "init_to_axis_deg": init_to_axis,
        "corner_boundary_time": float(t[corner[0]]) if corner is not None else math.nan,
        "plateau_boundary_time": math.nan if plateau.index is None else float(t[plateau.index]),
        "plateau_level_deg": plateau.level_deg, "plateau_below_share": plateau.below_share,
    }


def place_boundary(angle: np.ndarray, t: np.ndarray, th: PhaseThresholds, plateau: PlateauBoundary,
                   corner: tuple[int, float, float] | None,
                   axis: np.ndarray | None = None) -> tuple[int, float, float, str] | None:
    """Phase I's last checkpoint, the slopes of the displacement line before and after it, and the rule.

    The plateau boundary where the angle from the first kernel reaches its plateau and leaves room
    for both phases; else the displacement corner (fitted against time ``t``). None when neither
    can be placed. The slopes are those of the two-piece line with its corner at the boundary,
    against ``axis`` (gradient-flow time; default ``t``).
    """
    axis = t if axis is None else axis
    b = plateau.index
    if b is not None and th.min_phase_steps <= b < len(t) - th.min_phase2_checkpoints and t[0] < t[b] < t[-1]:
        rule = "plateau"
    elif corner is not None:
        b, rule = corner[0], "corner"
    else:
        return None
    _, s1, s2 = _hinge_fit(axis, angle[0], float(axis[b]))
    return b, s1, s2, rule


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


def cone_width(kernels: Sequence[Tensor], boundary: int, k: int, statistic: str = CONE_STATISTIC,
               spaces: Sequence[Tensor] | None = None) -> ConeWidth:
    """Cone width around the Phase II mean kernel (module docstring); kernels as the verdict saw them.

    ``kernels`` may be a sequence that loads each kernel when indexed: one is held at a time (the
    Phase II mean is accumulated as it goes; Phase II's kernels are read twice, the others once).
    ``spaces``, when given, are the kernels' top-k eigenspaces (N, k) already computed
    (``dynamics.top_eigenspace`` of each), so that no kernel is read for them.
    """
    def sample(i: int) -> Tensor:
        return sample_kernel(kernels[i]).to(torch.float64)  # (N, N)

    t = len(kernels)
    total: Tensor | None = None
    for i in range(boundary + 1, t):  # the mean of Phase II's unit sample kernels, one kernel at a time
        s = sample(i)
        unit = s / torch.linalg.vector_norm(s)  # (N, N)
        total = unit if total is None else total + unit
    assert total is not None, "cone_width needs a checkpoint after the boundary"
    mean = total / (t - boundary - 1)  # (N, N)
    if subspaces_informative(k, mean.shape[0]):
        reference = top_eigenspace(mean, k)
        stats = [angle_statistics(subspace_angles(spaces[i] if spaces is not None else top_eigenspace(sample(i), k),
                                                  reference)) for i in range(t)]
    else:
        stats = [dict(NO_ANGLES) for _ in range(t)]
    every = {name: [s[name] for s in stats] for name in ANGLE_STATISTICS}
    half = max(kernel_angle_deg(sample(i), mean) for i in range(boundary + 1, t))
    return ConeWidth(k, statistic, max(every[statistic][boundary + 1 :]), every[statistic], every, half,
                     kernel_angle_deg(sample(0), mean))
