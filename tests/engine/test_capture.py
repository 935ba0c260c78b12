"""Capture checks: layers whose captured tensors would not give autograd's gradients are refused.

Each model below breaks one assumption of the capture; the kernel must still equal the explicit
float64 Jacobian's (the refused layers go through the Jacobian path) and the plan must say why.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from entk_probe import EntkProbeWarning, compute_entk_result
from entk_probe.engine.capture import capture, check_layers
from entk_probe.engine.jacobian import ModelFunction
from entk_probe.engine.layers import find_layers

from ..reference import explicit_jacobian, kernels_from_jacobian, relative_error


class CalledTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.shared(torch.tanh(self.shared(x)))))


class UsedFunctionally(nn.Module):
    """The embedding's weight is also the output projection (weight tying without a second module)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.hidden = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(torch.tanh(self.hidden(self.embed(x))), self.embed.weight.T)


class BatchMean(nn.Module):
    """Subtracts the batch mean in eval mode: a sample's output depends on the others."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        return self.head(torch.tanh(h - h.mean(dim=0, keepdim=True)))


class LargeBatchMean(BatchMean):
    """Depends on the batch only for batches of more than two: passes the check, fails in capture."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        if x.shape[0] > 2:
            h = h - h.mean(dim=0, keepdim=True)
        return self.head(torch.tanh(h))


class InPlaceAfter(nn.Module):
    """A layer's output is changed in place afterwards (as ReLU(inplace=True) after a BatchNorm does)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        h.mul_(2.0).tanh_()
        return self.head(h)


class Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.spare = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def _check(model: nn.Module, mode: str = "full", **kwargs: object) -> dict[str, str]:
    """Kernel against the explicit Jacobian; returns {layer: path or rejection reason}."""
    torch.manual_seed(4)
    model = model.double().eval()
    inputs = torch.randn(5, 4 if not isinstance(model, UsedFunctionally) else 3, dtype=torch.float64)
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))[mode]
    result = compute_entk_result(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, **kwargs)
    assert relative_error(result.kernel, reference) < 1e-10
    return {layer.layer: layer.path if layer.path != "jacobian" else layer.reason for layer in result.plan.layers}


def test_a_module_called_twice_is_not_captured() -> None:
    paths = _check(CalledTwice())
    assert paths["shared"] == "called 2 times in one forward pass"
    assert paths["head"] == "structured"


def test_a_weight_also_used_outside_its_module_is_not_captured() -> None:
    paths = _check(UsedFunctionally())
    assert "differs from autograd" in paths["embed"]
    assert paths["hidden"] == "structured"


def test_a_batch_dependent_model_is_not_captured() -> None:
    paths = _check(BatchMean())
    assert set(paths.values()) == {"the model's output for one sample depends on the other samples of the batch"}


def test_batch_dependence_found_during_the_capture_falls_back_with_a_warning() -> None:
    with pytest.warns(EntkProbeWarning, match="Jacobian path") as record:
        paths = _check(LargeBatchMean(), mode="trace")
    assert record[0].message.code == "batch-dependence"  # type: ignore[union-attr]
    assert set(paths.values()) == {"jacobian path asked for"}


def test_an_output_changed_in_place_later_is_captured_before_the_change() -> None:
    paths = _check(InPlaceAfter())
    assert paths == {"norm": "per-sample", "head": "structured"}


def test_an_unused_module_goes_to_the_jacobian_path_and_adds_nothing() -> None:
    paths = _check(Unused())
    assert paths["spare"] == "called 0 times in one forward pass"


def test_capture_hands_over_inputs_and_cotangents_of_every_chunk() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    fn = ModelFunction.build(model, torch.device("cpu"), torch.float64)
    layers, _ = find_layers(model, [n for n, _ in model.named_parameters()])
    checked = check_layers(fn, x, layers)
    assert [layer.name for layer in checked.layers] == ["0", "2"]
    seen: list[tuple[int, int]] = []
    hidden_cot = torch.empty(5, 3, 6, dtype=torch.float64)

    def consume(i0: int, i1: int, tensors: dict) -> None:
        seen.append((i0, i1))
        assert torch.equal(tensors["0"][0], x[i0:i1])
        hidden_cot[i0:i1] = tensors["0"][1]  # (b, C, 6)

    stored = (torch.empty(5, 6, dtype=torch.float64), torch.empty(5, 3, 3, dtype=torch.float64))
    capture(fn, x, checked.layers, summed=False, chunk_size=2, stores={"2": stored}, consume=consume)
    h = model[0](x)
    assert torch.allclose(stored[0], torch.tanh(h), rtol=0, atol=1e-15)  # the second layer's inputs, in place
    assert torch.equal(stored[1], torch.eye(3, dtype=torch.float64).expand(5, 3, 3))  # d f_r / d f_q
    assert seen == [(0, 2), (2, 4), (4, 5)]
    # The cotangent of logit r at the first layer's output is d f_r / d h = W2[r] * tanh'(h), sample by sample.
    expected = model[2].weight.unsqueeze(0) * (1 - torch.tanh(h) ** 2).unsqueeze(1)  # (N, C, 6)
    assert torch.allclose(hidden_cot, expected, rtol=0, atol=1e-14)
