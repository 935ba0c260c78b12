"""Kernel modes: feature views and the reshaping of the Gram matrix into each mode's kernel."""

from __future__ import annotations

import pytest
import torch

from entk_probe.errors import UsageError
from entk_probe.engine.modes import get_mode


def test_each_mode_turns_jacobian_rows_into_its_kernel() -> None:
    n, c, p = 4, 3, 5
    jac = torch.randn(n, c, p, dtype=torch.float64)
    full_ref = torch.einsum("ncp,mdp->nmcd", jac, jac)
    for name in ("full", "trace"):
        mode = get_mode(name)
        phi = mode.features(jac)
        kernel = mode.finalize(phi @ phi.T, n, c)
        expected = full_ref if name == "full" else torch.einsum("nmcc->nm", full_ref)
        torch.testing.assert_close(kernel, expected, rtol=1e-14, atol=1e-14)
    pntk = get_mode("pntk")
    summed = jac.sum(dim=1, keepdim=True)  # (N, 1, P): the rows vmap(grad) of the summed logits gives
    phi = pntk.features(summed)
    torch.testing.assert_close(pntk.finalize(phi @ phi.T, n, c), full_ref.sum(dim=(2, 3)) / c, rtol=1e-14, atol=1e-14)


def test_rows_and_backward_passes_per_sample() -> None:
    assert get_mode("full").jacobian_rows(10) == 10 and get_mode("full").gram_rows_per_sample(10) == 10
    assert get_mode("trace").jacobian_rows(10) == 10 and get_mode("trace").gram_rows_per_sample(10) == 1
    assert get_mode("pntk").jacobian_rows(10) == 1 and get_mode("pntk").gram_rows_per_sample(10) == 1


def test_features_are_views_not_copies() -> None:
    jac = torch.randn(4, 3, 5)
    for name in ("full", "trace"):
        assert get_mode(name).features(jac).data_ptr() == jac.data_ptr()


def test_unknown_mode_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="full, pntk, trace"):
        get_mode("ntk")
