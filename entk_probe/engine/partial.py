"""One part of a kernel: the Gram matrices of a share of the plan's layers and parameter groups.

The kernel is a sum over the plan's units, Θ = Σ_u Φ_u Φ_uᵀ: each captured layer (on the
structured or per-sample path) and each parameter group of the Jacobian path is one unit.
``split_plan`` shares the units out over ``parts``, the largest estimated Gram flops first onto
the least loaded part, deterministically (every rank computes the same split from the same plan);
``restrict`` is the plan of one part: its capture groups keep only its layers (with the same
sample chunks, so that each layer's captured inputs and cotangents, and its products, are those
of the whole kernel) and its own Jacobian groups. ``compute_entk_result(..., part=(rank, parts))``
computes the part's kernel with that plan. The parts are the whole kernel's products, summed in
float64: their sum is the whole kernel up to the order of the float64 sums (about 1e-16 relative).

Each part runs its own capture passes (one forward and R backward passes over the probe) for the
capture groups it has layers of: the Gram products are shared out, those passes are repeated.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import UsageError
from .costmodel import upper_share
from .planning import EntkPlan

Part = tuple[int, int]  # (this part's index, number of parts): a rank and the world size


@dataclass(frozen=True)
class Unit:
    """One term of the kernel's sum: a captured layer, or a parameter group of the Jacobian path."""

    kind: str  # "layer" or "group"
    name: str  # the layer's module path, or the group's index in ``EntkPlan.groups``
    flops: float  # estimated floating-point operations of its Gram matrix


def check_part(part: object) -> Part:
    """``part`` as (index, parts) with 0 <= index < parts; a UsageError otherwise."""
    if (not isinstance(part, tuple) or len(part) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in part) or not 0 <= part[0] < part[1]):
        raise UsageError(f"part must be (index, parts) with 0 <= index < parts, not {part!r}")
    return part


def plan_units(plan: EntkPlan) -> list[Unit]:
    """The plan's units in the order the engine computes them: captured layers, then Jacobian groups."""
    flops = {layer.layer: layer.flops for layer in plan.layers}
    units = [Unit("layer", name, flops[name]) for group in plan.capture_groups for name in group.layers]
    # A Jacobian group's Gram: M rows against M·(N·R·P_g / M) columns, upper block triangle only.
    gram = 2.0 * plan.gram_rows * plan.num_samples * plan.jacobian_rows * upper_share(8)
    units += [Unit("group", str(i), gram * g.size) for i, g in enumerate(plan.groups)]
    return units


def balance(costs: Sequence[float], parts: int) -> list[list[int]]:
    """Indices of ``costs`` shared out over ``parts``: the largest first onto the least loaded.

    Deterministic (ties go to the lower index and part); each share is in increasing index order.
    """
    shares: list[list[int]] = [[] for _ in range(parts)]
    loads = [(0.0, p) for p in range(parts)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, p = heapq.heappop(loads)
        shares[p].append(i)
        heapq.heappush(loads, (load + costs[i], p))
    return [sorted(s) for s in shares]


def split_plan(plan: EntkPlan, parts: int) -> list[list[Unit]]:
    """The plan's units shared out over ``parts`` by estimated flops: one list a part, in plan order."""
    units = plan_units(plan)
    return [[units[i] for i in share] for share in balance([u.flops for u in units], parts)]


def restrict(plan: EntkPlan, part: Part) -> EntkPlan:
    """The plan of part ``part`` = (index, parts): only that part's layers and Jacobian groups.

    ``layers`` (every layer's path) is kept whole; a capture group none of whose layers is this
    part's is dropped, the others keep their chunk size.
    """
    index, parts = check_part(part)
    mine = {(u.kind, u.name) for u in split_plan(plan, parts)[index]}
    capture_groups = tuple(replace(g, layers=kept) for g in plan.capture_groups
                           if (kept := tuple(name for name in g.layers if ("layer", name) in mine)))
    groups = tuple(g for i, g in enumerate(plan.groups) if ("group", str(i)) in mine)
    return replace(plan, groups=groups, capture_groups=capture_groups)
