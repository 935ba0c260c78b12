"""The two affine paths against the definition, written out as loops over samples and positions."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from entk_probe.engine.contributions import EngineContext
from entk_probe.engine.gram import mirror_upper
from entk_probe.engine.jacobian import ModelFunction
from entk_probe.engine.layers import AffineLayer
from entk_probe.engine.modes import MODES
from entk_probe.engine.structured import add_per_sample, add_structured


def _definition(a: torch.Tensor, g: torch.Tensor, full: bool) -> torch.Tensor:
    """Θ[n, m, r, q] = Σ_γ Σ_{t,s} (a[n,γ,t]·a[m,γ,s]) (g[n,r,γ,t]·g[m,q,γ,s]), loop by loop.

    a (N, G, T, I), g (N, R, G, T, O); returns (N·R, N·R) sample-major when ``full``, else the
    (N, N) sum over r == q.
    """
    n, r, groups, t, _ = g.shape
    out = torch.zeros(n, r, n, r, dtype=torch.float64)
    for i, j, p, q in itertools.product(range(n), range(n), range(r), range(r)):
        out[i, p, j, q] = sum(
            float(a[i, c, u] @ a[j, c, v]) * float(g[i, p, c, u] @ g[j, q, c, v])
            for c, u, v in itertools.product(range(groups), range(t), range(t))
        )
    if full:
        return out.reshape(n * r, n * r)
    return torch.diagonal(out, dim1=1, dim2=3).sum(-1)


def _conv_layer() -> tuple[AffineLayer, torch.Tensor, torch.Tensor]:
    torch.manual_seed(6)
    conv = nn.Conv2d(4, 6, 2, stride=2, groups=2).double()
    x = torch.randn(5, 4, 4, 4, dtype=torch.float64)
    layer = AffineLayer("conv", conv, ["conv.weight", "conv.bias"])
    layer.set_shapes((4, 4, 4), (6, 2, 2))
    g = torch.randn(5, 3, 6, 2, 2, dtype=torch.float64)  # cotangents of R=3 rows
    return layer, x, g


@pytest.mark.parametrize("block", [1, 2, 3, 5])
@pytest.mark.parametrize("full", [True, False])
def test_structured_blocks_add_the_definition(full: bool, block: int) -> None:
    layer, x, g = _conv_layer()
    expected = _definition(layer.patches(x), layer.cotangents(g), full)
    gram = torch.zeros_like(expected)
    add_structured(gram, layer, x, g, full=full, block=block)
    mirror_upper(gram)
    assert torch.allclose(gram, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("chunk", "out_slab"), [(1, 1), (2, 2), (5, 0), (3, 2)])
@pytest.mark.parametrize("mode", ["full", "trace"])
def test_per_sample_slabs_and_chunks_add_the_definition(mode: str, chunk: int, out_slab: int) -> None:
    layer, x, g = _conv_layer()
    full = mode == "full"
    expected = _definition(layer.patches(x), layer.cotangents(g), full)
    model = nn.Sequential()
    model.add_module("conv", layer.module)
    ctx = EngineContext(ModelFunction.build(model, torch.device("cpu"), torch.float64), x, MODES[mode], num_classes=3)
    gram = torch.zeros_like(expected)
    add_per_sample(gram, layer, x, g, ctx, chunk=chunk, out_slab=out_slab)
    mirror_upper(gram)
    assert torch.allclose(gram, expected, rtol=1e-12, atol=0)
