"""Kernel dynamics: distances and velocities between the kernels of a run (DESIGN.md).

Pure functions of float64 tensors. The subspace angles, alignment, spectra and centred variants
come with issue 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def cosine(a: Tensor, b: Tensor) -> float:
    """ρ(K, K') = ⟨K, K'⟩_F / (‖K‖_F ‖K'‖_F); NaN when either kernel is zero."""
    denom = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    return float((a * b).sum() / denom) if denom > 0 else math.nan


def kernel_distance(a: Tensor, b: Tensor) -> float:
    """S = 1 − ρ(K, K') (Fort et al. 2020)."""
    return 1.0 - cosine(a, b)


def kernel_angle_deg(a: Tensor, b: Tensor) -> float:
    """arccos ρ in degrees, ρ clipped to [-1, 1] against rounding."""
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine(a, b)))))


def velocities(kernels: Sequence[Tensor], times: Sequence[float]) -> list[float]:
    """v_i = S(K_i, K_{i+1}) / (t_{i+1} − t_i), one fewer than the kernels; NaN where Δt = 0."""
    out = []
    for i in range(len(kernels) - 1):
        dt = times[i + 1] - times[i]
        out.append(kernel_distance(kernels[i], kernels[i + 1]) / dt if dt > 0 else math.nan)
    return out
