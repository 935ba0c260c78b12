"""Blocked pairwise products against an explicit all-in-memory reference, and the block size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from entk_probe.analysis.blocked import Mapped, block_size, blocked_pairwise, working_bytes
from entk_probe.analysis.dynamics import center, pairwise
from entk_probe.analysis.summary import summarize
from entk_probe.analysis.trajectories import make_trajectory


def _kernels(t: int = 7, n: int = 6, c: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """Full-mode (N, N, C, C) kernels of a drifting random feature map: some pairs far apart, consecutive
    ones a few degrees apart; one kernel exactly repeated (angle 0) to exercise the near-parallel path."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(n * c, 30, generator=gen, dtype=torch.float64)
    out = []
    for _ in range(t):
        f = f + 0.15 * torch.randn(n * c, 30, generator=gen, dtype=torch.float64)
        out.append((f @ f.T).reshape(n, c, n, c).permute(0, 2, 1, 3).contiguous())  # (N, N, C, C)
    if t > 4:
        out[4] = out[3].clone()
    return out


def _reference(kernels: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """S = 1 − ρ and arccos ρ in degrees from float64 dot products of whole kernels, all in memory."""
    flat = [k.reshape(-1).to(torch.float64) for k in kernels]
    t = len(flat)
    s, a = np.zeros((t, t)), np.zeros((t, t))
    for i in range(t):
        for j in range(t):
            rho = float(torch.dot(flat[i], flat[j]) / (flat[i].norm() * flat[j].norm()))
            rho = min(rho, 1.0)
            same = torch.equal(flat[i], flat[j])  # acos(1 − 1e-16) would be 1e-6°: the reference's own cancellation
            s[i, j], a[i, j] = (0.0, 0.0) if same else (1.0 - rho, math.degrees(math.acos(rho)))
    return s, a


@pytest.mark.parametrize("block", [1, 2, 3, 7])
def test_blocked_pairwise_equals_an_explicit_reference(block: int) -> None:
    kernels = _kernels()
    distance, angle, c_distance, c_angle = blocked_pairwise(kernels, block)
    ref_s, ref_a = _reference(kernels)
    ref_cs, ref_ca = _reference([center(k) for k in kernels])
    np.testing.assert_allclose(distance, ref_s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_distance, ref_cs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(angle, ref_a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_angle, ref_ca, rtol=0, atol=1e-12)
    assert angle[3, 4] == 0.0 and distance[3, 4] == 0.0  # a repeated kernel: exactly parallel
    apart = ~np.eye(7, dtype=bool)
    apart[3, 4] = apart[4, 3] = False
    assert angle[apart].min() > 0.5 and angle[apart].max() > 10  # the other pairs: both paths are exercised


@pytest.mark.parametrize("block", [1, 2, 3, 7])
def test_blocked_pairwise_equals_dynamics_pairwise(block: int) -> None:
    kernels = _kernels(seed=1)
    distance, angle, c_distance, c_angle = blocked_pairwise(kernels, block)
    old_d, old_a = pairwise(kernels)
    old_cd, old_ca = pairwise([center(k) for k in kernels])
    for new, old in ((distance, old_d), (angle, old_a), (c_distance, old_cd), (c_angle, old_ca)):
        np.testing.assert_allclose(new, old, rtol=1e-12, atol=1e-14)


def test_nearly_parallel_pairs_are_those_of_dynamics_pairwise_exactly() -> None:
    tr = make_trajectory("cone", noise_deg=0.3)  # Phase II steps well below the NEAR angle
    for block in (1, 4, len(tr.kernels)):
        _, angle, _, _ = blocked_pairwise(tr.kernels, block)
        old = pairwise(tr.kernels)[1]
        near = old < 2.0
        assert near.sum() > len(tr.kernels)  # the test covers such pairs
        assert np.array_equal(angle[near], old[near])


def test_a_zero_kernel_gives_nan_as_dynamics_pairwise() -> None:
    kernels = _kernels(t=4)
    kernels[2] = torch.zeros_like(kernels[2])
    distance, angle, _, _ = blocked_pairwise(kernels, 2)
    old_d, old_a = pairwise(kernels)
    np.testing.assert_array_equal(np.isnan(distance), np.isnan(old_d))
    np.testing.assert_array_equal(np.isnan(angle), np.isnan(old_a))
    assert np.isnan(angle[2]).all() and not np.isnan(angle[0, 1])


def test_block_size_fits_the_budget() -> None:
    kb = 8 * 1000
    assert block_size(kb, None, 12) == 12
    assert block_size(kb, 1, 12) == 1  # never below one kernel
    for budget in (10 * kb, 37 * kb, 100 * kb, 10**9):
        b = block_size(kb, budget, 12)
        assert 1 <= b <= 12
        assert b == 12 or working_bytes(kb, b) <= budget < working_bytes(kb, b + 1)


def test_mapped_loads_on_demand() -> None:
    asked: list[int] = []

    class Loads(list):  # type: ignore[type-arg]
        def __getitem__(self, i):  # type: ignore[no-untyped-def]
            asked.append(i)
            return super().__getitem__(i)

    view = Mapped(Loads([torch.ones(2, 2), torch.zeros(2, 2)]), lambda k: k + 1)
    assert asked == [] and len(view) == 2
    assert torch.equal(view[1], torch.ones(2, 2)) and asked == [1]
    assert [float(k.sum()) for k in view] == [8.0, 4.0]


def test_summaries_agree_whatever_the_memory_bound() -> None:
    tr = make_trajectory("cone", noise_deg=0.3)
    labels = torch.arange(tr.kernels[0].shape[0]) % 3
    whole = summarize(tr.kernels, tr.times, num_classes=3, labels=labels)
    kernel_bytes = tr.kernels[0].numel() * 8
    tight = summarize(tr.kernels, tr.times, num_classes=3, labels=labels, max_memory=kernel_bytes)  # block of 1
    assert whole.phases.verdict == tight.phases.verdict and whole.phases.boundary == tight.phases.boundary
    np.testing.assert_allclose(tight.centered_angle, whole.centered_angle, rtol=1e-12, atol=1e-13)
    assert whole.cone is not None and tight.cone is not None
    assert tight.cone.per_checkpoint_deg == pytest.approx(whole.cone.per_checkpoint_deg, rel=1e-12, abs=1e-12)
    assert [r.effective_rank for r in tight.checkpoints] == [r.effective_rank for r in whole.checkpoints]


def test_extending_by_one_kernel_gives_blocked_pairwises_centred_angles_exactly() -> None:
    from entk_probe.analysis.blocked import extend_centred_angles

    g = torch.Generator().manual_seed(3)
    kernels = []
    for _ in range(5):
        a = torch.randn(6, 4, generator=g, dtype=torch.float64)
        kernels.append(a @ a.T)
    kernels.append(torch.ones(6, 6, dtype=torch.float64))  # centres to zero: no angle (NaN), as offline
    angle, units, valid = np.zeros((0, 0)), [], []
    for kernel in kernels:
        angle = extend_centred_angles(angle, units, valid, kernel)
    expected = blocked_pairwise(kernels, 2)[3]
    assert np.array_equal(angle, expected, equal_nan=True)
