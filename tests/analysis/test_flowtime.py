"""Gradient-flow time by hand: the trapezoid of the learning rate over time."""

from __future__ import annotations

import numpy as np

from entk_probe.analysis.flowtime import flow_time


def test_flow_time_integrates_the_learning_rate_by_the_trapezoid_rule() -> None:
    times = [0.0, 1.0, 3.0, 4.0]
    rates = [0.1, 0.1, 0.01, 0.0]
    # 0; 0.1 x 1; + (0.1 + 0.01) / 2 x 2 = 0.11; + 0.005 x 1
    assert np.allclose(flow_time(times, rates), [0.0, 0.1, 0.21, 0.215], rtol=0, atol=1e-15)
    assert flow_time([5.0], [0.3]).tolist() == [0.0]
