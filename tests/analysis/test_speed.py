"""The speed boundary: right on planted trajectories, an outlier does not move it, no slow-down no boundary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entk_probe.analysis.dynamics import center, kernel_angle_deg, pairwise
from entk_probe.analysis.speed import speed_boundary
from entk_probe.analysis.trajectories import make_trajectory


def _angles(kernels: list[torch.Tensor]) -> np.ndarray:
    return pairwise([center(k) for k in kernels])[1]


@pytest.mark.parametrize("kind", ["cone", "frozen", "drift"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_planted_two_phase_trajectories_it_is_within_one_checkpoint(kind: str, seed: int) -> None:
    tr = make_trajectory(kind, noise_deg=0.5, seed=seed)
    found = speed_boundary(_angles(tr.kernels), np.array(tr.times))
    assert found.index is not None and abs(found.index - tr.boundary) <= 1, (found.index, tr.boundary)
    assert found.before > 4 * found.after and found.window == max(np.diff(tr.times))


def test_a_window_speed_is_the_angle_over_the_time_between_its_ends() -> None:
    tr = make_trajectory("cone", noise_deg=0.5)
    angle, t = _angles(tr.kernels), np.array(tr.times)
    found = speed_boundary(angle, t)
    i = len(t) - 5  # a late window: from i to the next checkpoint Δ later
    j = int(np.flatnonzero(t >= t[i] + found.window)[0])
    raw = [angle[k, int(np.flatnonzero(t >= t[k] + found.window)[0])] /
           (t[int(np.flatnonzero(t >= t[k] + found.window)[0])] - t[k]) for k in (i - 1, i, i + 1)]
    assert found.speeds[i] == pytest.approx(float(np.median(raw)))
    assert kernel_angle_deg(center(tr.kernels[i]), center(tr.kernels[j])) == pytest.approx(angle[i, j])


def test_an_isolated_outlier_in_phase_one_does_not_move_it() -> None:
    tr = make_trajectory("cone", noise_deg=0.5)
    kernels = list(tr.kernels)
    swing = torch.randn(kernels[0].shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    outlier = tr.boundary - 1  # a checkpoint that swings far out and the run comes back
    kernels[outlier] = kernels[outlier] + 3 * torch.linalg.vector_norm(kernels[outlier]) * (swing + swing.T) / 2
    found = speed_boundary(_angles(kernels), np.array(tr.times))
    assert found.index is not None and abs(found.index - tr.boundary) <= 1


def test_no_slow_down_no_boundary() -> None:
    tr = make_trajectory("single", noise_deg=0.5)
    assert speed_boundary(_angles(tr.kernels), np.array(tr.times)).index is None
    assert speed_boundary(np.zeros((1, 1)), np.array([0.0])).index is None
