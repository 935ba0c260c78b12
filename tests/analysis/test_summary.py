"""The assembled per-checkpoint metrics against direct computations."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from entk_probe.analysis.dynamics import center, kernel_angle_deg, kernel_distance, subspaces_informative
from entk_probe.analysis.phases import cone_width
from entk_probe.analysis.summary import buffer_shares, summarize
from entk_probe.analysis.trajectories import make_trajectory
from entk_probe.analysis.verdicts import VERDICTS


def _psd_path(steps: int, n: int = 12, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 40, generator=gen, dtype=torch.float64)
    out = []
    for _ in range(steps):
        f = f + 0.3 * torch.randn(n, 40, generator=gen, dtype=torch.float64)
        out.append(f @ f.T)
    return out


def test_metrics_equal_direct_computations() -> None:
    kernels = _psd_path(8)
    times = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
    labels = torch.tensor([0, 1, 2] * 4)
    logits = [torch.randn(12, 3, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    s = summarize(kernels, times, num_classes=3, labels=labels, logits=logits)
    row = s.checkpoints[3]
    assert math.isclose(row.distance_from_first, kernel_distance(kernels[0], kernels[3]), rel_tol=1e-12)
    assert math.isclose(row.centered_angle_to_last_deg, kernel_angle_deg(center(kernels[3]), center(kernels[7])), rel_tol=1e-12)
    assert math.isclose(row.velocity, kernel_distance(kernels[3], kernels[4]) / 1.0, rel_tol=1e-12)
    assert math.isclose(row.angular_velocity_deg, kernel_angle_deg(center(kernels[3]), center(kernels[4])), rel_tol=1e-12)
    assert math.isclose(row.accuracy, float((logits[3].argmax(1) == labels).double().mean()))
    assert math.isclose(row.disagreement_with_previous, float((logits[3].argmax(1) != logits[2].argmax(1)).double().mean()))
    assert math.isnan(s.checkpoints[0].disagreement_with_previous) and math.isnan(s.checkpoints[-1].velocity)
    assert set(row.subspace_to_next) == {"largest", "mean", "rms", "smallest"} and s.checkpoints[-1].subspace_to_next == {}
    assert s.drives_verdict == "centered" and s.phases.verdict in {v.id for v in VERDICTS}
    np.testing.assert_allclose(s.centered_angle[2, 5], kernel_angle_deg(center(kernels[2]), center(kernels[5])), rtol=1e-12)


def test_phase_labels_and_cone_on_a_planted_cone() -> None:
    tr = make_trajectory("cone", noise_deg=0.3)
    s = summarize(tr.kernels, tr.times, num_classes=3)
    assert s.phases.verdict == "two-phase-cone" and s.cone is not None
    b = s.phases.boundary
    assert [r.phase for r in s.checkpoints] == ["I"] * (b + 1) + ["II"] * (len(tr.times) - b - 1)
    assert math.isnan(s.checkpoints[0].accuracy)  # no labels


def test_buffer_shares_split_each_step() -> None:
    a, m, b = _psd_path(3, seed=4)
    (share,) = buffer_shares([a], [m], [b])
    weights, buffers = kernel_angle_deg(center(a), center(m)), kernel_angle_deg(center(m), center(b))
    assert math.isclose(share, buffers / (weights + buffers), rel_tol=1e-12)
    assert buffer_shares([a], [b], [b]) == [0.0]  # the whole step came from the weights


def test_probe_classes_other_than_the_models_outputs() -> None:
    kernels = _psd_path(8)
    labels = torch.arange(12) % 6  # six probe classes, a three-logit model
    logits = [torch.randn(12, 3) for _ in range(8)]
    s = summarize(kernels, list(range(8)), num_classes=3, labels=labels, label_classes=6, logits=logits)
    assert all(math.isnan(r.accuracy) for r in s.checkpoints)
    assert all(math.isfinite(r.alignment) for r in s.checkpoints)


def test_subspace_angles_are_not_measured_when_k_leaves_no_room() -> None:
    # Centred (N, N) kernels have rank N - 1: for k >= N - 1 every top-k eigenspace is the
    # complement of the ones vector, and scipy finds all angles 0 for any two kernels.
    kernels = _psd_path(8, n=4)
    a, b = (np.linalg.eigh(center(k).numpy())[1][:, -3:] for k in kernels[:2])
    np.testing.assert_allclose(scipy.linalg.subspace_angles(a, b), 0, atol=1e-7)
    s = summarize(kernels, [float(t) for t in range(8)], num_classes=3)  # k defaults to the 3 classes
    assert all(math.isnan(v) for row in s.checkpoints[:-1] for v in row.subspace_to_next.values())
    cone = cone_width([center(k) for k in kernels], boundary=3, k=3)
    assert all(math.isnan(v) for v in cone.per_checkpoint_deg) and math.isnan(cone.width_deg)
    assert cone.frobenius_half_angle_deg > 0  # the kernels' own angles are still measured
    roomy = summarize(kernels, [float(t) for t in range(8)], num_classes=3, k=2)
    assert all(0 < row.subspace_to_next["largest"] <= 90 for row in roomy.checkpoints[:-1])
    assert not subspaces_informative(3, 4) and subspaces_informative(2, 4)
