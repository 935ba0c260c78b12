"""Pairwise distances and angles of a run's kernels, computed a block of kernels at a time.

``kernels`` is any sequence whose ``__getitem__`` returns one kernel tensor: a list, or a store
that loads the kernel from disk when asked (``pipeline.kernelstore``). At most two blocks of
``block`` kernels are held at once, each kernel as its two unit vectors (uncentred and centred,
float64, M = N² or (NC)² numbers each), so memory is bounded by the block size and not by the
number of kernels T; ``block_size`` picks the block from a memory budget.

Each pair's inner product ρ = ⟨û_i, û_j⟩ is one float64 dot product of the two loaded unit
vectors (one pass over them, no temporary). Far from parallel the distance S = ‖û_i − û_j‖²/2
follows from it (‖û_i‖² + ‖û_j‖² − 2ρ) to an absolute error of the dot product's rounding (a
few 1e-14 for M = 250,000, measured), i.e. a relative error of ~1e-12 where 1 − ρ ≥ ``NEAR``. Nearly
parallel pairs (1 − ρ < ``NEAR``: angles below ~8°, the slow late checkpoints) would lose digits
to that cancellation, so they are computed from the difference of the unit kernels exactly as
``dynamics.pairwise`` does, with the same operations on the same values: identical to it. Dot
products rather than one matrix product per pair of blocks (a GEMM would be faster) because a
GEMM's summation order depends on the block shapes: pair by pair, the result is the same to the
last bit whatever the block size, so a small ``--max-memory`` gives the same report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import overload

import numpy as np
import torch
from torch import Tensor

from .dynamics import center

NEAR = 1e-2  # 1 − ρ below which a pair is computed from the difference of its unit kernels
BLOCK_FACTOR = 4  # unit vectors per kernel of a block held at once: two blocks, uncentred and centred
TRANSIENT_FACTOR = 5  # float64 kernel-sized buffers while one kernel is loaded: itself, centring, unit


class Mapped(Sequence[Tensor]):
    """``fn(items[i])``, computed each time item i is asked for: a lazy view that holds nothing."""

    def __init__(self, items: Sequence[Tensor], fn: Callable[[Tensor], Tensor]) -> None:
        self.items, self.fn = items, fn

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, i: int) -> Tensor: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Tensor]: ...

    def __getitem__(self, i: int | slice) -> Tensor | Sequence[Tensor]:
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        return self.fn(self.items[i])

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))


def block_size(kernel_bytes: int, budget: int | None, count: int) -> int:
    """Kernels per block (1..count) so that two blocks of unit vectors, uncentred and centred, and one
    kernel being loaded fit in ``budget`` bytes; ``count`` (everything at once) when ``budget`` is None.
    Never below 1: a budget smaller than a few kernels is exceeded by those few, not by the run."""
    if budget is None or count == 0:
        return max(count, 1)
    per = max(int(kernel_bytes), 1)
    fits = (budget // per - TRANSIENT_FACTOR) // BLOCK_FACTOR
    return int(min(max(fits, 1), max(count, 1)))


def working_bytes(kernel_bytes: int, block: int) -> int:
    """Bytes the blocked pairwise holds at most with blocks of ``block`` kernels of ``kernel_bytes``."""
    return kernel_bytes * (BLOCK_FACTOR * block + TRANSIENT_FACTOR)


def _unit_into(row: Tensor, kernel: Tensor) -> bool:
    """Write the unit vector of ``kernel`` into ``row`` (M,) as ``dynamics._unit`` computes it; False for a zero kernel."""
    flat = kernel.reshape(-1).to(torch.float64)  # (M,)
    peak = flat.abs().max()
    if not peak > 0:
        row.zero_()
        return False
    flat = flat / peak  # as dynamics._unit: no underflow or overflow in the norm
    torch.div(flat, torch.linalg.vector_norm(flat), out=row)
    return True


def _load(kernels: Sequence[Tensor], start: int, stop: int) -> tuple[Tensor, Tensor, list[bool], list[bool]]:
    """Unit vectors (B, M) of kernels start..stop-1, uncentred and centred, and which are non-zero."""
    units = centred = None
    valid, c_valid = [], []
    for r, i in enumerate(range(start, stop)):
        kernel = kernels[i]
        if units is None or centred is None:
            units = torch.empty((stop - start, kernel.numel()), dtype=torch.float64)  # (B, M)
            centred = torch.empty_like(units)  # (B, M)
        valid.append(_unit_into(units[r], kernel))
        c_valid.append(_unit_into(centred[r], center(kernel)))
        del kernel  # a disk store's kernel goes now, not with the next one
    assert units is not None and centred is not None
    return units, centred, valid, c_valid


def _fill(distance: np.ndarray, angle: np.ndarray, a: Tensor, b: Tensor, a_ok: list[bool], b_ok: list[bool],
          a0: int, b0: int) -> None:
    """Fill the entries (a0 + p, b0 + q) and their mirrors from the unit vectors a (Ba, M) and b (Bb, M)."""
    a_sq = [float(torch.dot(row, row)) for row in a]  # (Ba,) ≈ 1; row by row, no (B, M) temporary
    b_sq = [float(torch.dot(row, row)) for row in b]  # (Bb,)
    for p in range(a.shape[0]):
        for q in range(b.shape[0]):
            i, j = a0 + p, b0 + q
            if j <= i:
                continue  # the diagonal and the lower triangle: set elsewhere, or mirrors
            if not (a_ok[p] and b_ok[q]):
                distance[i, j] = distance[j, i] = angle[i, j] = angle[j, i] = math.nan
                continue
            g = float(torch.dot(a[p], b[q]))  # pair by pair, not a matrix product: the same sum whatever the blocks
            if 1.0 - g < NEAR:  # nearly parallel: as dynamics.pairwise, without the cancellation of 2 − 2ρ
                diff = float(torch.linalg.vector_norm(a[p] - b[q]))
                total = float(torch.linalg.vector_norm(a[p] + b[q]))
            else:
                diff = math.sqrt(max(a_sq[p] + b_sq[q] - 2.0 * g, 0.0))
                total = math.sqrt(max(a_sq[p] + b_sq[q] + 2.0 * g, 0.0))
            distance[i, j] = distance[j, i] = diff * diff / 2
            angle[i, j] = angle[j, i] = math.degrees(2 * math.atan2(diff, total))


def blocked_pairwise(kernels: Sequence[Tensor], block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(distance S, angle in degrees, centred distance, centred angle), each (T, T) and symmetric.

    As ``dynamics.pairwise(kernels)`` and ``pairwise([center(k) for k in kernels])``, with blocks of
    ``block`` kernels loaded at a time (each kernel read about T / (2 block) + 1 times).
    """
    t = len(kernels)
    out = [np.zeros((t, t)) for _ in range(4)]  # distance, angle, centred distance, centred angle
    step = max(int(block), 1)
    for a0 in range(0, t, step):
        a_u, a_c, a_ok, a_cok = _load(kernels, a0, min(a0 + step, t))
        for i, (ok, c_ok) in enumerate(zip(a_ok, a_cok), start=a0):
            if not ok:
                out[0][i, i] = out[1][i, i] = math.nan
            if not c_ok:
                out[2][i, i] = out[3][i, i] = math.nan
        _fill(out[0], out[1], a_u, a_u, a_ok, a_ok, a0, a0)
        _fill(out[2], out[3], a_c, a_c, a_cok, a_cok, a0, a0)
        for b0 in range(a0 + step, t, step):
            b_u, b_c, b_ok, b_cok = _load(kernels, b0, min(b0 + step, t))
            _fill(out[0], out[1], a_u, b_u, a_ok, b_ok, a0, b0)
            _fill(out[2], out[3], a_c, b_c, a_cok, b_cok, a0, b0)
            del b_u, b_c  # before the next block is loaded: two blocks at most
    return out[0], out[1], out[2], out[3]


def extend_centred_angles(angle: np.ndarray, units: list[Tensor], valid: list[bool], kernel: Tensor) -> np.ndarray:
    """The centred angles (T, T) of kernels whose centred unit vectors (M,) are ``units``, with
    ``kernel`` added: (T + 1, T + 1). Appends its unit vector and validity to ``units`` and
    ``valid``. Each new entry is ``blocked_pairwise``'s, pair by pair: the same numbers, with only
    the new row computed (what a run followed checkpoint by checkpoint needs)."""
    t = len(units)
    row = torch.empty(kernel.numel(), dtype=torch.float64)  # (M,)
    ok = _unit_into(row, center(kernel))
    out = np.zeros((t + 1, t + 1))
    out[:t, :t] = angle
    distance = np.zeros_like(out)  # _fill's other half; the distances are not kept
    if not ok:
        out[t, t] = math.nan
    for i, (unit, unit_ok) in enumerate(zip(units, valid)):
        _fill(distance, out, unit.unsqueeze(0), row.unsqueeze(0), [unit_ok], [ok], i, t)
    units.append(row)
    valid.append(ok)
    return out
