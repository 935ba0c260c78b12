"""What one kernel will cost before it is computed: work, time and peak memory, from its plan.

Work is the plan's Gram products (``costmodel``) and its passes over the probe: a capture pass
runs, a sample, one forward pass and R backward passes that stop at the captured layers' outputs
(no weight gradients); a Jacobian group runs one forward and R backward passes with weight
gradients. torch's FlopCounterMode counts the three kinds of pass on one sample. Time is each kind
of work at its share of the device's GEMM rate (measured here in a fraction of a second) plus a
fixed cost a layer; the shares are fitted to measured kernels (benchmarks/bench_estimate.py,
benchmarks/RESULTS.md "Estimates"). Memory is the engine's working set (within the budget), the
(M, M) float64 accumulator, the finished kernel, and the model and probe on the device.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from .planning import EntkPlan

# Shares of the GEMM rate (benchmarks/RESULTS.md, "Estimates"): the cost model counts captured
# layers' Gram work generously (whole blocks, elementwise combines), so it runs at about the full
# rate; the Jacobian path's products are skinny and memory-bound; passes over the probe are
# convolutions of few channels and elementwise layers.
GRAM_EFFICIENCY = 1.0
JACOBIAN_GRAM_EFFICIENCY = 0.2  # 0.3 at first; the held-out resnet18 Jacobian case ran 2.2x slower
PASS_EFFICIENCY = 0.35
SECONDS_A_LAYER = 0.005  # Python and dispatch overhead of a layer's path, a kernel
SECONDS_A_KERNEL = 0.05  # planning: the capture check's passes, building the functional model
_GEMM_SIZE = 512  # a square GEMM large enough to run near peak, small enough to take milliseconds


@dataclass(frozen=True)
class PassFlops:
    """Floating-point operations of the passes over one sample."""

    forward: float
    cotangent_backward: float  # one backward pass to every layer's output, no weight gradients
    full_backward: float  # one backward pass with every weight gradient


@dataclass(frozen=True)
class KernelEstimate:
    """The expected cost of one kernel."""

    flops: float  # Gram products and passes over the probe
    seconds: float
    working_bytes: int  # the engine's working set, within the memory budget
    peak_bytes: int  # working set, accumulator, finished kernel, model and probe
    rate: float  # the device's measured GEMM rate in the product dtype, flop/s


def _first_leaf_detached(model: nn.Module) -> list[Any]:
    """Hooks making the output of the first leaf module with parameters a leaf of autograd, so that
    a backward pass stops there (a capture pass needs no gradient with respect to the inputs)."""
    fired = False

    def cut(_module: nn.Module, _inputs: object, output: object) -> object:
        nonlocal fired
        if fired or not isinstance(output, Tensor) or not output.is_floating_point():
            return None
        fired = True
        return output.detach().requires_grad_()

    return [m.register_forward_hook(cut) for m in model.modules()
            if next(m.children(), None) is None and next(m.parameters(), None) is not None]


def _backward_flops(model: nn.Module, sample: Tensor, weights: bool) -> float:
    params = {name: p.detach().requires_grad_(weights) for name, p in model.named_parameters()}
    hooks = [] if weights else _first_leaf_detached(model)
    try:
        out = torch.func.functional_call(model, params, (sample.unsqueeze(0),))
        if not isinstance(out, Tensor) or not out.requires_grad:
            return 0.0
        with FlopCounterMode(display=False) as counter:
            out.sum().backward()
    finally:
        for hook in hooks:
            hook.remove()
    return float(counter.get_total_flops())


def pass_flops(model: nn.Module, sample: Tensor) -> PassFlops:
    """Flops of a forward pass, a cotangent backward pass and a full backward pass on one
    ``sample`` (no batch dimension), in eval mode; the model's weights are not changed."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample.unsqueeze(0))
        return PassFlops(float(counter.get_total_flops()), _backward_flops(model, sample, weights=False),
                         _backward_flops(model, sample, weights=True))
    finally:
        model.train(was_training)


@functools.lru_cache(maxsize=None)
def gemm_rate(device: str, dtype: torch.dtype) -> float:
    """The device's matrix-multiply rate in flop/s (the best of a few square GEMMs)."""
    a = torch.randn(_GEMM_SIZE, _GEMM_SIZE, dtype=dtype, device=device)  # (S, S)
    best = float("inf")
    for _ in range(4):  # the first warms up threads and caches
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for _ in range(4):
            a @ a
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - started) / 4)
    return 2 * _GEMM_SIZE**3 / max(best, 1e-9)


def estimate_kernel(plan: EntkPlan, passes: PassFlops, product_rate: float, jacobian_rate: float,
                    resident_bytes: int = 0) -> KernelEstimate:
    """The cost of a kernel that follows ``plan``.

    ``passes``: flops of one sample's passes; ``product_rate`` and ``jacobian_rate``: the GEMM
    rates (flop/s) in the product and Jacobian dtypes; ``resident_bytes``: what sits on the device
    besides the engine (model weights, probe).
    """
    n, r = plan.num_samples, plan.jacobian_rows
    capture = len(plan.capture_groups) * n * (passes.forward + r * passes.cotangent_backward)
    jacobian = len(plan.groups) * n * (passes.forward + r * passes.full_backward)
    captured = sum(layer.flops for layer in plan.layers if layer.path != "jacobian")
    uncaptured = sum(layer.flops for layer in plan.layers if layer.path == "jacobian")
    seconds = (captured / (GRAM_EFFICIENCY * product_rate) + uncaptured / (JACOBIAN_GRAM_EFFICIENCY * product_rate)
               + (capture + jacobian) / (PASS_EFFICIENCY * jacobian_rate) + SECONDS_A_LAYER * len(plan.layers) + SECONDS_A_KERNEL)
    gram = plan.gram_rows**2 * 8  # the float64 accumulator; the finished kernel has as many elements
    peak = plan.working_bytes + 2 * gram + resident_bytes
    return KernelEstimate(captured + uncaptured + capture + jacobian, seconds, plan.working_bytes, peak, product_rate)
