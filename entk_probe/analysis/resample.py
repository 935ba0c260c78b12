"""Probe resamples of a run's cached kernels and the centred angles between their kernels.

A resample redraws the probe's N samples: within each class, that class's count with
replacement (a class-stratified bootstrap; without labels, N draws from all N samples), from a
fixed seed, so the same run gives the same resamples. A resample with fewer than three distinct
samples is drawn again: once centred, the sample kernels of two samples are all parallel (and of
one, zero), whatever the run. A resample's kernel is the cached kernel's
rows and columns at the resample's indices, duplicates included: K_s[p, q] = K[s_p, s_q] for an
(N, N) kernel, K_s[p, q, c, d] = K[s_p, s_q, c, d] for a full (N, N, C, C) one. No kernel is
ever computed again.

Angles. For each resample, the angle (degrees) between every two of the run's T kernels after
centring (H K_s H over the two sample axes, as ``dynamics.center``). Computed without forming
K_s: it repeats entry (i, j) of K w_i w_j times (w: how often sample i was drawn), so its
centred inner products are weighted sums over the U distinct samples drawn (U ≈ 0.63 N for a
bootstrap), and each kernel of a block becomes K_ij sqrt(w_i w_j) (U² R numbers, R = 1, or C²
for full kernels) plus three small parts (``_gram``). Stacked a column a kernel, one float64
matrix product per block pair and draw gives every centred inner product between them (four,
three of them small); the angle is the arccos of the cosine clipped to [-1, 1]. Each kernel is
centred once when loaded (H K H), so the weighted centring subtracts little and loses no
digits. Accuracy: a few 1e-15 in the cosine, so an angle is off by at most about 1e-5° where two
kernels are nearly parallel (arccos amplifies the cosine's rounding near 0°) and by far less
beyond a degree (tests/analysis/test_resample.py: within 1e-9° of an explicit float64
computation on the gathered kernels at angles of a few degrees); the point angles of
``blocked`` are exact to ~1e-12 relative at every angle. The summation order depends on the
block shapes, so the last bits do too.

Memory is bounded as in ``blocked``: at most two blocks of ``block`` kernels are held, each
kernel centred (float64, M = N² R numbers) and one draw's weighted copy (about 0.4 M), so
``blocked.block_size`` with the same budget fits. Each kernel is read once per block pass
(about T / (2 block) + 1 times in all, whatever the number of draws): every resample is
gathered from a block while it is loaded.

Cost: about T²·M·draws multiply-adds (the unit of ``WORK_BUDGET``; the products take about
0.4 of that, the gathers a few U² R a kernel and draw). Measured on one core of two, with a
training job on the other: 200 draws of T = 53 trace kernels of N = 300 (5e10) in 4.3 s, of
T = 53 full kernels of N = 60, C = 10 (2e11) in 21 s, about 1e10 a second; ``classify`` adds
about 5 ms a draw. Where the asked draws would exceed ``WORK_BUDGET`` (about 30 s so; full-mode
kernels of larger probes: M = (NC)²) fewer are drawn, never fewer than ``MIN_DRAWS``, and the
reason is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import UsageError
from .dynamics import center

DRAWS = 200  # resamples asked for by default (``--resamples``)
MIN_DRAWS = 20  # fewer are never drawn to fit WORK_BUDGET (unless fewer are asked for)
SEED = 0  # the resamples' seed: the same run gives the same resamples
MIN_DISTINCT = 3  # distinct samples a resample has at least (all of them, for a smaller probe)
WORK_BUDGET = 3.0e11  # T²·M·draws: about 30 s on one core of two shared with a training job (module docstring)


def check_resamples(draws: object) -> None:
    """A UsageError unless ``draws`` (``--resamples``) is a whole number >= 0 (0: no resamples)."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise UsageError(f"--resamples must be a whole number >= 0 (0: off), not {draws!r}")


