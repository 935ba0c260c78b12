"""Kernel dynamics against direct numpy and scipy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from entk_probe.analysis.dynamics import (
    accuracy,
    alignment,
    angle_statistics,
    center,
    cosine,
    disagreement,
    kernel_angle_deg,
    kernel_distance,
    pairwise,
    path_and_diameter,
    sample_kernel,
    spectrum,
    step_rates,
    subspace_angles,
    top_eigenspace,
)


def _psd(n: int, seed: int) -> torch.Tensor:
    f = torch.randn(n, 3 * n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return f @ f.T


def test_cosine_distance_and_angle_match_numpy() -> None:
    a, b = torch.randn(6, 6, dtype=torch.float64), torch.randn(6, 6, dtype=torch.float64)
    x, y = a.numpy().ravel(), b.numpy().ravel()
    rho = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
    assert math.isclose(cosine(a, b), rho, rel_tol=1e-14)
    assert math.isclose(kernel_distance(a, b), 1 - rho, rel_tol=1e-12)
    assert math.isclose(kernel_angle_deg(a, b), np.degrees(np.arccos(rho)), rel_tol=1e-12)
    assert kernel_angle_deg(a, a) == 0.0
    assert math.isnan(cosine(a, torch.zeros_like(a)))


def test_nearly_parallel_kernels_keep_their_small_distance() -> None:
    a = torch.randn(8, 8, dtype=torch.float64)
    direction = torch.randn(8, 8, dtype=torch.float64)
    direction -= (direction * a).sum() / (a * a).sum() * a  # orthogonal to a
    eps = 1e-9
    b = a + eps * direction * (a.norm() / direction.norm())  # angle atan(eps)
    assert math.isclose(kernel_angle_deg(a, b), math.degrees(math.atan(eps)), rel_tol=1e-6)
    assert math.isclose(kernel_distance(a, b), 2 * math.sin(math.atan(eps) / 2) ** 2, rel_tol=1e-6)  # = 1 - cos, no cancellation


def test_pairwise_matrices_equal_direct_numpy() -> None:
    kernels = [_psd(7, s) for s in range(5)]
    distance, angle = pairwise(kernels)
    flat = np.stack([k.numpy().ravel() / np.linalg.norm(k.numpy()) for k in kernels])
    rho = np.clip(flat @ flat.T, -1, 1)
    np.testing.assert_allclose(distance, 1 - rho, rtol=1e-10, atol=1e-14)
    off = ~np.eye(5, dtype=bool)  # arccos of a rounded 1.0 is ~1e-6 degrees, not 0: compare off the diagonal
    np.testing.assert_allclose(angle[off], np.degrees(np.arccos(rho))[off], rtol=1e-10)
    assert np.array_equal(distance, distance.T) and np.all(np.diag(angle) == 0)


def test_step_rates_are_angle_per_unit_time() -> None:
    ks = [torch.randn(4, 4, dtype=torch.float64) for _ in range(3)]
    _, angle = pairwise(ks)
    rates = step_rates(angle, [0.0, 0.5, 2.0])
    assert math.isclose(rates[0], kernel_angle_deg(ks[0], ks[1]) / 0.5, rel_tol=1e-12)
    assert math.isclose(rates[1], kernel_angle_deg(ks[1], ks[2]) / 1.5, rel_tol=1e-12)
    assert math.isnan(step_rates(angle[:2, :2], [1.0, 1.0])[0])


def test_centering_matches_h_k_h() -> None:
    k = _psd(6, 1)
    h = np.eye(6) - np.ones((6, 6)) / 6
    np.testing.assert_allclose(center(k).numpy(), h @ k.numpy() @ h, atol=1e-12)
    full = torch.randn(5, 5, 2, 2, dtype=torch.float64)
    h5 = np.eye(5) - 1 / 5
    np.testing.assert_allclose(center(full)[:, :, 1, 0].numpy(), h5 @ full[:, :, 1, 0].numpy() @ h5, atol=1e-12)
    assert torch.equal(sample_kernel(full), full[:, :, 0, 0] + full[:, :, 1, 1])


def test_alignment_against_numpy() -> None:
    k = _psd(8, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    y = np.eye(3)[labels.numpy()]
    y = y - y.mean(0)
    target = y @ y.T
    expected = (k.numpy() * target).sum() / (np.linalg.norm(k.numpy()) * np.linalg.norm(target))
    assert math.isclose(alignment(k, labels, 3), expected, rel_tol=1e-12)
    # a kernel built from the labels themselves is perfectly aligned
    assert math.isclose(alignment(torch.from_numpy(target), labels, 3), 1.0, rel_tol=1e-12)


def test_spectrum_against_numpy() -> None:
    k = _psd(9, 3)
    eig = np.sort(np.linalg.eigvalsh(k.numpy()))[::-1]
    out = spectrum(k, top=4)
    np.testing.assert_allclose(out["top_eigenvalues"], eig[:4], rtol=1e-10)
    p = eig / eig.sum()
    assert math.isclose(out["effective_rank"], float(np.exp(-(p * np.log(p)).sum())), rel_tol=1e-10)
    assert math.isclose(spectrum(torch.eye(9, dtype=torch.float64))["effective_rank"], 9.0, rel_tol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_subspace_angles_equal_scipys(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    n, k = 30, 5
    a = torch.randn(n, k, generator=gen, dtype=torch.float64)
    tilt = [1e-7, 1e-3, 0.3, 3.0, 100.0, 1e3][seed]  # from nearly equal to nearly orthogonal subspaces
    b = a + tilt * torch.randn(n, k, generator=gen, dtype=torch.float64)
    np.testing.assert_allclose(subspace_angles(a, b), scipy.linalg.subspace_angles(a.numpy(), b.numpy()), rtol=1e-10, atol=1e-10)
    c = torch.randn(n, k + 2, generator=gen, dtype=torch.float64)  # different dimensions
    np.testing.assert_allclose(subspace_angles(a, c), scipy.linalg.subspace_angles(a.numpy(), c.numpy()), rtol=1e-10, atol=1e-10)


def _planted(angles: list[float], seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Two orthonormal bases (n, k) whose principal angles are ``angles`` (radians), the second's columns
    mixed by a random rotation."""
    rng = np.random.default_rng(seed)
    k = len(angles)
    q, _ = np.linalg.qr(rng.standard_normal((n, 2 * k)))  # (n, 2k) orthonormal
    theta = np.asarray(angles)
    rotation, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return q[:, :k], (np.cos(theta) * q[:, :k] + np.sin(theta) * q[:, k:]) @ rotation


