"""The per-layer cost model: floating-point work and memory of each path, and the choice.

For a layer with G groups, T positions, I patch features and O output channels per group
(``layers.Geometry``), N samples and R output rows per sample (C logits, or 1 for the pNTK), and
M Gram rows (N·R in full mode, else N):

- per-sample: per-sample gradients Φ (N, R, G·O·I) formed in the Jacobian dtype
  (N·R·G·T·O·I multiply-adds), then the Gram matrix ΦΦᵀ in float64 (M · N·R·G·O·I · u);
- structured: the patch Gram A = a aᵀ over (sample, position) rows (G·(NT)²·I · u), the
  cotangent Gram B over (sample, position) rows with (row, channel) features in trace/pNTK mode
  (G·(NT)²·R·O · u) or over (sample, row, position) rows in full mode (G·(NRT)²·O · u), and
  Σ_{t,s} A ⊙ B, all in float64; no per-sample gradient is formed.

u ≈ (k+1)/2k is the share of the Gram blocks computed when only the upper block triangle of k
block rows is. Gram products are float64, or float32 when asked for (``product_bytes``). Paths
are compared in float64-equivalent work (a float32 multiply-add costs ``FLOAT32_SPEEDUP`` times
less); memory is the working set of one layer's computation, which
must fit the working share of the budget; a layer that fits no path's smallest working set goes
to the Jacobian path, which can split a parameter into column ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gram import block_rows
from .layers import Geometry

# float32 GEMMs run about this much faster than float64 ones (measured on the 2-core CPU of
# benchmarks/RESULTS.md: 210 against 115 GFLOP/s; on GPUs the ratio is larger).
FLOAT32_SPEEDUP = 2.0
# Per-sample gradient chunks: enough samples for efficient batched GEMMs, few enough that the
# patches and products of a chunk stay near FORMING_BYTES (the GEMMs are per sample, so smaller
# chunks cost no speed: small_cnn at N=100 ran as fast with 10 samples a chunk as with 100).
MAX_CHUNK = 64
FORMING_BYTES = 32 * 2**20
# Copies of a chunk's patches alive at once while they are padded, unfolded and given a bias column.
PATCH_COPIES = 3
# Structured blocks: at least this many (sample, position) rows a GEMM, and up to this many
# sample blocks so that the skipped lower triangle saves work.
MIN_BLOCK_ROWS = 256
MAX_SAMPLE_BLOCKS = 8
# Slab of Φ cast to float64 by the Gram accumulation (planning.SLAB_TARGET_BYTES, at least 2048 columns).
GRAM_SLAB_BYTES = 16 * 2**20
GRAM_SLAB_MIN_COLUMNS = 2048


@dataclass(frozen=True)
class PathCost:
    """One way to compute one layer's Gram matrix, its work and its memory."""

    path: str  # "structured" or "per-sample"
    flops: float  # floating-point operations, 2 per multiply-add
    weight: float  # work in float64-equivalent flops, for comparing paths
    working_bytes: int
    block: int  # samples a block (structured) or a chunk (per-sample)
    out_slab: int = 0  # output channels a slab per group (per-sample); 0: not sliced


def upper_share(blocks: int) -> float:
    """Share of the Gram blocks computed when only the upper block triangle of ``blocks`` rows is."""
    return (blocks + 1) / (2 * blocks)


def _gram_share(rows: int) -> float:
    return upper_share(math.ceil(rows / block_rows(rows)))


