"""Kernel regression accuracy against direct solves, brute-force leave-one-out and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entk_probe.analysis.regression import RIDGES, kernel_regression, split_halves


def _features(n: int = 40, c: int = 4, noise: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = np.random.default_rng(seed)
    labels = np.arange(n) % c
    centres = gen.normal(size=(c, 6))
    x = centres[labels] + noise * gen.normal(size=(n, 6))
    return torch.from_numpy(x @ x.T), torch.from_numpy(labels)


def test_halves_are_class_balanced_alternate_samples() -> None:
    fit, predict = split_halves(np.array([0, 1, 0, 1, 0, 2]))
    assert fit.tolist() == [0, 1, 4, 5] and predict.tolist() == [2, 3]


def test_accuracy_and_ridge_equal_a_direct_solve_with_brute_force_leave_one_out() -> None:
    kernel, labels = _features()
    acc, ridge = kernel_regression(kernel, labels, 4)
    k, y = kernel.numpy(), labels.numpy()
    fit, predict = split_halves(y)
    onehot = np.eye(4)[y[fit]]
    mean = onehot.mean(0)
    scale = np.mean(np.diag(k[np.ix_(fit, fit)]))

    def loo_error(lam: float) -> float:  # refit without each sample in turn
        total = 0.0
        for i in range(len(fit)):
            keep = np.delete(np.arange(len(fit)), i)
            kk = k[np.ix_(fit[keep], fit[keep])]
            target = onehot[keep] - mean  # the mean of the whole fitted half, as the rule centres
            a = np.linalg.solve(kk + lam * scale * np.eye(len(keep)), target)
            total += float(np.sum((onehot[i] - mean - k[fit[i], fit[keep]] @ a) ** 2))
        return total

    errors = [loo_error(r) for r in RIDGES]
    expected = max(r for r, e in zip(RIDGES, errors) if np.isclose(e, min(errors), rtol=1e-9))
    assert ridge == expected
    alpha = np.linalg.solve(k[np.ix_(fit, fit)] + ridge * scale * np.eye(len(fit)), onehot - mean)
    predicted = (k[np.ix_(predict, fit)] @ alpha + mean).argmax(1)
    assert acc == pytest.approx(np.mean(predicted == y[predict]))
    assert acc > 0.5  # separable enough that the kernel predicts


def test_a_label_kernel_predicts_perfectly_and_an_uninformative_one_at_chance() -> None:
    labels = torch.arange(20) % 4
    y = torch.nn.functional.one_hot(labels, 4).double()
    assert kernel_regression(y @ y.T, labels, 4)[0] == 1.0
    acc, _ = kernel_regression(torch.eye(20, dtype=torch.float64), labels, 4)
    assert acc == pytest.approx(0.25)  # predictions are the fitted mean: one class for all


def test_degenerate_cases_are_nan() -> None:
    assert np.isnan(kernel_regression(torch.eye(2, dtype=torch.float64), torch.tensor([0, 1]), 2)[0])
    bad = torch.eye(8, dtype=torch.float64)
    bad[0, 0] = float("nan")
    assert np.isnan(kernel_regression(bad, torch.arange(8) % 2, 2)[0])