HALF_PI = math.pi / 2
SMALL = [1e-9, 1e-6, 1e-3, 0.5]  # all below 45°: both take every angle from its sine
LARGE = [HALF_PI - 1e-9, HALF_PI - 1e-6, 1.2, 0.9]  # all above 45°: both take every angle from its cosine
MIXED = [HALF_PI - 1e-9, 1.3, 0.3, 1e-6, 1e-9]  # on both sides of 45°


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("angles", [SMALL, LARGE], ids=["near 0", "near 90"])
def test_subspace_angles_near_0_and_90_degrees_equal_scipys(angles: list[float], seed: int) -> None:
    a, b = _planted(angles, seed)
    ours = subspace_angles(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(ours, scipy.linalg.subspace_angles(a, b), rtol=0, atol=2e-15)
    np.testing.assert_allclose(ours, sorted(angles, reverse=True), rtol=1e-6, atol=2e-15)  # 1e-9 rad to 1e-6 relative


@pytest.mark.parametrize("seed", range(10))
def test_subspace_angles_on_both_sides_of_45_degrees_keep_scipys_accuracy_where_it_loses_it(seed: int) -> None:
    """scipy picks sine or cosine from the wrong end when the angles straddle 45° (the docstring of
    ``subspace_angles`` says why we keep our own): it still agrees to the cosine's accuracy, and ours
    gives the planted angles to the sine's."""
    a, b = _planted(MIXED, seed)
    ours = subspace_angles(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(ours, scipy.linalg.subspace_angles(a, b), rtol=0, atol=1e-7)
    np.testing.assert_allclose(ours, sorted(MIXED, reverse=True), rtol=1e-6, atol=2e-15)


def test_eigenspaces_and_angle_statistics() -> None:
    k = torch.diag(torch.tensor([5.0, 4.0, 3.0, 0.5, 0.1], dtype=torch.float64))
    u = top_eigenspace(k, 2)
    assert torch.allclose(u.abs(), torch.eye(5, dtype=torch.float64)[:, :2])
    stats = angle_statistics(np.radians([10.0, 20.0, 60.0]))
    assert math.isclose(stats["largest"], 60.0) and math.isclose(stats["mean"], 30.0)
    assert math.isclose(stats["rms"], math.sqrt((100 + 400 + 3600) / 3)) and math.isclose(stats["smallest"], 10.0)


def test_function_space_metrics() -> None:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert math.isclose(accuracy(logits, torch.tensor([0, 1, 1])), 2 / 3)
    other = torch.tensor([[2.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    assert math.isclose(disagreement(logits, other), 2 / 3)


def test_path_and_diameter() -> None:
    angle = np.array([[0, 1, 2, 1.5], [1, 0, 1, 1], [2, 1, 0, 0.5], [1.5, 1, 0.5, 0]], dtype=float)
    assert path_and_diameter(angle, 0, 3) == (2.5, 2.0)
    assert path_and_diameter(angle, 1, 3) == (1.5, 1.0)


def test_accuracy_of_non_finite_logits_is_nan_not_a_number() -> None:
    from entk_probe.analysis.dynamics import accuracy

    labels = torch.tensor([0, 1, 2, 0])
    logits = torch.eye(3)[labels] * 5.0
    assert accuracy(logits, labels) == 1.0
    logits[2, 1] = float("nan")
    assert math.isnan(accuracy(logits, labels))  # argmax of NaN logits would have said 0.75


# ------------------------------------------------------------------ properties (hypothesis)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

# Kernels of any sign, scale (1e-150 to 1e150, so that squared norms would overflow or underflow)
# and rank, as float64 (N, N) matrices; zero kernels included.
SCALES = st.sampled_from([0.0, 1e-150, 1e-8, 1.0, 1e8, 1e150])
ENTRIES = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def kernel_sets(draw: st.DrawFn) -> list[torch.Tensor]:
    n = draw(st.integers(1, 6))
    t = draw(st.integers(1, 5))
    out = []
    for _ in range(t):
        a = draw(arrays(np.float64, (n, n), elements=ENTRIES)) * draw(SCALES)
        out.append(torch.from_numpy(a + a.T if draw(st.booleans()) else a))
    return out


@given(kernel_sets())
@settings(max_examples=300, deadline=None)
def test_distances_lie_in_0_2_and_angles_in_0_180_symmetric_for_any_kernels(kernels: list[torch.Tensor]) -> None:
    distance, angle = pairwise(kernels)
    assert np.array_equal(distance, distance.T, equal_nan=True) and np.array_equal(angle, angle.T, equal_nan=True)
    for i, a in enumerate(kernels):
        zero_i = not bool(a.abs().max() > 0)
        for j, b in enumerate(kernels):
            zero = zero_i or not bool(b.abs().max() > 0)
            assert math.isnan(distance[i, j]) == zero and math.isnan(angle[i, j]) == zero  # NaN only for a zero kernel
            if not zero:
                assert 0.0 <= distance[i, j] <= 2.0 + 1e-12 and 0.0 <= angle[i, j] <= 180.0
                assert distance[i, j] == pytest.approx(kernel_distance(a, b), abs=1e-12)
                assert angle[i, j] == pytest.approx(kernel_angle_deg(a, b), abs=1e-9)
        if not zero_i:
            assert distance[i, i] == 0.0 and angle[i, i] == 0.0
            assert kernel_angle_deg(a, -a) == pytest.approx(180.0) and kernel_distance(a, -a) == pytest.approx(2.0)


@given(kernel_sets(), st.integers(1, 6))
@settings(max_examples=150, deadline=None)
def test_principal_angles_lie_in_0_90(kernels: list[torch.Tensor], k: int) -> None:
    n = kernels[0].shape[0]
    k = min(k, n)
    a, b = (top_eigenspace(center(kern + kern.T), k) for kern in (kernels[0], kernels[-1]))
    theta = np.degrees(subspace_angles(a, b))
    assert theta.shape == (k,) and np.all((theta >= 0) & (theta <= 90 + 1e-9))


def test_axis_angles_from_pairwise_angles_equal_those_of_the_mean_unit_kernel() -> None:
    from entk_probe.analysis.dynamics import axis_angles

    gen = torch.Generator().manual_seed(5)
    kernels = [torch.randn(6, 6, generator=gen, dtype=torch.float64) for _ in range(7)]
    kernels = [k @ k.T + 0.5 * i * torch.eye(6, dtype=torch.float64) for i, k in enumerate(kernels)]
    _, angle = pairwise(kernels)
    units = [k / torch.linalg.vector_norm(k) for k in kernels]
    axis = torch.stack(units[3:]).mean(0)

    def to_axis(u: torch.Tensor) -> float:  # explicit: the angle between two matrices as vectors
        return math.degrees(math.acos(float((u * axis).sum() / torch.linalg.vector_norm(axis))))

    half, init = axis_angles(angle, 3, 6)
    assert half == pytest.approx(max(to_axis(u) for u in units[3:]), abs=1e-9)
    assert init == pytest.approx(to_axis(units[0]), abs=1e-9)
