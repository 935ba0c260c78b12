"""Memory planning: how to split samples and parameters so the engine stays within a budget.

The engine holds, for one parameter group at a time, the Jacobian rows of every probe sample
(``N x R x P_g`` elements in the Jacobian dtype), computes them ``chunk`` samples at a time, and
multiplies them in float64 column slabs. The budget covers those three:

- store:   N · R · P_g · itemsize               (the group's Jacobian, all samples)
- working: chunk · (COPIES · R · T_g · itemsize + (R + 2) · A · SAFETY)
           (vmap's Jacobians of the group's whole tensors, T_g elements, with the copies made while
           they are reshaped into the store, and the activations of R backward passes, A bytes a
           sample)
- slab:    M · S · 8 when the Jacobian dtype is not float64 (M Gram rows, S columns a slab)

When the whole model's Jacobian fits, there is one group and nothing is recomputed. Otherwise the
parameters (in the model's order) are packed into groups whose store takes at most half the
budget; a tensor larger than that is split into column ranges (its Jacobian is then recomputed
for each range, and only that range is kept). The kernel itself and the model are not part of
the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import MemoryBudgetError
from .jacobian import Piece
from .layerplan import CaptureGroup, LayerPlan
from .memory import format_bytes

# Measured on CPU (benchmarks/memory_calibration.py): a chunk's Jacobian exists up to about 3.5
# times over at its peak (vmap's batched result, its re-layout, the slice written to the store),
# and the backward passes hold a few times the forward activations.
JACOBIAN_COPIES = 4.0
ACTIVATION_SAFETY = 3.0
STORE_SHARE = 0.5  # of the budget, for one group's Jacobian when the whole one does not fit
SLAB_SHARE = 0.15  # of the budget, at most, for the float64 copy of one column slab
# Slabs of about 16 MiB stay in cache between the cast and the GEMM (twice as fast as one big
# slab for a 100 x 3.7M Φ), with at least 2048 columns so that the GEMM's inner dimension is long.
SLAB_TARGET_BYTES = 16 * 2**20
SLAB_MIN_COLUMNS = 2048
# A chunk of a quarter of the probe (at least 16 samples) runs as fast as the whole probe at once
# (test_resnet, N=100: 2.63 s against 2.84 s) while vmap's transient copies stay a fraction of
# the store instead of doubling it.
CHUNK_FRACTION = 4
MIN_CHUNK = 16


@dataclass(frozen=True)
class ParamGroup:
    """Pieces of parameters whose Jacobian is computed and held together."""

    pieces: tuple[Piece, ...]
    tensor_elements: int  # elements of the whole tensors the pieces come from (vmap computes those)
    chunk_size: int  # samples a Jacobian chunk
    slab_columns: int  # columns of Φ cast to float64 at a time
    peak_bytes: int = 0  # estimated: the group's Jacobian for all samples, a chunk's working memory and a slab

    @property
    def size(self) -> int:
        return sum(p.size for p in self.pieces)


@dataclass(frozen=True)
class EntkPlan:
    """What the engine will do for one kernel, and the memory it expects to use (bytes).

    ``groups`` are the parameter groups of the Jacobian path; ``layers`` says which path every
    layer took (``layerplan``), ``capture_groups`` how the captured layers share capture passes.
    """

    num_samples: int
    num_classes: int
    jacobian_rows: int  # R: backward passes a sample
    gram_rows: int  # M: rows of Φ (N·C in full mode, else N)
    itemsize: int  # bytes of one Jacobian element
    budget: int
    groups: tuple[ParamGroup, ...]
    layers: tuple[LayerPlan, ...] = ()
    capture_groups: tuple[CaptureGroup, ...] = ()

    @property
    def num_params(self) -> int:
        captured = sum(layer.num_params for layer in self.layers if layer.path != "jacobian")
        return sum(g.size for g in self.groups) + captured

    @property
    def holds_full_jacobian(self) -> bool:
        return len(self.groups) == 1 and not self.capture_groups

    @property
    def num_chunks(self) -> int:
        jacobian = sum(math.ceil(self.num_samples / g.chunk_size) for g in self.groups)
        return jacobian + sum(math.ceil(self.num_samples / c.chunk_size) for c in self.capture_groups)

    @property
    def working_bytes(self) -> int:
        """Estimated peak of the engine's working memory (within the budget): the largest capture
        pass or Jacobian group; the (M, M) float64 accumulator and the model come on top."""
        return max([g.peak_bytes for g in self.groups] + [c.peak_bytes for c in self.capture_groups] + [0])

    @property
    def passes(self) -> int:
        """Passes over the probe (one forward and R backward passes a sample each)."""
        return len(self.groups) + len(self.capture_groups)

    def path_counts(self) -> dict[str, int]:
        """Layers by path, e.g. {"structured": 21, "per-sample": 20, "jacobian": 1}."""
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.path] = counts.get(layer.path, 0) + 1
        return counts

    def describe(self) -> str:
        """One line for logs: paths, passes, chunks and the memory the plan expects."""
        paths = ", ".join(f"{k} {v}" for k, v in self.path_counts().items()) or "none"
        return (
            f"{self.num_params:,} parameters; layers by path: {paths}; {len(self.capture_groups)} capture "
            f"pass(es), {len(self.groups)} Jacobian group(s), {self.num_chunks} chunk(s), budget "
            f"{format_bytes(self.budget)}"
        )


def _pack(
    sizes: Sequence[tuple[str, int]], capacity: int, piece_capacity: Callable[[str, int], int]
) -> list[list[Piece]]:
    """Pack parameters, in order, into groups of at most ``capacity`` elements.

    A parameter larger than that is split into column ranges of ``piece_capacity(name, numel)``
    elements, one group each.
    """
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    used = 0
    for name, numel in sizes:
        if numel > capacity:
            if current:
                groups.append(current)
                current, used = [], 0
            step = piece_capacity(name, numel)
            groups.extend([[Piece(name, s, min(s + step, numel))] for s in range(0, numel, step)])
            continue
        if used + numel > capacity:
            groups.append(current)
            current, used = [], 0
        current.append(Piece(name, 0, numel))
        used += numel
    if current:
        groups.append(current)
    return groups


@dataclass(frozen=True)
class _Sizes:
    """The memory model of the Jacobian path (module docstring) for one kernel."""

    n: int  # samples
    r: int  # Jacobian rows a sample
    b: int  # bytes of a Jacobian element
    gram_rows: int
    budget: int
    activation_bytes: int

    @property
    def per_sample_activations(self) -> float:
        return (self.r + 2) * self.activation_bytes * ACTIVATION_SAFETY

    @property
    def slab_columns_max(self) -> float:
        if self.b == 8:
            return math.inf
        return max(1, min(int(self.budget * SLAB_SHARE // (self.gram_rows * 8)),
                          max(SLAB_MIN_COLUMNS, SLAB_TARGET_BYTES // (self.gram_rows * 8))))

    def slab_bytes(self, columns: int) -> float:
        return 0 if self.b == 8 else self.gram_rows * min(columns, self.slab_columns_max) * 8

    def feature_columns(self, params: int) -> int:
        return params * (self.r if self.gram_rows == self.n else 1)  # trace/pntk rows are samples: C·P columns

    def working(self, tensor_elements: int) -> float:
        """Memory of one sample of a chunk."""
        return JACOBIAN_COPIES * self.r * tensor_elements * self.b + self.per_sample_activations

    def store(self, params: int) -> int:
        return self.n * self.r * params * self.b

    def packed(self, sizes: Sequence[tuple[str, int]]) -> list[list[Piece]]:
        """All parameters in one group when their Jacobian fits, else groups within the store share."""
        total = sum(numel for _, numel in sizes)
        if self.store(total) + self.slab_bytes(self.feature_columns(total)) + self.working(total) <= self.budget:
            return [[Piece(name, 0, numel) for name, numel in sizes]]
        # Room for a group's store once the slab and one sample's working memory are set aside.
        fixed = self.per_sample_activations + self.slab_bytes(self.feature_columns(total))
        one = self.n * self.r * self.b  # one column of the store
        capacity = int(min(STORE_SHARE * self.budget / one, (self.budget - fixed) / ((self.n + JACOBIAN_COPIES) * self.r * self.b)))

        def piece_capacity(name: str, numel: int) -> int:
            room = min(STORE_SHARE * self.budget, self.budget - fixed - JACOBIAN_COPIES * self.r * numel * self.b)
            if room < one:
                raise MemoryBudgetError(
                    f"a budget of {format_bytes(self.budget)} cannot hold the Jacobian of parameter "
                    f"{name!r} ({numel:,} elements) for even one sample: it needs about "
                    f"{format_bytes(self.budget - room + one)}; raise the memory budget, use the pntk "
                    "mode (one backward pass a sample), or leave the parameter out"
                )
            return int(room // one)

        return _pack(sizes, max(capacity, 1), piece_capacity)

    def group(self, pieces: list[Piece], numel_of: dict[str, int], chunk_size: int | None) -> ParamGroup:
        size = sum(p.size for p in pieces)
        tensor_elements = sum(numel_of[name] for name in dict.fromkeys(p.name for p in pieces))
        columns = self.feature_columns(size)
        free = self.budget - self.store(size) - self.slab_bytes(columns)
        chunk = chunk_size if chunk_size is not None else min(
            max(MIN_CHUNK, math.ceil(self.n / CHUNK_FRACTION)), int(free // self.working(tensor_elements))
        )
        if chunk < 1:
            raise MemoryBudgetError(
                f"a budget of {format_bytes(self.budget)} cannot hold the Jacobian of even one sample for "
                f"parameter {pieces[0].name!r} ({format_bytes(self.working(tensor_elements))} working "
                f"memory besides {format_bytes(self.store(size))} for all samples): raise the memory "
                "budget, use the pntk mode (one backward pass a sample), or restrict the parameters"
            )
        slab = columns if self.b == 8 else int(min(columns, self.slab_columns_max))
        chunk = min(chunk, self.n)
        peak = self.store(size) + self.slab_bytes(columns) + chunk * self.working(tensor_elements)
        return ParamGroup(tuple(pieces), tensor_elements, chunk, slab, int(peak))


def make_plan(
    sizes: Sequence[tuple[str, int]],
    *,
    num_samples: int,
    num_classes: int,
    jacobian_rows: int,
    gram_rows: int,
    itemsize: int,
    activation_bytes: int,
    budget: int,
    chunk_size: int | None = None,
) -> EntkPlan:
    """Split parameters into groups and samples into chunks so that the engine fits ``budget``.

    ``sizes`` lists (name, numel) of the parameters that count, in the model's order;
    ``activation_bytes`` is one sample's forward activation memory; ``chunk_size`` overrides the
    number of samples per Jacobian chunk (the budget then no longer bounds the working memory).
    Raises MemoryBudgetError when not even one sample of a parameter's smallest piece fits.
    """
    if not sizes:  # every parameter is on another path
        return EntkPlan(num_samples, num_classes, jacobian_rows, gram_rows, itemsize, budget, ())
    model = _Sizes(num_samples, jacobian_rows, itemsize, gram_rows, budget, activation_bytes)
    numel_of = dict(sizes)
    groups = tuple(model.group(pieces, numel_of, chunk_size) for pieces in model.packed(sizes))
    return EntkPlan(num_samples, num_classes, jacobian_rows, gram_rows, itemsize, budget, groups)
