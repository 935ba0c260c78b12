"""Gradient-flow time: training time weighted by the learning rate, as the seed paper measures it.

Under gradient flow the parameters move at a speed proportional to the learning rate, so a
kernel whose motion slows down only because its learning rate anneals keeps a constant speed
per unit of Σ lr·Δt. ``phases.classify`` measures the displacement's slopes (the single-phase
test, the Phase I and Phase II rates) against it where the run recorded its learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def flow_time(times: Sequence[float], learning_rates: Sequence[float]) -> np.ndarray:
    """(T,) the learning rate integrated over time up to each checkpoint, by the trapezoid rule.

    ``times`` (T,) non-decreasing, in the run's unit (epochs or steps); ``learning_rates`` (T,)
    the rate recorded at each checkpoint. Units: learning rate x time unit; 0 at the first.
    """
    t = np.asarray(times, dtype=float)  # (T,)
    lr = np.asarray(learning_rates, dtype=float)  # (T,)
    steps = 0.5 * (lr[1:] + lr[:-1]) * np.diff(t)  # (T-1,)
    return np.concatenate([[0.0], np.cumsum(steps)])
