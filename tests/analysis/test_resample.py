"""Probe resamples and their centred angles against an explicit numpy computation on the gathered kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entk_probe.analysis.blocked import blocked_pairwise
from entk_probe.analysis.resample import (
    MIN_DRAWS,
    WORK_BUDGET,
    affordable_draws,
    check_resamples,
    probe_resamples,
    resampled_angles,
)
from entk_probe.errors import UsageError

N, T = 12, 6


def _trace_kernels(seed: int = 0) -> list[torch.Tensor]:
    """(N, N) kernels X_t X_tᵀ of drifting per-sample features: consecutive ones a few degrees apart."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 20, generator=gen, dtype=torch.float64)
    out = []
    for _ in range(T):
        x = x + 0.5 * torch.randn(N, 20, generator=gen, dtype=torch.float64)
        out.append(x @ x.T)
    return out


def _full_kernels(c: int = 3, seed: int = 1) -> list[torch.Tensor]:
    """(N, N, C, C) kernels J Jᵀ of drifting per-sample Jacobians J (N, C, P)."""
    gen = torch.Generator().manual_seed(seed)
    j = torch.randn(N, c, 30, generator=gen, dtype=torch.float64)
    out = []
    for _ in range(T):
        j = j + 0.5 * torch.randn(N, c, 30, generator=gen, dtype=torch.float64)
        out.append(torch.einsum("ncp,mdp->nmcd", j, j))
    return out


def _reference(kernels: list[torch.Tensor], s: np.ndarray) -> np.ndarray:
    """Angles (T, T) in degrees between the gathered kernels K[s][:, s], centred over the two sample axes,
    from float64 numpy dot products."""
    units = []
    for k in kernels:
        g = k.numpy()[s][:, s]  # rows and columns at s, duplicates included
        g = g - g.mean(axis=0, keepdims=True)
        g = g - g.mean(axis=1, keepdims=True)
        flat = g.reshape(-1)
        units.append(flat / np.linalg.norm(flat))
    u = np.array(units)
    return np.degrees(np.arccos(np.clip(u @ u.T, -1.0, 1.0)))


INDEX_SETS = [
    np.arange(N),  # the full probe
    np.array([0, 0, 1, 2, 3, 3, 3, 7, 8, 9, 10, 11]),  # duplicates
    np.arange(N)[::-1].copy(),  # a permutation
    np.array([5] * 6 + [2] * 5 + [11]),  # three samples, one of them once
]


@pytest.mark.parametrize("make", [_trace_kernels, _full_kernels], ids=["trace", "full"])
@pytest.mark.parametrize("block", [1, 2, 4, T])
def test_resampled_angles_equal_the_gathered_kernels_angles(make, block: int) -> None:  # type: ignore[no-untyped-def]
    kernels = make()
    angles = resampled_angles(kernels, torch.from_numpy(np.stack(INDEX_SETS)), block)
    assert angles.shape == (len(INDEX_SETS), T, T)
    for s, got in zip(INDEX_SETS, angles):
        expected = _reference(kernels, s)
        np.fill_diagonal(expected, 0.0)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
        assert np.array_equal(got, got.T) and got[~np.eye(T, dtype=bool)].min() > 0.5  # no pair near parallel here


def test_the_block_size_changes_nothing_but_rounding() -> None:
    kernels, resamples = _full_kernels(), probe_resamples(N, 5, seed=3)
    every = [resampled_angles(kernels, resamples, block) for block in (1, 3, T)]
    for other in every[1:]:
        np.testing.assert_allclose(other, every[0], rtol=0, atol=1e-10)


def test_the_full_probe_gives_the_point_angles() -> None:
    kernels = _trace_kernels(seed=4)
    point = blocked_pairwise(kernels, T)[3]
    np.testing.assert_allclose(resampled_angles(kernels, torch.arange(N)[None])[0], point, rtol=0, atol=1e-9)


def test_a_kernel_that_is_zero_once_centred_has_nan_angles() -> None:
    kernels = _trace_kernels()
    kernels[2] = torch.ones(N, N, dtype=torch.float64)  # a constant kernel: zero once centred
    angle = resampled_angles(kernels, probe_resamples(N, 1))[0]
    assert np.isnan(angle[2]).all() and np.isnan(angle[:, 2]).all()
    assert np.isfinite(np.delete(np.delete(angle, 2, 0), 2, 1)).all()


def test_stratified_resamples_keep_each_class_count() -> None:
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 4)  # (N,)
    resamples = probe_resamples(N, 50, labels, seed=7)
    assert resamples.shape == (50, N) and resamples.dtype == torch.int64
    for s in resamples:
        assert torch.equal(torch.bincount(labels[s], minlength=3), torch.tensor([5, 3, 4]))
    assert len({tuple(s.tolist()) for s in resamples}) == 50  # with replacement, and different draws


def test_the_same_seed_gives_the_same_resamples() -> None:
    labels = torch.arange(N) % 3
    assert torch.equal(probe_resamples(N, 20, labels, seed=5), probe_resamples(N, 20, labels, seed=5))
    assert not torch.equal(probe_resamples(N, 20, labels, seed=5), probe_resamples(N, 20, labels, seed=6))


def test_a_plain_bootstrap_draws_with_replacement_and_never_fewer_than_three_samples() -> None:
    resamples = probe_resamples(4, 200, seed=0)  # most bootstraps of four samples draw at most three
    assert ((resamples >= 0) & (resamples < 4)).all()
    assert all(len(set(s.tolist())) >= 3 for s in resamples)  # fewer were drawn again
    assert any(len(set(s.tolist())) == 3 for s in resamples)  # with replacement
    assert all(sorted(s.tolist()) == [0, 1, 2] for s in probe_resamples(3, 20, seed=0))  # a tiny probe: all of it
    counts = torch.bincount(probe_resamples(N, 200, seed=1).reshape(-1), minlength=N)
    assert counts.min() > 100 and counts.max() < 300  # every sample drawn about 200 times


def test_draws_are_reduced_to_the_work_budget_but_never_below_the_minimum() -> None:
    assert affordable_draws(200, 53, 300 * 300) == (200, None)  # trace N=300: within the budget
    used, why = affordable_draws(200, 53, (300 * 10) ** 2)  # full mode, C=10: (NC)² elements a kernel
    assert used == max(MIN_DRAWS, int(WORK_BUDGET // (53 * 53 * 9e6))) < 200
    assert why is not None and "budget" in why and "200 draws" in why
    assert affordable_draws(10, 10**4, 10**9) == (10, None)  # asking for fewer than the minimum: all of them


@pytest.mark.parametrize("bad", [-1, 1.5, True, "200"])
def test_resamples_must_be_a_whole_number_not_below_zero(bad: object) -> None:
    with pytest.raises(UsageError, match="--resamples"):
        check_resamples(bad)
    check_resamples(0)
