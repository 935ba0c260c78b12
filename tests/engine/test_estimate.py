"""The kernel estimate: pass flops counted by hand, the time and memory formulas, the plan it reads."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from entk_probe.engine import estimate
from entk_probe.engine.estimate import KernelEstimate, PassFlops, estimate_kernel, gemm_rate, pass_flops
from entk_probe.engine.kernel import compute_entk_result, plan_entk
from entk_probe.engine.layerplan import CaptureGroup, LayerPlan
from entk_probe.engine.planning import EntkPlan, ParamGroup
from entk_probe.engine.jacobian import Piece


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_pass_flops_are_the_matrix_products_of_each_pass() -> None:
    flops = pass_flops(_mlp(), torch.randn(4))
    # forward: 2·4·8 + 2·8·3; a cotangent backward stops at the first layer's output (8·3 input
    # gradient only); a full backward adds both weight gradients and still skips the input's gradient.
    assert flops == PassFlops(forward=2 * 4 * 8 + 2 * 8 * 3, cotangent_backward=2 * 8 * 3,
                              full_backward=2 * 8 * 3 + 2 * 8 * 3 + 2 * 4 * 8)


def test_pass_flops_leave_the_model_as_it_was() -> None:
    model = _mlp().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pass_flops(model, torch.randn(4))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def _plan() -> EntkPlan:
    layers = (LayerPlan("a", "linear", ("a.weight",), 10, "structured", 1e9, 0, 0),
              LayerPlan("b", "linear", ("b.weight",), 10, "jacobian", 3e9, 0, 0))
    group = ParamGroup((Piece("b.weight", 0, 10),), 10, 5, 10, peak_bytes=7_000)
    capture = (CaptureGroup(("a",), 5, 1_000, peak_bytes=9_000),)
    return EntkPlan(num_samples=20, num_classes=3, jacobian_rows=3, gram_rows=20, itemsize=4, budget=10**6,
                    groups=(group,), layers=layers, capture_groups=capture)


def test_estimate_kernel_adds_gram_work_passes_and_overheads() -> None:
    plan = _plan()
    passes = PassFlops(forward=1e6, cotangent_backward=2e6, full_backward=3e6)
    got = estimate_kernel(plan, passes, product_rate=1e11, jacobian_rate=2e11, resident_bytes=500)
    capture = 20 * (1e6 + 3 * 2e6)  # one capture pass: 20 samples, a forward and 3 cotangent backwards each
    jacobian = 20 * (1e6 + 3 * 3e6)  # one Jacobian group
    seconds = (1e9 / (estimate.GRAM_EFFICIENCY * 1e11) + 3e9 / (estimate.JACOBIAN_GRAM_EFFICIENCY * 1e11)
               + (capture + jacobian) / (estimate.PASS_EFFICIENCY * 2e11) + 2 * estimate.SECONDS_A_LAYER
               + estimate.SECONDS_A_KERNEL)
    assert got.flops == pytest.approx(4e9 + capture + jacobian)
    assert got.seconds == pytest.approx(seconds)
    assert got.working_bytes == 9_000  # the larger of the capture pass and the Jacobian group
    assert got.peak_bytes == 9_000 + 2 * 20 * 20 * 8 + 500
    assert isinstance(got, KernelEstimate) and got.rate == 1e11


def test_gemm_rate_is_a_positive_finite_rate() -> None:
    rate = gemm_rate("cpu", torch.float64)
    assert math.isfinite(rate) and rate > 1e6


@pytest.mark.parametrize("paths", ["auto", "jacobian"])
def test_plan_entk_is_the_plan_the_kernel_follows(paths: str) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    x = torch.randn(6, 3, 6, 6)
    plan = plan_entk(model, x, device="cpu", paths=paths, max_memory="64MiB")
    assert plan == compute_entk_result(model, x, device="cpu", paths=paths, max_memory="64MiB").plan
    assert plan.working_bytes <= plan.budget