def _gram_slab_bytes(rows: int, columns: int) -> int:
    slab_columns = min(columns, max(GRAM_SLAB_MIN_COLUMNS, GRAM_SLAB_BYTES // (rows * 8)))
    return rows * slab_columns * 8


def _speed(nbytes: int) -> float:
    return FLOAT32_SPEEDUP if nbytes == 4 else 1.0


def per_sample_cost(geo: Geometry, n: int, r: int, full: bool, itemsize: int, available: int,
                    product_bytes: int = 8) -> PathCost | None:
    """The per-sample path of an affine layer, sliced over output channels to fit ``available`` bytes."""
    g, t, i, o = geo.groups, geo.positions, geo.in_features, geo.out_features
    rows = n * r if full else n

    def forming(out_slab: int, chunk: int) -> int:
        return chunk * itemsize * (PATCH_COPIES * g * t * i + 2 * r * g * out_slab * (t + i))

    def working(out_slab: int, chunk: int) -> int:
        store = n * r * g * out_slab * i * itemsize
        slab = _gram_slab_bytes(rows, n * r * g * out_slab * i // rows)
        return store + slab + forming(out_slab, chunk)

    chunk = max(1, min(n, MAX_CHUNK, FORMING_BYTES // forming(o, 1)))
    out_slab = o
    while out_slab > 1 and working(out_slab, chunk) > available:
        out_slab = math.ceil(out_slab / 2)
    while chunk > 1 and working(out_slab, chunk) > available:
        chunk = math.ceil(chunk / 2)
    if working(out_slab, chunk) > available:
        return None
    products = n * r * g * t * o * i
    gram = rows * (n * r * g * o * i) * _gram_share(rows)
    return PathCost("per-sample", 2 * (products + gram), 2 * (products / _speed(itemsize) + gram / _speed(product_bytes)),
                    working(out_slab, chunk), chunk, out_slab if out_slab < o else 0)


def structured_cost(geo: Geometry, n: int, r: int, full: bool, itemsize: int, available: int,
                    product_bytes: int = 8) -> PathCost | None:
    """The structured path of an affine layer, in sample blocks that fit ``available`` bytes."""
    g, t, i, o = geo.groups, geo.positions, geo.in_features, geo.out_features

    def working(b: int) -> int:
        rows = b * t
        p = product_bytes
        patches = 2 * g * rows * (i * p + PATCH_COPIES * i * itemsize)
        cot = 2 * g * rows * r * o * (p + itemsize)
        a = g * rows * rows * p
        b_rows = rows * r if full else rows
        return patches + cot + a + g * b_rows * b_rows * p

    block = min(n, max(math.ceil(n / MAX_SAMPLE_BLOCKS), math.ceil(MIN_BLOCK_ROWS / t)))
    while block > 1 and working(block) > available:
        block = math.ceil(block / 2)
    if working(block) > available:
        return None
    share = upper_share(math.ceil(n / block))
    pairs = (n * t) ** 2 * share * g
    a = pairs * i
    b = (pairs * r * r * o) if full else (pairs * r * o)
    combine = pairs * (r * r if full else 1)
    flops = 2 * (a + b) + combine
    return PathCost("structured", flops, 2 * (a + b) / _speed(product_bytes) + combine, working(block), block)


def module_cost(num_params: int, activation_bytes: int, n: int, r: int, full: bool, itemsize: int,
                available: int, product_bytes: int = 8) -> PathCost | None:
    """The per-sample path of any module by vjp of the module alone (work: its Gram matrix)."""
    rows = n * r if full else n
    store = n * r * num_params * itemsize + _gram_slab_bytes(rows, n * r * num_params // rows)
    per_sample = 4 * r * num_params * itemsize + 3 * (r + 2) * activation_bytes
    chunk = min(n, MAX_CHUNK)
    while chunk > 1 and store + chunk * per_sample > available:
        chunk = math.ceil(chunk / 2)
    if store + chunk * per_sample > available:
        return None
    gram = rows * (n * r * num_params) * _gram_share(rows)
    return PathCost("per-sample", 2 * gram, 2 * gram / _speed(product_bytes), int(store + chunk * per_sample), chunk)


def capture_bytes(in_numel: int, out_numel: int, n: int, r: int, itemsize: int) -> int:
    """Memory for a layer's inputs (N, *in) and output cotangents (N, R, *out)."""
    return n * (in_numel + r * out_numel) * itemsize
