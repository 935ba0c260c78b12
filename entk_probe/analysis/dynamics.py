"""Kernel dynamics: pure functions of the kernels of a run, their times and the probe labels.

Definitions: docs/definitions.md. All computations are float64. Kernels of mode "full"
(N, N, C, C) are compared over all their entries; spectra, alignment and subspace angles use
their (N, N) trace over logits, the sample kernel.

Angles and distances between nearly parallel kernels are computed from the difference of the
unit kernels (S = ‖â − b̂‖²/2, angle = 2·atan2(‖â − b̂‖, ‖â + b̂‖)): equal to 1 − ρ and arccos ρ,
without the cancellation that makes 1 − ρ rounding noise for the slow, late checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def sample_kernel(kernel: Tensor) -> Tensor:
    """The (N, N) kernel over samples: the trace over logits of a full (N, N, C, C) kernel."""
    if kernel.dim() == 4:
        return torch.diagonal(kernel, dim1=2, dim2=3).sum(-1)
    return kernel


def center(kernel: Tensor) -> Tensor:
    """H K H with H = I − 11ᵀ/N, over the two sample axes (for a full kernel, for every logit pair)."""
    k = kernel.to(torch.float64)
    k = k - k.mean(dim=0, keepdim=True)
    return k - k.mean(dim=1, keepdim=True)


def _unit(kernel: Tensor) -> Tensor | None:
    flat = kernel.reshape(-1).to(torch.float64)
    peak = flat.abs().max()
    if not peak > 0:
        return None
    flat = flat / peak  # so that the squares in the norm neither underflow (tiny kernels) nor overflow
    return flat / torch.linalg.vector_norm(flat)


def _pair(a: Tensor | None, b: Tensor | None) -> tuple[float, float]:
    """(‖â − b̂‖, ‖â + b̂‖), NaN when a kernel is zero."""
    if a is None or b is None:
        return math.nan, math.nan
    return float(torch.linalg.vector_norm(a - b)), float(torch.linalg.vector_norm(a + b))


def cosine(a: Tensor, b: Tensor) -> float:
    """ρ(K, K') = ⟨K, K'⟩_F / (‖K‖_F ‖K'‖_F); NaN when either kernel is zero."""
    ua, ub = _unit(a), _unit(b)
    return math.nan if ua is None or ub is None else float(ua @ ub)


def kernel_distance(a: Tensor, b: Tensor) -> float:
    """S = 1 − ρ(K, K') (Fort et al. 2020), computed as ‖â − b̂‖²/2."""
    diff, _ = _pair(_unit(a), _unit(b))
    return diff * diff / 2


def kernel_angle_deg(a: Tensor, b: Tensor) -> float:
    """arccos ρ in degrees, computed as 2·atan2(‖â − b̂‖, ‖â + b̂‖)."""
    diff, total = _pair(_unit(a), _unit(b))
    return math.nan if math.isnan(diff) else math.degrees(2.0 * math.atan2(diff, total))


def pairwise(kernels: Sequence[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(distance S, angle in degrees) between every two kernels, both (T, T) and symmetric."""
    units = [_unit(k) for k in kernels]
    t = len(units)
    distance, angle = np.zeros((t, t)), np.zeros((t, t))
    for i in range(t):
        for j in range(i + 1, t):
            diff, total = _pair(units[i], units[j])
            distance[i, j] = distance[j, i] = diff * diff / 2
            angle[i, j] = angle[j, i] = math.nan if math.isnan(diff) else math.degrees(2 * math.atan2(diff, total))
        if units[i] is None:
            distance[i, i] = angle[i, i] = math.nan
    return distance, angle


def step_rates(angle: np.ndarray, times: Sequence[float]) -> np.ndarray:
    """Angular velocity of each step, degrees per unit time, from a pairwise angle matrix; NaN where Δt ≤ 0."""
    t = np.asarray(times, dtype=float)
    dt = np.diff(t)
    steps = np.array([angle[i, i + 1] for i in range(len(t) - 1)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, steps / dt, np.nan)


def centered_one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """Y − mean(Y) over samples, Y the (N, C) one-hot labels."""
    y = torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float64)
    return y - y.mean(dim=0, keepdim=True)


def alignment(kernel: Tensor, labels: Tensor, num_classes: int) -> float:
    """Kernel-target alignment ρ(K, Y Yᵀ) of the sample kernel, Y the centred one-hot labels."""
    y = centered_one_hot(labels, num_classes)
    return cosine(sample_kernel(kernel).to(torch.float64), y @ y.T)


def spectrum(kernel: Tensor, top: int = 10) -> dict[str, object]:
    """Top eigenvalues of the sample kernel, its trace and effective rank.

    Effective rank: exp of the entropy of the eigenvalues normalised to sum 1 (Roy and Vetterli
    2007), negative eigenvalues (rounding) counted as 0.
    """
    eig = torch.linalg.eigvalsh(sample_kernel(kernel).to(torch.float64)).flip(0).clamp(min=0)  # descending
    total = float(eig.sum())
    if total <= 0:
        return {"top_eigenvalues": eig[:top].tolist(), "trace": total, "effective_rank": math.nan}
    p = eig / total
    p = p[p > 0]
    return {
        "top_eigenvalues": eig[:top].tolist(),
        "trace": total,
        "effective_rank": float(torch.exp(-(p * p.log()).sum())),
    }


def top_eigenspace(kernel: Tensor, k: int) -> Tensor:
    """Orthonormal basis (N, k) of the sample kernel's top-k eigenvectors."""
    _, vectors = torch.linalg.eigh(sample_kernel(kernel).to(torch.float64))  # ascending
    return vectors[:, -k:].flip(1)


def subspace_angles(a: Tensor, b: Tensor) -> np.ndarray:
    """Principal angles (radians, descending) between the column spans of ``a`` and ``b`` (full column rank).

    As scipy.linalg.subspace_angles defines them (Knyazev and Argentati 2002): cosines from the
    SVD of QaᵀQb, with angles below π/4 taken from the sines for accuracy.

    Why not scipy's own: it picks sine or cosine for each angle from the wrong end (its mask is
    over the cosines in descending order, applied to the angles in descending order), so where
    the angles lie on both sides of 45° a near-0° angle comes from its cosine and a near-90° one
    from its sine: off by up to ~4e-8 rad (a 1e-9 rad angle reads as 0 or 2e-9; scipy 1.17.1).
    Elsewhere the two agree to ~6e-16 rad (tests/analysis/test_dynamics.py compares them, and this
    one against planted angles). Speed is no reason either way: for 26 checkpoints of N = 500,
    k = 10 (51 pairs) this takes 6 ms and scipy's 8.5 ms on one thread, against ~0.9 s for the
    26 eigendecompositions that give the spaces. QR, not scipy's rank-revealing ``orth``: the
    inputs are eigenvector bases.
    """
    qa, _ = torch.linalg.qr(a.to(torch.float64))
    qb, _ = torch.linalg.qr(b.to(torch.float64))
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)  # descending cosines, ascending angles
    residual = qb - qa @ (qa.T @ qb)
    sines = torch.linalg.svdvals(residual).clamp(max=1.0)  # descending sines
    mask = cosines.flip(0) ** 2 <= 0.5  # per angle in descending order: large angles use arccos
    theta = torch.where(mask, torch.arccos(cosines.flip(0)), torch.arcsin(sines))
    return theta.numpy()


ANGLE_STATISTICS = ("largest", "mean", "rms", "smallest")


def subspaces_informative(k: int, n: int) -> bool:
    """Whether top-k eigenspaces of centred (N, N) kernels can differ: centring leaves rank N − 1,
    so for k ≥ N − 1 every such eigenspace is the whole complement of the ones vector and every
    principal angle is 0 whatever the kernels."""
    return k < n - 1


NO_ANGLES = {name: math.nan for name in ANGLE_STATISTICS}  # where subspace angles say nothing


def angle_statistics(theta: np.ndarray) -> dict[str, float]:
    """Summaries of principal angles, in degrees. ``rms`` is the Grassmann distance / √k."""
    deg = np.degrees(np.asarray(theta, dtype=float))
    return {
        "largest": float(deg.max()),
        "mean": float(deg.mean()),
        "rms": float(np.sqrt(np.mean(deg**2))),
        "smallest": float(deg.min()),
    }


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Share of probe samples whose argmax logit is their label; NaN when any logit is not finite
    (argmax of NaN logits would pick a class and give a plausible-looking number)."""
    if not bool(torch.isfinite(logits).all()):
        return math.nan
    return float((logits.argmax(dim=1) == labels).double().mean())


def disagreement(a: Tensor, b: Tensor) -> float:
    """Share of probe samples on which two checkpoints predict different classes."""
    return float((a.argmax(dim=1) != b.argmax(dim=1)).double().mean())


def path_and_diameter(angle: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    """Angular path length Σ angle(K_i, K_{i+1}) and diameter max angle(K_i, K_j), i, j in start..stop."""
    idx = range(start, stop + 1)
    path = float(sum(angle[i, i + 1] for i in range(start, stop)))
    diameter = float(max((angle[i, j] for i in idx for j in idx), default=0.0))
    return path, diameter


def axis_angles(angle: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    """(half-angle, first-to-axis angle) in degrees of the cone of kernels start..stop, from pairwise angles.

    The axis is the mean m of the unit kernels u_start..u_stop. Its angles follow from the
    pairwise cosines alone: cos∠(u_i, m) = mean_j cos A[i, j] / sqrt(mean_jk cos A[j, k]). The
    half-angle is the largest of these over start..stop; the second value is u_0's.
    """
    cos = np.cos(np.radians(np.asarray(angle, dtype=float)))  # (T, T)
    idx = np.arange(start, stop + 1)
    norm = math.sqrt(max(float(cos[np.ix_(idx, idx)].mean()), 0.0))
    if norm == 0.0:
        return math.nan, math.nan
    to_axis = np.degrees(np.arccos(np.clip(cos[:, idx].mean(axis=1) / norm, -1.0, 1.0)))  # (T,)
    return float(to_axis[idx].max()), float(to_axis[0])
