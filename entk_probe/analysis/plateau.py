"""Phase I's end as the plateau of the angle from the first kernel.

Phase I is the kernel's initial motion away from its initialisation; Phase II is what follows once
it has reached the angular distance from the first kernel that it then keeps, however much it still
moves (the cone effect: the kernel keeps moving but its angle from where it started saturates).
With d_j the (centred) angle between the first kernel and checkpoint j's, the plateau boundary is
the first checkpoint b (``min_before`` steps after the first, ``min_after`` checkpoints before the
last) that is already on the plateau and from which the kernel stays there:

    d_b, d_b+1 >= fraction · L_b,   #{j > b + 1 : d_j < fraction · L_b} <= max(1, tolerance · #{j > b + 1}),
    d_b >= REACH · M_b,

with L_b the median of d over the ``window`` checkpoints after b (the level the kernel holds next)
and M_b the median over all of them. The first line says the kernel has stopped rising (it is
at the level of what follows) and does not fall back below it but for a few dips (SGD or a high
learning rate swing the kernel by tens of degrees a step; one dip is always allowed, so that a
run with few checkpoints left is not held to none); the second that it has come most of the
way (a run whose kernel has hardly started moving, as under a slow warm-up, is not on a plateau).
A local level rather than the whole rest's lets a Phase II drift slowly outwards; asking the
boundary and the checkpoint after it to be on the plateau keeps a single far-out checkpoint of
Phase I (a transient) from ending it early.

Why not a speed. The rule reads no time at all, only the order of the checkpoints and their
angles from the first one, so neither the learning-rate schedule (a cosine or OneCycle run slows
down when its learning rate anneals, long after the kernel reached its plateau) nor the spacing of
the checkpoints (dense early ones, then one an epoch) can move it. docs/phases.md has the
evidence across schedules and probe samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


REACH = 0.75  # the boundary is at least this fraction of the way to the rest of the run's median level


@dataclass(frozen=True)
class PlateauBoundary:
    index: int | None  # the first checkpoint on the plateau; None: none qualifies
    level_deg: float  # L_b at the boundary (NaN without one): d's median over the next ``window`` checkpoints, degrees
    reached_deg: float  # d_b at the boundary (NaN without one)
    below_share: float  # the share of checkpoints after b + 1 below fraction · L_b (NaN without one)


def plateau_boundary(angle: np.ndarray, fraction: float = 0.9, tolerance: float = 0.1, min_before: int = 2,
                     min_after: int = 4, window: int | None = 5) -> PlateauBoundary:
    """The plateau boundary (module docstring) from the pairwise angles (T, T) in degrees."""
    d = np.asarray(angle, dtype=float)[0]  # (T,) the angle from the first kernel
    t = len(d)
    for b in range(max(min_before, 1), t - min_after):
        level = float(np.nanmedian(d[b + 1 : None if window is None else b + 1 + window]))  # the level that follows
        if not level > 0 or not d[b] >= REACH * float(np.nanmedian(d[b + 1 :])):
            continue
        floor = fraction * level
        rest = d[b + 2 :]
        below = int(np.sum(~(rest >= floor)))  # NaN counts as below
        if d[b] >= floor and d[b + 1] >= floor and below <= max(1.0, tolerance * len(rest)):
            return PlateauBoundary(b, level, float(d[b]), below / len(rest))
    return PlateauBoundary(None, math.nan, math.nan, math.nan)
