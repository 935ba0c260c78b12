"""Which path each layer takes, and how captured layers are grouped into capture passes.

Every selected parameter ends up in one ``LayerPlan``: a captured layer on the structured or
per-sample path (``costmodel`` prices both; ``paths="auto"`` takes the cheaper one that fits), or
the Jacobian path for what cannot be captured (parameters of the model itself, tied weights,
layers that failed ``capture.check_layers``, layers whose captured tensors would not fit the
budget). Captured layers are packed, in model order, into capture groups whose stored inputs and
cotangents take at most ``CAPTURE_SHARE`` of the budget; each group costs one forward and R
backward passes over the probe, and its layers' working memory uses the rest of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .capture import CheckResult
from .costmodel import PathCost, capture_bytes, module_cost, per_sample_cost, structured_cost, upper_share
from ..errors import UsageError
from .embedding import EmbeddingLayer
from .layers import AffineLayer, Layer

# The engine's choices of path: "auto" lets the cost model pick per layer; the others force one
# path wherever it applies (tests and benchmarks compare the paths this way).
PATHS = ("auto", "structured", "per-sample", "jacobian")
CAPTURE_SHARE = 0.5  # of the budget, for one capture group's stored inputs and cotangents
# A capture chunk's graph: forward activations, the clones at captured outputs, and the
# temporaries of one backward pass, in units of one sample's forward activations.
CAPTURE_ACTIVATION_COPIES = 4
# Samples a capture chunk at most: batched convolutions and their backward passes run up to 3x
# faster with 256 samples than with 32 (vgg16_bn on the 2-core CPU), and gain little beyond.
MAX_CAPTURE_CHUNK = 256


@dataclass(frozen=True)
class LayerPlan:
    """How one layer's (or the rest of the model's) parameters enter the kernel."""

    layer: str  # module path; "" for parameters of the model itself
    kind: str  # linear, conv1d, conv2d, module (any other), or model
    params: tuple[str, ...]
    num_params: int
    path: str  # structured, per-sample or jacobian
    flops: float  # estimated floating-point operations of its Gram matrix (capture passes not included)
    working_bytes: int
    capture_bytes: int
    block: int = 0  # samples a block (structured) or a chunk (per-sample)
    out_slab: int = 0  # output channels a slab (per-sample affine layers); 0 when not sliced
    reason: str = ""
    keeps: str = "activations"  # what the capture keeps: "activations" (inputs, cotangents) or "gradients"

    def as_dict(self) -> dict[str, object]:
        """The plan as JSON-ready values."""
        d = asdict(self)
        d["params"] = list(self.params)
        return d


@dataclass(frozen=True)
class CaptureGroup:
    """Layers captured together in one pass over the probe."""

    layers: tuple[str, ...]
    chunk_size: int  # samples a forward/backward chunk
    capture_bytes: int  # what the group keeps: inputs and cotangents, or per-sample gradients
    peak_bytes: int = 0  # estimated peak: what it keeps, plus the larger of a chunk's and a layer's working set


def check_paths(paths: str) -> str:
    """Validate the ``paths`` choice."""
    if paths not in PATHS:
        raise UsageError(f"unknown path choice {paths!r}: use one of {', '.join(PATHS)}")
    return paths


def _jacobian_flops(num_params: int, n: int, r: int, full: bool) -> float:
    rows = n * r if full else n
    return 2.0 * rows * n * r * num_params * upper_share(8)


def _choose(layer: Layer, costs: dict[str, PathCost | None], paths: str) -> tuple[PathCost | None, str]:
    feasible = {k: c for k, c in costs.items() if c is not None}
    if not feasible:
        return None, "no path's working set fits the budget"
    if paths in feasible:
        return feasible[paths], f"{paths} path asked for"
    best = min(feasible.values(), key=lambda c: c.weight)
    if len(costs) == 1:
        return best, ("token-pair sums of cotangent products (no per-sample table gradient)"
                      if best.path == "structured" else "per-sample gradients by vjp of the module alone")
    others = ", ".join(f"{c.path} {c.weight / 1e9:.3g}" for c in feasible.values() if c is not best)
    return best, f"cheapest: {best.path} {best.weight / 1e9:.3g} GFLOP" + (f" against {others}" if others else "")


@dataclass(frozen=True)
class _Problem:
    """The sizes every layer's plan depends on."""

    n: int  # samples
    r: int  # rows a sample (logits, or 1 for the pNTK)
    full: bool
    itemsize: int  # bytes of a Jacobian-dtype element
    budget: int
    product_bytes: int  # bytes of a Gram product element

    def jacobian(self, layer: Layer, size: int, reason: str) -> LayerPlan:
        flops = _jacobian_flops(size, self.n, self.r, self.full)
        return LayerPlan(layer.name, layer.kind, layer.params, size, "jacobian", flops, 0, 0, reason=reason)


