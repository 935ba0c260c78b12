"""Affine layers as patches times a weight, and every layer type's kernel on every path.

References: PyTorch's own layer outputs (patches times the weight must reproduce them) and the
explicit float64 Jacobian of tests/reference.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entk_probe import compute_entk_result
from entk_probe.engine.layers import AffineLayer, ModuleLayer, find_layers

from ..reference import explicit_jacobian, kernels_from_jacobian, relative_error

# Every configuration of Linear/Conv1d/Conv2d the structured paths must handle: (layer, input shape of one sample).
LAYERS = {
    "linear": (lambda: nn.Linear(6, 5), (6,)),
    "linear-no-bias": (lambda: nn.Linear(6, 5, bias=False), (6,)),
    "linear-tokens": (lambda: nn.Linear(6, 5), (4, 6)),
    "linear-2-leading-dims": (lambda: nn.Linear(6, 5), (2, 3, 6)),
    "conv1d-stride-padding": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (3, 9)),
    "conv1d-dilation-groups": (lambda: nn.Conv1d(4, 6, 3, dilation=2, groups=2), (4, 11)),
    "conv1d-reflect": (lambda: nn.Conv1d(3, 4, 3, padding=2, padding_mode="reflect"), (3, 8)),
    "conv1d-same-even-kernel": (lambda: nn.Conv1d(3, 4, 4, padding="same"), (3, 8)),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3), (3, 6, 6)),
    "conv2d-no-bias": (lambda: nn.Conv2d(3, 4, 3, bias=False), (3, 6, 6)),
    "conv2d-stride-padding": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (3, 7, 7)),
    "conv2d-rectangular": (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (3, 7, 6)),
    "conv2d-groups": (lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2), (4, 5, 5)),
    "conv2d-depthwise": (lambda: nn.Conv2d(4, 8, 3, padding=1, groups=4), (4, 5, 5)),
    "conv2d-reflect": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (3, 5, 5)),
    "conv2d-replicate": (lambda: nn.Conv2d(3, 4, 3, padding=2, padding_mode="replicate"), (3, 5, 5)),
    "conv2d-circular": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular", stride=2), (3, 6, 6)),
    "conv2d-same-dilated": (lambda: nn.Conv2d(3, 4, 4, padding="same", dilation=2), (3, 6, 6)),
    "conv2d-valid": (lambda: nn.Conv2d(3, 4, 2, padding="valid"), (3, 5, 5)),
}


def _model(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The layer under test between a tanh and a small head, in float64, with 4 samples."""
    torch.manual_seed(3)
    build, shape = LAYERS[name]
    layer = build()
    with torch.no_grad():
        out_numel = layer(torch.zeros(1, *shape)).numel()
    model = nn.Sequential(nn.Tanh(), layer, nn.Tanh(), nn.Flatten(), nn.Linear(out_numel, 3)).double().eval()
    return model, torch.randn(4, *shape, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_patches_times_the_weight_is_the_layers_output(name: str) -> None:
    model, inputs = _model(name)
    module = model[1]
    layer = AffineLayer("1", module, ["1.weight", "1.bias"] if module.bias is not None else ["1.weight"])
    out = module(inputs)
    layer.set_shapes(tuple(inputs.shape[1:]), tuple(out.shape[1:]))
    a = layer.patches(inputs)  # (n, G, T, I)
    geo = layer.geometry
    w = module.weight.reshape(geo.groups, geo.out_features, -1)  # (G, O, I_w)
    if module.bias is not None:
        w = torch.cat([w, module.bias.reshape(geo.groups, geo.out_features, 1)], dim=2)
    y = torch.einsum("ngti,goi->ngto", a, w)  # (n, G, T, O)
    expected = layer.cotangents(out.unsqueeze(1))[:, 0]  # the output in the same (n, G, T, O) layout
    assert torch.allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("paths", ["structured", "per-sample"])
@pytest.mark.parametrize("mode", ["full", "trace", "pntk"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_type_matches_the_explicit_jacobian(name: str, mode: str, paths: str) -> None:
    model, inputs = _model(name)
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs))[mode]
    result = compute_entk_result(model, inputs, mode=mode, device="cpu", jacobian_dtype=torch.float64, paths=paths)
    plan = next(layer for layer in result.plan.layers if layer.layer == "1")
    assert plan.path == paths and plan.kind == type(model[1]).__name__.lower()
    assert relative_error(result.kernel, reference) < 1e-10


@pytest.mark.parametrize("params", ["1.bias", "1.weight", "1.weight,4.bias"])
def test_weight_or_bias_alone(params: str) -> None:
    model, inputs = _model("conv2d-groups")
    keep = set(params.split(","))
    reference = kernels_from_jacobian(explicit_jacobian(model, inputs, keep=lambda n: n in keep))["full"]
    for paths in ("structured", "per-sample"):
        result = compute_entk_result(model, inputs, mode="full", device="cpu", jacobian_dtype=torch.float64,
                                     params=params, paths=paths)
        assert relative_error(result.kernel, reference) < 1e-10


class _Weird(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.inner = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * self.scale


class _ShiftedConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + 1.0


def test_find_layers_sorts_modules_by_kind() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), _Weird(), nn.Unflatten(1, (3, 1, 1)), _ShiftedConv(3, 2, 1))
    model.register_parameter("temperature", nn.Parameter(torch.ones(())))
    names = [n for n, _ in model.named_parameters()]
    layers, excluded = find_layers(model, names)
    kinds = {layer.name: (type(layer), layer.params) for layer in layers}
    assert kinds == {
        "0": (AffineLayer, ("0.weight", "0.bias")),
        "1": (ModuleLayer, ("1.weight", "1.bias")),
        "2": (ModuleLayer, ("2.scale",)),  # its own parameter only; the inner Linear is a layer of its own
        "2.inner": (AffineLayer, ("2.inner.weight", "2.inner.bias")),
        "4": (ModuleLayer, ("4.weight", "4.bias")),  # a subclass with another forward is not taken as a Conv2d
    }
    assert excluded == {"temperature": "a parameter of the model itself"}


