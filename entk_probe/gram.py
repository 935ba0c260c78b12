"""Symmetric Gram accumulation in float64: G += Φ Φᵀ, each block pair computed once.

Only the upper block triangle is multiplied (about half the flops of a plain ``Φ @ Φ.T``);
``mirror_upper`` fills the lower triangle at the end. Float32 features are cast to float64 one
column slab at a time, so the products and sums are exact float64 arithmetic on the stored
Jacobian without a float64 copy of the whole Jacobian.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Rows of a GEMM block. Fewer, larger blocks run closer to peak; more blocks skip more of the
# lower triangle. With at least this many rows a block, blocks run at full speed on CPU and GPU.
MIN_BLOCK_ROWS = 256
MAX_BLOCKS = 8


def block_rows(rows: int) -> int:
    """Rows of each GEMM block for a Gram matrix of ``rows`` rows."""
    return max(MIN_BLOCK_ROWS, -(-rows // MAX_BLOCKS))


def accumulate_upper(gram: Tensor, features: Tensor, slab_columns: int) -> None:
    """Add the upper block triangle of ``features @ features.T`` (M, M) to ``gram`` (M, M), in place.

    ``features`` is Φ (M, F) in any floating dtype; ``gram`` is float64 on the same device.
    Blocks on the diagonal are computed whole; blocks below it are left for ``mirror_upper``.
    """
    m, f = features.shape
    step = block_rows(m)
    for s0 in range(0, f, slab_columns):
        slab = features[:, s0 : s0 + slab_columns].to(torch.float64)  # (M, S)
        for i0 in range(0, m, step):
            i1 = min(i0 + step, m)
            gram[i0:i1, i0:].addmm_(slab[i0:i1], slab[i0:].T)  # (b, M - i0)


def mirror_upper(gram: Tensor) -> None:
    """Make ``gram`` exactly symmetric from its upper triangle, in place.

    Blocks below the diagonal come from the upper block triangle left by ``accumulate_upper``;
    inside each diagonal block, where a GEMM's two triangles can differ in the last bit, the
    upper triangle wins too.
    """
    m = gram.shape[0]
    step = block_rows(m)
    for i0 in range(0, m, step):
        i1 = min(i0 + step, m)
        gram[i0:i1, :i0] = gram[:i0, i0:i1].T
        diagonal = gram[i0:i1, i0:i1]  # (b, b)
        diagonal.copy_(torch.triu(diagonal) + torch.triu(diagonal, 1).T)
