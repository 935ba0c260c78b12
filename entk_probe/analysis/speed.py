"""Phase I as the fast phase: the kernel's speed over windows of one fixed duration.

Reported as evidence beside the displacement corner (``phases``); the verdict does not use it
yet. Δ is the largest gap between consecutive checkpoints, so that early (dense) and late
(sparse) windows measure motion over the same duration and every window spans at least one
step. The window from checkpoint i ends at the first checkpoint at least Δ later; its speed is
the centred angle between the two over the time between them (degrees per unit time). A running
median of three windows gives an isolated outlier its neighbours' value. The fast level is the
largest smoothed speed, the slow level the median of windows starting in the second half of the
run; speeds above their geometric mean are fast. Phase I's last window is the last fast one, and
the speed boundary is the checkpoint after its start: from there on the kernel stays slow. There
is no speed boundary when the slow level is more than ``max_ratio`` of the fast one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeedBoundary:
    index: int | None  # the first checkpoint from which the kernel stays slow; None: no slow-down
    window: float  # Δ, in the run's time unit
    speeds: list[float]  # smoothed window speeds, one per checkpoint (NaN where no full window follows)
    before: float  # median smoothed speed of the fast windows (degrees per unit time)
    after: float  # median smoothed speed of the windows from the boundary on


def _smoothed(raw: np.ndarray) -> np.ndarray:
    out = np.full_like(raw, np.nan)
    for i in range(len(raw)):
        near = raw[max(0, i - 1) : i + 2]
        near = near[np.isfinite(near)]
        if np.isfinite(raw[i]) and len(near):
            out[i] = float(np.median(near))
    return out


def speed_boundary(angle: np.ndarray, times: np.ndarray, max_ratio: float = 0.25) -> SpeedBoundary:
    """The speed boundary of a trajectory from its pairwise angles (T, T, degrees) and times (T,)."""
    t = np.asarray(times, dtype=float)
    gaps = np.diff(t)
    window = float(gaps.max()) if len(gaps) else math.nan
    raw = np.full(len(t), np.nan)
    if not window > 0:
        return SpeedBoundary(None, window, raw.tolist(), math.nan, math.nan)
    for i in range(len(t)):
        later = np.flatnonzero(t >= t[i] + window * (1 - 1e-9))
        if len(later):
            j = int(later[0])
            raw[i] = angle[i, j] / (t[j] - t[i])
    speeds = _smoothed(raw)
    finite = np.flatnonzero(np.isfinite(speeds))
    late = [i for i in finite if t[i] >= (t[0] + t[-1]) / 2] or list(finite[-1:])
    if len(finite) < 2 or not late:
        return SpeedBoundary(None, window, speeds.tolist(), math.nan, math.nan)
    fast, slow = float(np.max(speeds[finite])), float(np.median(speeds[late]))
    if not fast > 0 or slow > max_ratio * fast:
        return SpeedBoundary(None, window, speeds.tolist(), fast, slow)
    threshold = math.sqrt(fast * max(slow, 1e-12 * fast))
    last_fast = int(max(i for i in finite if speeds[i] > threshold))
    index = min(last_fast + 1, len(t) - 1)
    before = float(np.median(speeds[[i for i in finite if i <= last_fast]]))
    after_idx = [i for i in finite if i >= index]
    after = float(np.median(speeds[after_idx])) if after_idx else math.nan
    return SpeedBoundary(index, window, speeds.tolist(), before, after)