def test_tied_parameters_are_left_to_the_jacobian_path() -> None:
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    model = nn.Sequential(first, nn.Tanh(), second)
    layers, excluded = find_layers(model, [n for n, _ in model.named_parameters()])
    assert excluded == {"0.weight": "shared by several modules"}
    assert [layer.params for layer in layers] == [("0.bias",), ("2.bias",)]


@pytest.mark.parametrize("name", ["linear-tokens", "conv2d-groups", "conv1d-reflect", "conv2d-no-bias"])
def test_per_sample_gradients_and_their_projections_equal_autograds(name: str) -> None:
    model, inputs = _model(name)
    module = model[1]
    params = ["1.weight", "1.bias"] if module.bias is not None else ["1.weight"]
    layer = AffineLayer("1", module, params)
    x = torch.tanh(inputs)  # the layer's input
    out = module(x)
    layer.set_shapes(tuple(x.shape[1:]), tuple(out.shape[1:]))
    g = torch.randn(len(x), 2, *out.shape[1:], dtype=torch.float64)  # two cotangent rows a sample
    per_sample = layer.per_sample_grads(x, g, dict(model.named_parameters()), {})  # (n, R, P)
    geo = layer.geometry
    for n in range(len(x)):
        for r in range(2):
            # autograd: the gradient of <g[n, r], layer(x[n])> with respect to the layer's parameters
            grads = torch.autograd.grad((module(x[n : n + 1]) * g[n, r]).sum(), [module.get_parameter(p[2:]) for p in params])
            expected = layer.layout(dict(zip(params, grads)))  # (G, O, I)
            assert torch.allclose(per_sample[n, r].view(geo.groups, geo.out_features, geo.in_features), expected,
                                  rtol=1e-12, atol=1e-12)
    u = torch.randn(3, geo.groups, geo.out_features, dtype=torch.float64)
    w = torch.randn(3, geo.groups, geo.in_features, dtype=torch.float64)
    projected = layer.projected_grads(x, g, u, w)  # (n, R, 3)
    full = per_sample.view(len(x), 2, geo.groups, geo.out_features, geo.in_features)
    assert torch.allclose(projected, torch.einsum("nrgoi,kgo,kgi->nrk", full, u, w), rtol=1e-12, atol=1e-12)
