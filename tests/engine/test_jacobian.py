"""Per-sample Jacobian rows: vmap path and per-sample path agree with autograd, pieces slice right."""

from __future__ import annotations

import pytest
import torch

from entk_probe.errors import EntkProbeWarning, ModelError
from entk_probe.engine.jacobian import ModelFunction, Piece, jacobian_rows, probe_model

from .. import models
from ..reference import explicit_jacobian


def _fn(model: torch.nn.Module) -> ModelFunction:
    return ModelFunction.build(model.eval(), torch.device("cpu"), torch.float64)


def test_rows_of_a_piece_are_the_matching_columns_of_the_explicit_jacobian() -> None:
    model, inputs = models.mlp()
    reference = explicit_jacobian(model, inputs)  # (N, C, P), parameters in model order
    names = [n for n, _ in model.named_parameters()]
    offsets = dict(zip(names, torch.tensor([0] + [p.numel() for p in model.parameters()]).cumsum(0).tolist()))
    pieces = (Piece("2.weight", 30, 100), Piece("4.bias", 0, 3))
    out = torch.empty(inputs.shape[0], 3, 73, dtype=torch.float64)
    jacobian_rows(_fn(model), inputs, pieces, summed=False, out=out)
    expected = torch.cat([reference[:, :, offsets[p.name] + p.start : offsets[p.name] + p.stop] for p in pieces], dim=2)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    summed = torch.empty(inputs.shape[0], 1, 73, dtype=torch.float64)
    jacobian_rows(_fn(model), inputs, pieces, summed=True, out=summed)
    torch.testing.assert_close(summed, expected.sum(dim=1, keepdim=True), rtol=1e-12, atol=1e-12)


def test_the_per_sample_path_is_taken_once_vmap_fails_and_then_kept() -> None:
    model, inputs = models.item_control_flow()
    fn = _fn(model)
    pieces = tuple(Piece(n, 0, p.numel()) for n, p in model.named_parameters())
    total = sum(p.size for p in pieces)
    out = torch.empty(inputs.shape[0], 3, total, dtype=torch.float64)
    with pytest.warns(EntkProbeWarning, match="vmap said"):
        jacobian_rows(fn, inputs[:3], pieces, summed=False, out=out[:3])
    assert fn.vmap_works is False
    jacobian_rows(fn, inputs[3:], pieces, summed=False, out=out[3:])  # no second warning needed
    torch.testing.assert_close(out, explicit_jacobian(model, inputs), rtol=1e-12, atol=1e-12)


def test_probe_model_reports_logits_and_activation_bytes() -> None:
    model, inputs = models.mlp()
    classes, activation = probe_model(_fn(model), inputs[0])
    assert classes == 3
    assert activation == (12 + 12 + 12 + 12 + 3) * 8  # outputs of the five leaf modules, float64


def test_a_model_with_a_non_logit_output_is_a_model_error() -> None:
    model = torch.nn.Conv2d(3, 2, 1).double()
    with pytest.raises(ModelError, match="logits of shape"):
        probe_model(_fn(model), torch.randn(3, 4, 4, dtype=torch.float64))
