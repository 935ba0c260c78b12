"""Contributions: each parameter group's share of the eNTK, computed separately and summed.

Because Θ = Σ_g J_g J_gᵀ over any partition of the parameters into groups g, the engine asks one
``Contribution`` per group to add its Gram matrix Φ_g Φ_gᵀ into a shared float64 accumulator.
``JacobianContribution`` does it for any group from per-sample Jacobians. A structured
contribution for a layer (a Linear or Conv layer's kernel from its inputs and output cotangents,
with no per-sample weight gradients) is another subclass covering that layer's parameters; the
engine needs no change to use it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .gram import FLOAT32_SLAB_COLUMNS, accumulate_upper
from .jacobian import ModelFunction, Piece, jacobian_rows
from .modes import KernelMode
from .planning import ParamGroup

Progress = Callable[[int, int], None]  # (units done, units in all)


@dataclass
class EngineContext:
    """What every contribution needs: the model function, the probe and the kernel's layout."""

    fn: ModelFunction
    inputs: Tensor  # (N, ...) on the engine's device, in the Jacobian dtype (integer inputs as they are)
    mode: KernelMode
    num_classes: int
    progress: Progress | None = None
    products: torch.dtype = torch.float64  # dtype of the Gram products (sums are float64)
    dtype: torch.dtype | None = None  # the Jacobian dtype (cotangents, Jacobians, per-sample gradients); None: fn's
    total_units: int = 0
    done_units: int = 0

    def __post_init__(self) -> None:
        if self.dtype is None:
            self.dtype = self.fn.dtype

    def advance(self, units: int) -> None:
        """Report that ``units`` more units of work are done."""
        self.done_units += units
        if self.progress is not None:
            self.progress(self.done_units, self.total_units)

    @property
    def num_samples(self) -> int:
        return self.inputs.shape[0]

    @property
    def jacobian_rows(self) -> int:
        return self.mode.jacobian_rows(self.num_classes)


class Contribution(ABC):
    """One parameter group's Gram matrix, added into the engine's (M, M) float64 accumulator.

    Implementations add only the upper block triangle (as ``gram.accumulate_upper`` does) or the
    whole matrix; the engine mirrors the upper triangle onto the lower one once at the end, so a
    contribution that fills both must keep them equal.
    """

    @property
    @abstractmethod
    def pieces(self) -> tuple[Piece, ...]:
        """The parameter elements this contribution covers."""

    @abstractmethod
    def work_units(self, ctx: EngineContext) -> int:
        """How many progress units ``add_to`` reports."""

    @abstractmethod
    def add_to(self, gram: Tensor, ctx: EngineContext) -> None:
        """Add this group's Gram matrix (M, M) into ``gram``."""


class JacobianContribution(Contribution):
    """A group's Gram matrix from its per-sample Jacobians, computed chunk by chunk and held whole."""

    def __init__(self, group: ParamGroup) -> None:
        self.group = group

    @property
    def pieces(self) -> tuple[Piece, ...]:
        return self.group.pieces

    def work_units(self, ctx: EngineContext) -> int:
        return math.ceil(ctx.num_samples / self.group.chunk_size)

    def add_to(self, gram: Tensor, ctx: EngineContext) -> None:
        n, r, chunk = ctx.num_samples, ctx.jacobian_rows, self.group.chunk_size
        store = torch.empty(n, r, self.group.size, dtype=ctx.dtype, device=ctx.inputs.device)  # (N, R, P_g)
        for i0 in range(0, n, chunk):
            i1 = min(i0 + chunk, n)
            jacobian_rows(ctx.fn, ctx.inputs[i0:i1], self.pieces, ctx.mode.summed_logits, store[i0:i1])
            ctx.advance(1)
        columns = self.group.slab_columns if ctx.products == torch.float64 else FLOAT32_SLAB_COLUMNS
        accumulate_upper(gram, ctx.mode.features(store), columns, ctx.products)
