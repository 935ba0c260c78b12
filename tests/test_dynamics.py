"""Distances and velocities against direct numpy computations."""

from __future__ import annotations

import math

import numpy as np
import torch

from entk_probe.dynamics import cosine, kernel_angle_deg, kernel_distance, velocities


def test_cosine_distance_and_angle_match_numpy() -> None:
    a, b = torch.randn(6, 6, dtype=torch.float64), torch.randn(6, 6, dtype=torch.float64)
    x, y = a.numpy().ravel(), b.numpy().ravel()
    rho = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
    assert math.isclose(cosine(a, b), rho, rel_tol=1e-14)
    assert math.isclose(kernel_distance(a, b), 1 - rho, rel_tol=1e-12)
    assert math.isclose(kernel_angle_deg(a, b), np.degrees(np.arccos(rho)), rel_tol=1e-12)
    assert kernel_angle_deg(a, a) == 0.0
    assert math.isnan(cosine(a, torch.zeros_like(a)))


def test_velocity_is_distance_per_unit_time() -> None:
    ks = [torch.randn(4, 4, dtype=torch.float64) for _ in range(3)]
    v = velocities(ks, [0.0, 0.5, 2.0])
    assert math.isclose(v[0], kernel_distance(ks[0], ks[1]) / 0.5)
    assert math.isclose(v[1], kernel_distance(ks[1], ks[2]) / 1.5)
    assert math.isnan(velocities(ks[:2], [1.0, 1.0])[0])


def test_nearly_parallel_kernels_keep_their_small_distance() -> None:
    a = torch.randn(8, 8, dtype=torch.float64)
    direction = torch.randn(8, 8, dtype=torch.float64)
    direction -= (direction * a).sum() / (a * a).sum() * a  # orthogonal to a
    eps = 1e-9
    b = a + eps * direction * (a.norm() / direction.norm())  # angle atan(eps)
    assert math.isclose(kernel_angle_deg(a, b), math.degrees(math.atan(eps)), rel_tol=1e-6)
    assert math.isclose(kernel_distance(a, b), 2 * math.sin(math.atan(eps) / 2) ** 2, rel_tol=1e-6)  # = 1 - cos, no cancellation
