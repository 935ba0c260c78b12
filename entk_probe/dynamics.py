"""Kernel dynamics: distances and velocities between the kernels of a run (DESIGN.md).

Pure functions of float64 tensors. The subspace angles, alignment, spectra and centred variants
come with issue 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def _unit_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor] | None:
    na, nb = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    if not (na > 0 and nb > 0):
        return None
    return a / na, b / nb


def cosine(a: Tensor, b: Tensor) -> float:
    """ρ(K, K') = ⟨K, K'⟩_F / (‖K‖_F ‖K'‖_F); NaN when either kernel is zero."""
    units = _unit_pair(a, b)
    return math.nan if units is None else float((units[0] * units[1]).sum())


def kernel_distance(a: Tensor, b: Tensor) -> float:
    """S = 1 − ρ(K, K') (Fort et al. 2020), computed as ‖â − b̂‖²/2.

    The two are equal for unit â, b̂; the second keeps full relative precision when the kernels
    are nearly parallel, where 1 − ρ would cancel to rounding noise (late, slow checkpoints).
    """
    units = _unit_pair(a, b)
    return math.nan if units is None else float(torch.linalg.vector_norm(units[0] - units[1]) ** 2 / 2)


def kernel_angle_deg(a: Tensor, b: Tensor) -> float:
    """arccos ρ in degrees, computed as 2·atan2(‖â − b̂‖, ‖â + b̂‖), exact near 0° and 180°."""
    units = _unit_pair(a, b)
    if units is None:
        return math.nan
    diff, total = torch.linalg.vector_norm(units[0] - units[1]), torch.linalg.vector_norm(units[0] + units[1])
    return math.degrees(2.0 * math.atan2(float(diff), float(total)))


def velocities(kernels: Sequence[Tensor], times: Sequence[float]) -> list[float]:
    """v_i = S(K_i, K_{i+1}) / (t_{i+1} − t_i), one fewer than the kernels; NaN where Δt = 0."""
    out = []
    for i in range(len(kernels) - 1):
        dt = times[i + 1] - times[i]
        out.append(kernel_distance(kernels[i], kernels[i + 1]) / dt if dt > 0 else math.nan)
    return out
