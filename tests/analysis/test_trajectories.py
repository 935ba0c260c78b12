"""The synthetic trajectories plant exactly the angles they promise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from entk_probe.analysis.trajectories import KINDS, make_trajectory


def _angles(kernels: list[torch.Tensor]) -> np.ndarray:
    u = torch.stack([k.reshape(-1) / k.norm() for k in kernels])
    return np.degrees(np.arccos(np.clip((u @ u.T).numpy(), -1, 1)))


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_are_centred_symmetric_unit_matrices(kind: str) -> None:
    tr = make_trajectory(kind, n=10, noise_deg=0.5, seed=1)
    assert len(tr.kernels) == len(tr.times) == 21
    for k in tr.kernels:
        assert torch.allclose(k, k.T, atol=1e-12)
        assert torch.allclose(k.sum(dim=0), torch.zeros(10, dtype=torch.float64), atol=1e-10)
        assert math.isclose(float(k.norm()), 1.0, rel_tol=1e-12)
    assert list(tr.times) == sorted(tr.times)


def test_planted_angles() -> None:
    a = _angles(make_trajectory("cone", phase1_step_deg=8.0, cone_deg=3.0, seed=2).kernels)
    assert np.allclose([a[i, i + 1] for i in range(6)], 8.0, atol=1e-9)  # Phase I: 8 degrees a step
    assert math.isclose(a[0, 6], 48.0, abs_tol=1e-9)
    assert a[6, 7:].max() <= 3.0 + 1e-9 and a[6, 7:].min() >= 1.5 - 1e-9  # within the cap, off its centre
    drift = _angles(make_trajectory("drift", phase2_step_deg=2.0).kernels)
    assert math.isclose(drift[6, 20], 28.0, abs_tol=1e-9)  # 14 steps of 2 degrees along a great circle
    frozen = _angles(make_trajectory("frozen").kernels)
    assert frozen[6:, 6:].max() < 1e-5  # arccos of a rounded 1.0: a few 1e-6 degrees
    lazy = _angles(make_trajectory("lazy", lazy_deg=1.0).kernels)
    assert lazy.max() <= 1.0 + 1e-9


def test_single_phase_moves_at_one_speed_in_time() -> None:
    tr = make_trajectory("single")
    a = _angles(tr.kernels)
    rates = [a[i, i + 1] / (tr.times[i + 1] - tr.times[i]) for i in range(len(tr.times) - 1)]
    assert np.allclose(rates, rates[0], rtol=1e-6)


def test_a_planted_transient_swings_one_checkpoint_out_and_back() -> None:
    from entk_probe.analysis.dynamics import kernel_angle_deg

    plain = make_trajectory("cone", seed=3)
    swung = make_trajectory("cone", transient_deg=30.0, seed=3)
    out = plain.boundary - 1
    assert kernel_angle_deg(plain.kernels[out], swung.kernels[out]) == pytest.approx(30.0, abs=1e-9)
    assert all(torch.equal(a, b) for i, (a, b) in enumerate(zip(plain.kernels, swung.kernels)) if i != out)
    single = make_trajectory("single", transient_deg=30.0, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(make_trajectory("single", seed=3).kernels, single.kernels))


def test_a_transient_can_be_planted_steps_before_the_boundary_and_moves_the_corner_not_the_plateau() -> None:
    import numpy as np

    from entk_probe.analysis.dynamics import pairwise
    from entk_probe.analysis.phases import find_boundary
    from entk_probe.analysis.plateau import plateau_boundary

    tr = make_trajectory("frozen", noise_deg=0.3, transient_deg=40.0, transient_at=3, seed=0)
    angle = pairwise(tr.kernels)[1]
    assert tr.boundary - find_boundary(angle[0], np.array(tr.times), 2, 4)[0] >= 3  # the corner lands on the outlier
    assert abs(plateau_boundary(angle).index - tr.boundary) <= 1
    with pytest.raises(ValueError, match="transient_at"):
        make_trajectory("cone", transient_deg=10.0, transient_at=0)


def test_schedules_scale_each_step_by_the_learning_rate_and_keep_phase_one_travel() -> None:
    import math

    from entk_probe.analysis.dynamics import kernel_angle_deg
    from entk_probe.analysis.trajectories import lr_factor

    assert lr_factor("constant", 0.7) == 1.0 and lr_factor("step", 0.74) == 1.0 and lr_factor("step", 0.75) == 0.1
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5) and lr_factor("warmup-cosine", 0.05) == pytest.approx(0.5)
    assert lr_factor("onecycle", 0.0) == pytest.approx(0.04) and lr_factor("onecycle", 1.0) == pytest.approx(1e-4)
    tr = make_trajectory("drift", schedule="cosine", spacing="even")
    assert tr.times == [float(k) for k in range(21)]
    travel = sum(kernel_angle_deg(a, b) for a, b in zip(tr.kernels[:6], tr.kernels[1:7]))
    assert travel == pytest.approx(48.0, abs=1e-9)  # 6 steps of 8° on average, accelerated or not
    last = kernel_angle_deg(tr.kernels[-2], tr.kernels[-1])
    assert last == pytest.approx(2.0 * lr_factor("cosine", 19.5 / 20), rel=1e-9)  # Phase II's step, annealed
    expected = [0.0]
    for k in range(20):
        expected.append(expected[-1] + lr_factor("cosine", (k + 0.5) / 20))
    assert tr.flow == pytest.approx(expected, rel=1e-12) and math.isclose(tr.flow[1], lr_factor("cosine", 0.025))
