"""Blocked symmetric Gram accumulation against numpy's float64 X Xᵀ."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entk_probe.engine.gram import accumulate_upper, block_rows, mirror_upper


@pytest.mark.parametrize("rows,cols,slab", [(5, 7, 7), (300, 40, 13), (1030, 9, 4), (600, 50, 50)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gram_equals_numpy(rows: int, cols: int, slab: int, dtype: torch.dtype) -> None:
    features = torch.randn(rows, cols, dtype=dtype)
    gram = torch.zeros(rows, rows, dtype=torch.float64)
    accumulate_upper(gram, features, slab)
    mirror_upper(gram)
    x = features.numpy().astype(np.float64)  # exact: float32 values are float64 values
    expected = x @ x.T
    np.testing.assert_allclose(gram.numpy(), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert torch.equal(gram, gram.T)


def test_accumulation_adds_to_what_is_there() -> None:
    a, b = torch.randn(300, 6, dtype=torch.float64), torch.randn(300, 9, dtype=torch.float64)
    gram = torch.zeros(300, 300, dtype=torch.float64)
    accumulate_upper(gram, a, 6)
    accumulate_upper(gram, b, 4)
    mirror_upper(gram)
    x = torch.cat([a, b], dim=1).numpy()
    np.testing.assert_allclose(gram.numpy(), x @ x.T, rtol=1e-12, atol=1e-12)


def test_lower_blocks_are_never_multiplied() -> None:
    rows = 3 * block_rows(600)
    gram = torch.full((rows, rows), float("nan"), dtype=torch.float64)
    step = block_rows(rows)
    for i0 in range(0, rows, step):  # the upper block triangle, including diagonal blocks, starts at 0
        gram[i0 : i0 + step, i0:] = 0.0
    accumulate_upper(gram, torch.randn(rows, 3, dtype=torch.float64), 3)
    assert torch.isnan(gram).any(), "the lower triangle must be left alone until mirrored"
    mirror_upper(gram)
    assert not torch.isnan(gram).any()


def test_float32_products_sum_each_slab_in_float32_and_the_slabs_in_float64() -> None:
    torch.manual_seed(0)
    features = torch.randn(200, 10_000)
    gram = torch.zeros(200, 200, dtype=torch.float64)
    accumulate_upper(gram, features, 4096, torch.float32)
    mirror_upper(gram)
    x = features.numpy().astype(np.float64)
    expected = x @ x.T
    error = np.abs(gram.numpy() - expected).max() / np.abs(expected).max()
    assert 0 < error < 1e-6  # float32 rounding, and only that