def plan_layers(
    candidates: Sequence[Layer],
    check: CheckResult | None,
    excluded: Mapping[str, str],
    param_sizes: Mapping[str, int],
    *,
    num_samples: int,
    rows: int,
    full: bool,
    itemsize: int,
    budget: int,
    activation_bytes: int,
    paths: str = "auto",
    product_bytes: int = 8,
) -> tuple[list[LayerPlan], list[CaptureGroup]]:
    """A plan for every candidate layer (and the excluded parameters), and the capture groups.

    ``rows`` is R (logits a sample, or 1 for the pNTK); ``check`` is None when nothing is
    captured (``paths="jacobian"``).
    """
    problem = _Problem(num_samples, rows, full, itemsize, budget, product_bytes)
    plans: list[LayerPlan] = []
    captured: list[tuple[LayerPlan, int]] = []
    for layer in candidates:
        size = sum(param_sizes[p] for p in layer.params)
        plan, chunk_bytes = _plan_layer(layer, size, check, problem, paths)
        plans.append(plan)
        if chunk_bytes is not None:
            captured.append((plan, chunk_bytes))
    if excluded:
        leftover = tuple(excluded)
        size = sum(param_sizes[p] for p in leftover)
        plans.insert(0, LayerPlan("", "model", leftover, size, "jacobian", _jacobian_flops(size, num_samples, rows, full),
                                  0, 0, reason="; ".join(sorted(set(excluded.values())))))
    return plans, _capture_groups(captured, num_samples, budget, activation_bytes)


def _plan_layer(layer: Layer, size: int, check: CheckResult | None, problem: _Problem, paths: str
                ) -> tuple[LayerPlan, int | None]:
    """One layer's plan, and the bytes a sample of a capture chunk holds for it (None: not captured)."""
    p = problem
    if check is None:
        return p.jacobian(layer, size, "jacobian path asked for"), None
    if layer.name in check.rejected:
        return p.jacobian(layer, size, check.rejected[layer.name]), None
    shapes = check.shapes[layer.name]
    stored = capture_bytes(math.prod(shapes.in_shape), math.prod(shapes.out_shape), p.n, p.r, p.itemsize)
    if stored > p.budget * CAPTURE_SHARE:
        return p.jacobian(layer, size, f"its captured inputs and cotangents exceed {CAPTURE_SHARE:.0%} of the memory budget"), None
    working = int(p.budget * (1 - CAPTURE_SHARE))
    if isinstance(layer, EmbeddingLayer):
        layer.set_shapes(shapes.in_shape, shapes.out_shape)
        # A small table (positions, token types) is cheaper as per-sample gradients scattered into it.
        costs = {"structured": structured_cost(layer.geometry, p.n, p.r, p.full, p.itemsize, working, p.product_bytes),
                 "per-sample": module_cost(size, shapes.activation_bytes, p.n, p.r, p.full, p.itemsize, working,
                                           p.product_bytes)}
    elif isinstance(layer, AffineLayer):
        geo = layer.geometry
        costs = {"structured": structured_cost(geo, p.n, p.r, p.full, p.itemsize, working, p.product_bytes),
                 "per-sample": per_sample_cost(geo, p.n, p.r, p.full, p.itemsize, working, p.product_bytes)}
    else:
        costs = {"per-sample": module_cost(size, shapes.activation_bytes, p.n, p.r, p.full, p.itemsize, working,
                                           p.product_bytes)}
    cost, reason = _choose(layer, costs, paths)
    if cost is None:
        return p.jacobian(layer, size, reason), None
    # Per-sample gradients smaller than the inputs and cotangents they come from (norms, say)
    # are formed during the capture, and only they are kept.
    gradients = p.n * p.r * size * p.itemsize
    keeps = "gradients" if cost.path == "per-sample" and not cost.out_slab and gradients <= stored else "activations"
    plan = LayerPlan(layer.name, layer.kind, layer.params, size, cost.path, cost.flops, cost.working_bytes,
                     gradients if keeps == "gradients" else stored, cost.block, cost.out_slab, reason, keeps)
    in_bytes, out_bytes = (math.prod(shape) * p.itemsize for shape in (shapes.in_shape, shapes.out_shape))
    # A capture chunk holds, a sample: the clone of the layer's output, and for layers that keep
    # gradients also its input and the R cotangents until their per-sample gradients are formed.
    return plan, out_bytes + (in_bytes + p.r * out_bytes if keeps == "gradients" else 0)


def _capture_groups(captured: Sequence[tuple[LayerPlan, int]], n: int, budget: int,
                    activation_bytes: int) -> list[CaptureGroup]:
    """Pack (plan, chunk bytes a sample) in order into groups, and size each group's chunks."""
    groups: list[list[tuple[LayerPlan, int]]] = []
    used = 0
    for plan, chunk_bytes in captured:
        if not groups or used + plan.capture_bytes > budget * CAPTURE_SHARE:
            groups.append([])
            used = 0
        groups[-1].append((plan, chunk_bytes))
        used += plan.capture_bytes
    result = []
    for members in groups:
        stored = sum(p.capture_bytes for p, _ in members)
        forming = max((p.working_bytes for p, _ in members if p.keeps == "gradients"), default=0)
        per_sample = CAPTURE_ACTIVATION_COPIES * activation_bytes + sum(b for _, b in members)
        room = budget - stored - forming
        chunk = max(1, min(n, MAX_CAPTURE_CHUNK, int(room // max(per_sample, 1))))
        layer_work = max((p.working_bytes for p, _ in members if p.keeps == "activations"), default=0)
        peak = stored + max(forming + chunk * per_sample, layer_work)
        result.append(CaptureGroup(tuple(p.layer for p, _ in members), chunk, stored, peak))
    return result
