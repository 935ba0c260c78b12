"""Kernel regression with a checkpoint's eNTK on the probe: how good a predictor its kernel is.

This is Fort et al.'s (2020) "kernel from epoch t" curve at no extra kernel cost. The probe is
split into two class-balanced halves: within each class, in probe order, the 1st, 3rd, 5th...
samples are fitted and the 2nd, 4th... predicted. On the fitted half, kernel ridge regression of
the one-hot labels minus their mean, with the sample kernel K (N, N; a full kernel's trace over
logits): α = (K_ff + λI)⁻¹(Y_f − ȳ); predictions K_pf α + ȳ; the predicted class is the argmax.
The ridge λ is chosen on the fitted half alone: from ``RIDGES`` times the mean of diag K_ff, the
one with the smallest leave-one-out squared error (closed form: sample i's left-out residual is
α_i / [(K_ff + λI)⁻¹]_ii), the larger on a tie.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .dynamics import sample_kernel

RIDGES = tuple(10.0**e for e in range(-6, 2))  # times the mean diagonal of the fitted block
RULE = ("fit on one class-balanced half of the probe (alternate samples of each class), predict the other; ridge "
        "from {1e-6, ..., 10} x mean diag K by leave-one-out squared error on the fitted half")


def split_halves(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fitted, predicted) positions: within each class, in probe order, alternate samples."""
    fit, predict = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        fit += members[0::2].tolist()
        predict += members[1::2].tolist()
    return np.array(sorted(fit), dtype=np.int64), np.array(sorted(predict), dtype=np.int64)


def kernel_regression(kernel: Tensor, labels: Tensor, num_classes: int) -> tuple[float, float]:
    """(accuracy on the predicted half, the chosen ridge as a multiple of mean diag K_ff).

    NaN, NaN when a half is empty or the kernel is not finite.
    """
    k = sample_kernel(kernel).to(torch.float64).numpy()  # (N, N)
    y_all = labels.numpy()
    fit, predict = split_halves(y_all)
    if len(fit) < 2 or len(predict) == 0 or not np.isfinite(k).all():
        return math.nan, math.nan
    onehot = np.eye(num_classes)[y_all[fit]]  # (F, C)
    mean = onehot.mean(axis=0)
    k_ff = k[np.ix_(fit, fit)]  # (F, F)
    s, u = np.linalg.eigh((k_ff + k_ff.T) / 2)  # K_ff = U diag(s) Uᵀ
    scale = float(np.mean(np.diag(k_ff)))
    if not scale > 0:
        return math.nan, math.nan
    projected = u.T @ (onehot - mean)  # (F, C)
    best: tuple[float, float] | None = None
    for ridge in RIDGES:
        inv = 1.0 / (s + ridge * scale)  # (F,)
        alpha = u @ (inv[:, None] * projected)  # (F, C)
        diag = (u * u) @ inv  # diag of (K_ff + λI)⁻¹
        loo = float(np.sum((alpha / diag[:, None]) ** 2))
        if best is None or loo <= best[0]:
            best = (loo, ridge)
    ridge = best[1]  # type: ignore[index]
    alpha = u @ ((1.0 / (s + ridge * scale))[:, None] * projected)
    scores = k[np.ix_(predict, fit)] @ alpha + mean  # (P, C)
    return float(np.mean(scores.argmax(axis=1) == y_all[predict])), ridge
