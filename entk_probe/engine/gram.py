"""Symmetric Gram accumulation: G += Φ Φᵀ into a float64 accumulator, each block pair computed once.

Only the upper block triangle is multiplied (about half the flops of a plain ``Φ @ Φ.T``);
``mirror_upper`` fills the lower triangle at the end. Φ is multiplied one column slab at a time
in the products' dtype: float64 by default (float32 features are cast slab by slab, so products
and sums are exact float64 arithmetic on the stored Jacobian without a float64 copy of all of it),
or float32, about twice as fast, each slab's products summed in float32 and the slabs in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Rows of a GEMM block. More blocks skip more of the lower triangle; blocks of 64 rows and more
# still run at full speed (measured on the 2-core CPU for 200 to 5,000 rows: 8 to 16 blocks of
# at least 64 rows beat 256-row blocks by 10-25%).
MIN_BLOCK_ROWS = 64
MAX_BLOCKS = 16
# Columns a float32 product sums over before its result joins the float64 accumulator: the
# rounding of a float32 sum grows with its length.
FLOAT32_SLAB_COLUMNS = 4096


def block_rows(rows: int) -> int:
    """Rows of each GEMM block for a Gram matrix of ``rows`` rows."""
    return max(MIN_BLOCK_ROWS, -(-rows // MAX_BLOCKS))


def slab_columns(rows: int, columns: int, itemsize: int, products: torch.dtype = torch.float64) -> int:
    """Columns of Φ multiplied at a time: float64 slabs of about 16 MiB (cast ones stay in cache)."""
    if products == torch.float32:
        return min(columns, FLOAT32_SLAB_COLUMNS)
    if itemsize == 8:
        return columns
    return min(columns, max(2048, 16 * 2**20 // (rows * 8)))


def accumulate_upper(gram: Tensor, features: Tensor, slab_columns: int,
                     products: torch.dtype = torch.float64) -> None:
    """Add the upper block triangle of ``features @ features.T`` (M, M) to ``gram`` (M, M), in place.

    ``features`` is Φ (M, F); ``gram`` is float64 on the same device; ``products`` is the dtype
    of the block products (float32 needs float32 features). Blocks on the diagonal are computed
    whole; blocks below it are left for ``mirror_upper``.
    """
    m, f = features.shape
    step = block_rows(m)
    for s0 in range(0, f, slab_columns):
        slab = features[:, s0 : s0 + slab_columns].to(products)  # (M, S)
        for i0 in range(0, m, step):
            i1 = min(i0 + step, m)
            if products == torch.float64:
                gram[i0:i1, i0:].addmm_(slab[i0:i1], slab[i0:].T)  # (b, M - i0)
            else:
                gram[i0:i1, i0:] += torch.mm(slab[i0:i1], slab[i0:].T)  # float32 block, float64 sum


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
