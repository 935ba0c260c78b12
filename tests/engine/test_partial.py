"""A kernel's parts (``part=(index, parts)``): they sum to the whole kernel, and to an explicit J Jᵀ.

The reference here is built with torch.func.jacrev over the model's parameters in float64,
independently of the engine's Jacobian, capture and Gram code.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev

from entk_probe import EntkProbeWarning, UsageError, compute_entk_result
from entk_probe.engine.partial import balance, check_part, plan_units, restrict, split_plan


class ScaledCNN(nn.Module):
    """A small CNN with BatchNorm and a parameter of the model itself (which only the Jacobian path covers)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Conv2d(4, 6, 3, stride=2), nn.BatchNorm2d(6), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))
        self.scale = nn.Parameter(torch.tensor([1.5, 0.5, -1.0, 2.0]))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) * self.scale


def _mlp() -> tuple[nn.Module, Tensor]:
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3))
    return model.double().eval(), torch.randn(7, 5, dtype=torch.float64)


def _cnn() -> tuple[nn.Module, Tensor]:
    model = ScaledCNN().double()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # running statistics a trained model would have
            module.running_mean.normal_(0.0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval(), torch.randn(5, 3, 8, 8, dtype=torch.float64)


MODELS = {"mlp": _mlp, "cnn_bn": _cnn}


def _jacrev_kernel(model: nn.Module, x: Tensor, mode: str) -> Tensor:
    """J Jᵀ from torch.func.jacrev of the batched logits (N, C) with respect to every parameter, float64."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    jac = jacrev(lambda p: functional_call(model, (p, buffers), (x,)))(params)  # {name: (N, C, *shape)}
    n, c = x.shape[0], jac[next(iter(jac))].shape[1]
    flat = torch.cat([j.reshape(n, c, -1) for j in jac.values()], dim=2)  # (N, C, P)
    full = torch.einsum("ncp,mdp->nmcd", flat, flat)  # (N, N, C, C)
    return full if mode == "full" else torch.diagonal(full, dim1=2, dim2=3).sum(-1)  # (N, N)


def _parts(model: nn.Module, x: Tensor, parts: int, **kwargs: object) -> list[Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EntkProbeWarning)
        return [compute_entk_result(model, x, device="cpu", part=(i, parts), **kwargs).kernel for i in range(parts)]


def _relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("mode", ["full", "trace"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_parts_sum_to_the_whole_kernel_and_to_jacrevs(name: str, mode: str) -> None:
    torch.manual_seed(3)
    model, x = MODELS[name]()
    model, x = model.float().double(), x.float().double()  # values float32 holds exactly, for both runs below
    reference = _jacrev_kernel(model, x, mode)
    # float32 Jacobians and products, as analyze computes by default: the parts are the same products
    whole32 = compute_entk_result(model.float(), x.float(), mode=mode, device="cpu")
    units = plan_units(whole32.plan)
    assert len(units) >= 3 and (name != "cnn_bn" or {u.kind for u in units} == {"layer", "group"})
    for parts in (2, 3):
        pieces = _parts(model, x.float(), parts, mode=mode)
        assert all(p.dtype == torch.float64 and p.shape == whole32.kernel.shape for p in pieces)
        assert sum(float(p.abs().max()) > 0 for p in pieces) == parts  # every part holds a share
        assert _relative(sum(pieces), whole32.kernel) < 1e-12
        assert _relative(sum(pieces), reference) < 1e-5  # float32 Jacobians against float64 ones
    # float64 throughout: the sum of the parts is J Jᵀ to float64 rounding
    model.double()
    pieces = _parts(model, x, 2, mode=mode, jacobian_dtype=torch.float64)
    assert _relative(sum(pieces), reference) < 1e-10


def test_the_parts_of_a_plan_in_several_jacobian_groups_sum_to_the_kernel() -> None:
    torch.manual_seed(4)
    model, x = _mlp()
    settings = {"mode": "trace", "paths": "jacobian", "max_memory": 30000, "jacobian_dtype": torch.float64}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EntkProbeWarning)
        whole = compute_entk_result(model, x, device="cpu", **settings)
    assert len(whole.plan.groups) >= 3 and not whole.plan.capture_groups
    assert _relative(sum(_parts(model, x, 2, **settings)), whole.kernel) < 1e-12
    assert _relative(whole.kernel, _jacrev_kernel(model, x, "trace")) < 1e-10


def test_the_split_is_deterministic_balanced_and_covers_every_unit_once() -> None:
    torch.manual_seed(3)
    model, x = _cnn()
    plan = compute_entk_result(model, x, device="cpu", jacobian_dtype=torch.float64).plan
    units = plan_units(plan)
    for parts in (1, 2, 3, len(units) + 2):
        split = split_plan(plan, parts)
        assert split == split_plan(plan, parts)
        assert sorted((u.kind, u.name) for s in split for u in s) == sorted((u.kind, u.name) for u in units)
        loads = [sum(u.flops for u in s) for s in split]
        # longest first onto the least loaded: no part exceeds the mean by more than the largest unit
        assert max(loads) <= sum(loads) / parts + max(u.flops for u in units) + 1e-6
    first = restrict(plan, (0, 2))
    assert first.layers == plan.layers  # every layer's path is still there for the report
    assert {n for g in first.capture_groups for n in g.layers} == {u.name for u in split_plan(plan, 2)[0] if u.kind == "layer"}
    # 5, 4, 3 open the parts; 3 and 2 go to the two lighter ones, then 1 and 1 to the lightest: loads 7, 6, 6
    assert balance([5.0, 1.0, 1.0, 4.0, 2.0, 3.0, 3.0], 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert balance([1.0] * 5, 2) == [[0, 2, 4], [1, 3]] and balance([], 2) == [[], []]


def test_a_malformed_part_is_refused() -> None:
    assert check_part((1, 2)) == (1, 2)
    for bad in ((2, 2), (-1, 2), (0, 0), [0, 2], (True, 2), (0, 2, 1)):
        with pytest.raises(UsageError, match="part must be"):
            check_part(bad)
    model, x = _mlp()
    with pytest.raises(UsageError, match="part must be"):
        compute_entk_result(model, x, device="cpu", part=(3, 2))