def affordable_draws(asked: int, t: int, m: int, budget: float = WORK_BUDGET) -> tuple[int, str | None]:
    """(draws to take, why fewer than ``asked``: None when all are) for T kernels of M elements each."""
    per_draw = float(t) * t * m  # products of one draw's T x T angles, multiply-adds
    if asked <= MIN_DRAWS or per_draw * asked <= budget:
        return asked, None
    fits = max(MIN_DRAWS, int(budget // per_draw))
    return fits, (f"{asked} draws of {t} x {t} kernel pairs of {m:,} elements would cost "
                  f"{per_draw * asked:.2g} multiply-adds, above the budget of {budget:.2g}: {fits} drawn")


def probe_resamples(n: int, draws: int, labels: Tensor | None = None, seed: int = SEED) -> Tensor:
    """``draws`` resamples of N probe samples (draws, N) int64: class-stratified with ``labels`` (N,)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        groups = [np.arange(n)]
    else:
        lab = labels.detach().cpu().numpy().reshape(-1)  # (N,)
        if len(lab) != n:
            raise UsageError(f"{len(lab)} labels for a probe of {n} samples")
        groups = [np.flatnonzero(lab == c) for c in np.unique(lab)]
    out = np.empty((draws, n), dtype=np.int64)
    for d in range(draws):
        while True:
            s = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])  # (N,) class by class
            if len(np.unique(s)) >= min(n, MIN_DISTINCT):  # fewer: degenerate centred kernels, drawn again
                break
        out[d] = s
    return torch.from_numpy(out)


def _load(kernels: Sequence[Tensor], start: int, stop: int) -> Tensor:
    """Kernels start..stop-1, centred (H K H, ``dynamics.center``), as float64 (N², R, B): R = C² for
    full kernels, 1 for (N, N) ones. The kernel index is last so that gathering sample pairs (rows)
    copies runs of R·B numbers."""
    block: Tensor | None = None
    for c, i in enumerate(range(start, stop)):
        kernel = center(kernels[i])  # (N, N[, C, C]) float64
        n = kernel.shape[0]
        if block is None:
            block = torch.empty((n * n, kernel.numel() // (n * n), stop - start), dtype=torch.float64)  # (N², R, B)
        block[:, :, c] = kernel.reshape(n * n, -1)  # (N², R)
        del kernel  # a disk store's kernel goes now, not with the next one
    assert block is not None
    return block


class _Draw:
    """One resample (L,) of a probe of N samples as the samples it holds at least once (U,) and
    their multiplicities w (U,), which sum to L (a bootstrap: L = N)."""

    def __init__(self, resample: Tensor, n: int) -> None:
        support, counts = torch.unique(resample, return_counts=True)  # (U,), (U,)
        self.size = int(resample.shape[0])  # L
        self.root = counts.to(torch.float64).sqrt()  # (U,) sqrt(w)
        self.scale = (self.root[:, None] * self.root[None, :])[:, :, None]  # (U, U, 1): sqrt(w_i w_j)
        self.pairs = (support[:, None] * n + support[None, :]).reshape(-1)  # (U²,) into the N² sample pairs


def _weighted(block: Tensor, draw: _Draw) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """What one draw's centred inner products of the block's kernels are made of (``_gram``):
    X (U²R, B) = K_ij sqrt(w_i w_j), Y (UR, B) = sqrt(w_i) Σ_j w_j K_ij, Y' (UR, B) = sqrt(w_j) Σ_i w_i K_ij,
    S (R, B) = Σ_ij w_i w_j K_ij, over the U distinct samples of the draw."""
    u, width = draw.root.shape[0], block.shape[1] * block.shape[2]
    flat = block.view(-1) if width == 1 else block.view(-1, width)  # one number a row: gathered as a vector, 7x faster
    x = flat.index_select(0, draw.pairs).view(u, u, width)  # (U, U, R·B): K[i, j] over distinct samples
    x *= draw.scale
    y = torch.matmul(draw.root.view(1, 1, u), x).view(u, width)  # (U, R·B): Σ_j over each row, no copy of x
    y2 = (draw.root @ x.view(u, u * width)).view(u, width)  # (U, R·B): Σ_i
    s = draw.root @ y  # (R·B,)
    b = block.shape[2]
    return x.view(-1, b), y.view(-1, b), y2.view(-1, b), s.view(-1, b)


def _gram(a: tuple[Tensor, ...], b: tuple[Tensor, ...], size: int) -> Tensor:
    """⟨H K_s H, H L_s H⟩ (Ba, Bb) for the kernels of two blocks at one draw, from ``_weighted``'s parts.

    K_s[p, q] = K[s_p, s_q] repeats entry (i, j) w_i w_j times, so with P = I − 1wᵀ/L (the centring
    H K_s H seen from the distinct samples, self-adjoint and idempotent in the w-weighted inner
    product) ⟨H K_s H, H L_s H⟩ = Σ_ij w_i w_j K_ij (PLPᵀ)_ij
    = ⟨X_K, X_L⟩ − (⟨Y_K, Y_L⟩ + ⟨Y'_K, Y'_L⟩) / L + S_K S_L / L² (L = ``size``): four matrix products,
    the first over U² R numbers a kernel (U ≈ 0.63 N for a bootstrap) instead of the gathered kernel's N² R.
    """
    (xa, ya, y2a, sa), (xb, yb, y2b, sb) = a, b
    return xa.T @ xb - (ya.T @ yb + y2a.T @ y2b) / size + (sa.T @ sb) / (size * size)  # (Ba, Bb)


def _angles(gram: np.ndarray) -> np.ndarray:
    """Angles (T, T) in degrees from the centred inner products (T, T); NaN for a zero kernel, 0 on the diagonal."""
    norm = np.sqrt(np.clip(np.diag(gram), 0.0, None))  # (T,)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(gram / np.outer(norm, norm), -1.0, 1.0)  # (T, T); 0/0: NaN
    angle = np.degrees(np.arccos(cos))
    angle = np.triu(angle, 1)
    return angle + angle.T + np.diag(np.where(norm > 0, 0.0, math.nan))  # symmetric to the bit


def resampled_angles(kernels: Sequence[Tensor], resamples: Tensor, block: int | None = None) -> np.ndarray:
    """Centred angles (draws, T, T) in degrees between the T kernels at every resample (draws, L) of
    their N samples (a bootstrap: L = N).

    ``kernels`` are (N, N) or (N, N, C, C), a list or a store that loads kernel i when indexed;
    ``block`` kernels are loaded at a time (None: all of them). Module docstring: accuracy, memory.
    """
    t, draws = len(kernels), int(resamples.shape[0])
    gram = np.zeros((draws, t, t))
    if t == 0 or draws == 0:
        return gram
    step = max(int(block or t), 1)
    for a0 in range(0, t, step):
        a = _load(kernels, a0, min(a0 + step, t))  # (N², R, Ba)
        a1, n = a0 + a.shape[2], math.isqrt(a.shape[0])
        for d in range(draws):  # a draw's index arrays are made when used: 200 of them held would be O(draws N²)
            draw = _Draw(resamples[d], n)
            parts = _weighted(a, draw)
            gram[d, a0:a1, a0:a1] = _gram(parts, parts, draw.size).numpy()
        for b0 in range(a1, t, step):
            b = _load(kernels, b0, min(b0 + step, t))  # (N², R, Bb)
            b1 = b0 + b.shape[2]
            for d in range(draws):
                draw = _Draw(resamples[d], n)
                gram[d, a0:a1, b0:b1] = _gram(_weighted(a, draw), _weighted(b, draw), draw.size).numpy()
            del b  # before the next block is loaded: two blocks at most
    return np.stack([_angles(g) for g in gram])
