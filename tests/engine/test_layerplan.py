"""Layer plans: every parameter planned once, forced paths, capture passes packed within the budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entk_probe import UsageError, compute_entk_result
from entk_probe.engine.layerplan import CAPTURE_SHARE

from ..reference import explicit_jacobian, kernels_from_jacobian, relative_error


def _cnn(n: int = 6) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(7)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 36, 4),
    ).double().eval()
    return model, torch.randn(n, 3, 6, 6, dtype=torch.float64)


def test_small_norm_layers_keep_per_sample_gradients_not_activations() -> None:
    model, inputs = _cnn()
    plan = compute_entk_result(model, inputs, device="cpu", jacobian_dtype=torch.float64).plan
    by_layer = {p.layer: p for p in plan.layers}
    assert by_layer["1"].kind == "module" and by_layer["1"].keeps == "gradients"
    assert by_layer["1"].capture_bytes == 6 * 4 * 16 * 8  # N·R·P float64: 16 parameters, 4 rows
    assert by_layer["6"].keeps == "activations" and by_layer["6"].path == "structured"


def test_a_small_budget_splits_the_capture_into_passes_and_the_kernel_is_unchanged() -> None:
    model, inputs = _cnn()
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))["full"]
    budget = 200_000
    result = compute_entk_result(model, inputs, mode="full", device="cpu", jacobian_dtype=torch.float64,
                                 max_memory=budget)
    groups = result.plan.capture_groups
    assert len(groups) > 1
    assert all(g.capture_bytes <= CAPTURE_SHARE * budget for g in groups)
    assert sorted(name for g in groups for name in g.layers) == sorted(
        p.layer for p in result.plan.layers if p.path != "jacobian")
    assert relative_error(result.kernel, reference) < 1e-10


def test_a_layer_whose_capture_exceeds_half_the_budget_takes_the_jacobian_path() -> None:
    model, inputs = _cnn(64)  # captured tensors grow with N; a Jacobian can be split into column ranges
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))["trace"]
    result = compute_entk_result(model, inputs, device="cpu", jacobian_dtype=torch.float64, max_memory=1_000_000)
    reasons = {p.layer: p.reason for p in result.plan.layers if p.path == "jacobian"}
    assert reasons and all("exceed 50% of the memory budget" in r for r in reasons.values())
    assert relative_error(result.kernel, reference) < 1e-10


def test_plans_say_why_and_serialise() -> None:
    model, inputs = _cnn()
    plan = compute_entk_result(model, inputs, device="cpu", jacobian_dtype=torch.float64).plan
    for layer in plan.layers:
        d = layer.as_dict()
        assert d["path"] in ("structured", "per-sample") and d["reason"] and d["flops"] > 0
        assert isinstance(d["params"], list)
    assert "layers by path" in plan.describe()


def test_an_unknown_path_choice_is_a_usage_error() -> None:
    model, inputs = _cnn()
    with pytest.raises(UsageError, match="unknown path choice 'fast'"):
        compute_entk_result(model, inputs, device="cpu", paths="fast")
