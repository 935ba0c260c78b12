"""Phase I as the fast phase: the kernel's speed over windows of one fixed duration.

Δ is the largest gap between consecutive checkpoints, so that early (dense) and late (sparse)
windows measure motion over the same duration and every window spans at least one step. The
window from checkpoint i ends at the first checkpoint at least Δ later; its speed is the centred
angle between the two over the time between them (degrees per unit time). A running median of
three windows gives an isolated outlier its neighbours' value.

The speed boundary is the first checkpoint b from which the speed stays low: the first candidate
(``min_before`` windows before it, ``min_after`` checkpoints after it) whose fall ratio, the
fastest window from b on over the median window before b, is at most ``max_fall_ratio``: every
later window is slower than that fraction of Phase I's typical speed. The first such fall, not
the deepest: under a decaying learning rate Phase II keeps slowing down, and the deepest fall
would sit at the end of the run. Windows that straddle the fall are partly fast, so the boundary
then moves on past the last window from the first candidate on that is faster than the
geometric mean of the median speeds before and after that candidate. A kernel that keeps its
pace (a constant learning rate, with the fast phase shorter than Δ) has no speed boundary; its
smallest fall ratio is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeedBoundary:
    index: int | None  # the first checkpoint from which the kernel stays slow; None: no such fall
    window: float  # Δ, in the run's time unit
    speeds: list[float]  # smoothed window speeds, one per checkpoint (NaN where no full window follows)
    before: float  # median smoothed speed of the windows before the boundary (degrees per unit time)
    after: float  # median smoothed speed of the windows from the boundary on
    fall_ratio: float = math.nan  # the fastest window from the boundary on over ``before``; the smallest over the candidates


def _smoothed(raw: np.ndarray) -> np.ndarray:
    out = np.full_like(raw, np.nan)
    for i in range(len(raw)):
        near = raw[max(0, i - 1) : i + 2]
        near = near[np.isfinite(near)]
        if np.isfinite(raw[i]) and len(near):
            out[i] = float(np.median(near))
    return out


def window_speeds(angle: np.ndarray, times: np.ndarray) -> tuple[float, np.ndarray]:
    """(Δ, smoothed speed of the window from each checkpoint (T,), NaN where no full window follows)."""
    t = np.asarray(times, dtype=float)
    gaps = np.diff(t)
    window = float(gaps.max()) if len(gaps) else math.nan
    raw = np.full(len(t), np.nan)
    if not window > 0:
        return window, raw
    for i in range(len(t)):
        later = np.flatnonzero(t >= t[i] + window * (1 - 1e-9))
        if len(later):
            j = int(later[0])
            raw[i] = angle[i, j] / (t[j] - t[i])
    return window, _smoothed(raw)


def speed_boundary(angle: np.ndarray, times: np.ndarray, max_fall_ratio: float = 0.6, min_before: int = 2,
                   min_after: int = 4) -> SpeedBoundary:
    """The speed boundary of a trajectory from its pairwise angles (T, T, degrees) and times (T,)."""
    window, speeds = window_speeds(angle, times)
    finite = np.flatnonzero(np.isfinite(speeds))
    best: tuple[float, int] | None = None  # the first candidate within max_fall_ratio, else the smallest ratio
    for k in range(max(min_before, 1), len(finite)):
        b = int(finite[k])
        if b > len(speeds) - 1 - min_after:
            break
        typical = float(np.median(speeds[finite[:k]]))
        ratio = float(speeds[finite[k:]].max()) / typical if typical > 0 else math.inf
        if best is None or ratio < best[0] - 1e-12:
            best = (ratio, b)
        if ratio <= max_fall_ratio:
            break
    if best is None:
        return SpeedBoundary(None, window, speeds.tolist(), math.nan, math.nan)
    ratio, start = best
    before = float(np.median(speeds[[i for i in finite if i < start]]))
    after = float(np.median(speeds[[i for i in finite if i >= start]]))
    if ratio > max_fall_ratio:
        return SpeedBoundary(None, window, speeds.tolist(), before, after, ratio)
    # Windows that straddle the fall are partly fast: the boundary is after the last window above the
    # geometric mean of the two levels.
    threshold = math.sqrt(before * after)
    last_fast = max([int(i) for i in finite if i >= start and speeds[i] > threshold], default=start - 1)
    b = min(last_fast + 1, len(speeds) - 1 - min_after)
    before = float(np.median(speeds[[i for i in finite if i < b]]))
    after = float(np.median(speeds[[i for i in finite if i >= b]]))
    return SpeedBoundary(b, window, speeds.tolist(), before, after, ratio)
