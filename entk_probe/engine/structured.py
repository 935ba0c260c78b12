"""Layer contributions: the Gram matrices of captured layers, structured or from per-sample gradients.

With patches a (N, G, T, I) and cotangents g (N, R, G, T, O) of an affine layer
(``layers.AffineLayer``), its share of the kernel is

    Θ[n, m, r, q] = Σ_γ Σ_{t,s} (a[n,γ,t] · a[m,γ,s]) (g[n,r,γ,t] · g[m,q,γ,s])

- ``add_structured`` evaluates this directly, for blocks of samples: two Gram matrices over
  (sample, position) rows and their elementwise product summed over position pairs, in float64.
  No per-sample gradient exists at any point: a wide layer with few positions costs (NT)²(I+RO)
  instead of N²·R·O·I.
- ``add_per_sample`` forms the per-sample gradients Φ (N, R, G·O·I) = Σ_t g ⊗ a, slab of output
  channels by slab, and adds ΦΦᵀ: the cheaper way when T² is large against O·I/(I + R·O).

``CaptureContribution`` runs one capture pass (``capture.capture``) for a group of layers and
adds each layer's Gram matrix by the path its plan chose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .capture import LayerShapes, capture
from .contributions import Contribution, EngineContext
from .embedding import EmbeddingLayer, add_embedding
from .gram import accumulate_upper, slab_columns
from .jacobian import Piece
from .layers import AffineLayer, Layer
from .layerplan import CaptureGroup, LayerPlan


def add_structured(gram: Tensor, layer: AffineLayer, x: Tensor, g: Tensor, *, full: bool, block: int,
                   products: torch.dtype = torch.float64) -> None:
    """Add the layer's Gram matrix, upper block triangle, from inputs x (N, *in) and cotangents g (N, R, *out).

    ``gram`` is (N·R, N·R) sample-major when ``full``, else (N, N) (cotangents of R rows summed
    over rows). The patch and cotangent Gram matrices are products in ``products``; their
    elementwise product is summed over positions in float64.
    """
    n, r = g.shape[:2]
    geo = layer.geometry
    groups, t = geo.groups, geo.positions

    def patches(i0: int, i1: int) -> Tensor:
        a = layer.patches(x[i0:i1])  # (b, G, T, I)
        return a.transpose(0, 1).reshape(groups, (i1 - i0) * t, -1).to(products)  # (G, bT, I)

    def features(i0: int, i1: int) -> Tensor:
        c = layer.cotangents(g[i0:i1])  # (b, R, G, T, O)
        if full:
            return c.permute(2, 0, 1, 3, 4).reshape(groups, (i1 - i0) * r * t, -1).to(products)  # (G, bRT, O)
        return c.permute(2, 0, 3, 1, 4).reshape(groups, (i1 - i0) * t, -1).to(products)  # (G, bT, R·O)

    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        a_i, f_i = patches(i0, i1), features(i0, i1)
        for j0 in range(i0, n, block):
            j1 = min(j0 + block, n)
            a_j, f_j = (a_i, f_i) if j0 == i0 else (patches(j0, j1), features(j0, j1))
            bi, bj = i1 - i0, j1 - j0
            pa = torch.matmul(a_i, a_j.transpose(1, 2))  # (G, bi·T, bj·T)
            pg = torch.matmul(f_i, f_j.transpose(1, 2))  # (G, bi·T, bj·T) or (G, bi·R·T, bj·R·T)
            if full:
                prod = pg.view(groups, bi, r, t, bj, r, t).mul_(pa.view(groups, bi, 1, t, bj, 1, t))
                gram[i0 * r : i1 * r, j0 * r : j1 * r] += prod.sum(dim=(0, 3, 6), dtype=torch.float64).reshape(bi * r, bj * r)
            else:
                prod = pa.mul_(pg).view(groups, bi, t, bj, t)
                gram[i0:i1, j0:j1] += prod.sum(dim=(0, 2, 4), dtype=torch.float64)


def add_gram(gram: Tensor, store: Tensor, ctx: EngineContext) -> None:
    """Add the Gram matrix of per-sample gradients ``store`` (N, R, P), as the mode arranges its rows."""
    features = ctx.mode.features(store)
    rows, columns = features.shape
    accumulate_upper(gram, features, slab_columns(rows, columns, store.element_size(), ctx.products), ctx.products)


def add_per_sample(gram: Tensor, layer: Layer, x: Tensor, g: Tensor, ctx: EngineContext, *, chunk: int,
                   out_slab: int = 0) -> None:
    """Add the Gram matrix of the layer's per-sample gradients, ``out_slab`` output channels at a time."""
    n, r = g.shape[:2]
    params, buffers = ctx.fn.params, ctx.fn.buffers
    if isinstance(layer, AffineLayer):
        out = layer.geometry.out_features
        step = out_slab or out
        slices = [slice(o0, min(o0 + step, out)) for o0 in range(0, out, step)]
    else:
        slices = [slice(None)]
    for out_slice in slices:
        store = None
        for i0 in range(0, n, chunk):
            i1 = min(i0 + chunk, n)
            if isinstance(layer, AffineLayer):
                if store is None:
                    width = len(range(*out_slice.indices(layer.geometry.out_features)))
                    geo = layer.geometry
                    store = g.new_empty(n, r, geo.groups * width * geo.in_features)  # (N, R, P_s)
                layer.per_sample_grads(x[i0:i1], g[i0:i1], params, buffers, out_slice, out=store[i0:i1])
            else:
                rows = layer.per_sample_grads(x[i0:i1], g[i0:i1], params, buffers)
                if store is None:
                    store = rows.new_empty(n, r, rows.shape[2])  # (N, R, P)
                store[i0:i1] = rows
        assert store is not None
        add_gram(gram, store, ctx)
        del store


class CaptureContribution(Contribution):
    """Layers captured in one pass, each adding its Gram matrix by its planned path.

    A layer whose plan keeps "gradients" has its per-sample gradients formed chunk by chunk
    during the capture (when they are smaller than its inputs and cotangents, as for norms); the
    others keep their inputs and cotangents until their Gram matrix is computed.
    """

    def __init__(self, layers: Sequence[Layer], plans: Sequence[LayerPlan], shapes: dict[str, LayerShapes],
                 group: CaptureGroup, param_sizes: dict[str, int]) -> None:
        self.layers = list(layers)
        self.plans = {p.layer: p for p in plans}
        self.shapes = shapes
        self.group = group
        self.capture_chunk = group.chunk_size
        self.param_sizes = param_sizes
        self._pieces = tuple(Piece(name, 0, param_sizes[name]) for layer in self.layers for name in layer.params)

    @property
    def pieces(self) -> tuple[Piece, ...]:
        return self._pieces

    def work_units(self, ctx: EngineContext) -> int:
        return math.ceil(ctx.num_samples / self.capture_chunk) + len(self.layers)

    def add_to(self, gram: Tensor, ctx: EngineContext) -> None:
        n, r, x = ctx.num_samples, ctx.jacobian_rows, ctx.inputs
        params, buffers = ctx.fn.params, ctx.fn.buffers
        by_name = {layer.name: layer for layer in self.layers}
        grads: dict[str, Tensor] = {}  # (N, R, P) per-sample gradients
        kept: dict[str, tuple[Tensor, Tensor]] = {}  # (N, *in) inputs and (N, R, *out) cotangents
        for layer in self.layers:
            if self.plans[layer.name].keeps == "gradients":
                grads[layer.name] = x.new_empty(n, r, sum(self.param_sizes[p] for p in layer.params), dtype=ctx.dtype)
            else:
                shapes = self.shapes[layer.name]
                kept[layer.name] = (x.new_empty(n, *shapes.in_shape, dtype=shapes.in_dtype),
                                    x.new_empty(n, r, *shapes.out_shape, dtype=ctx.dtype))

        def consume(i0: int, i1: int, tensors: Mapping[str, tuple[Tensor, Tensor]]) -> None:
            for name in grads:
                xi, gi = tensors[name]
                step = self.plans[name].block  # per-sample chunks bound the transient memory
                layer = by_name[name]
                for s0 in range(0, i1 - i0, step):
                    s1 = min(s0 + step, i1 - i0)
                    if isinstance(layer, AffineLayer):
                        layer.per_sample_grads(xi[s0:s1], gi[s0:s1], params, buffers, out=grads[name][i0 + s0 : i0 + s1])
                    else:
                        grads[name][i0 + s0 : i0 + s1] = layer.per_sample_grads(xi[s0:s1], gi[s0:s1], params, buffers)
            ctx.advance(1)

        capture(ctx.fn, x, self.layers, summed=ctx.mode.summed_logits, chunk_size=self.capture_chunk, stores=kept,
                consume=consume)
        for layer in self.layers:
            plan = self.plans[layer.name]
            if layer.name in grads:
                add_gram(gram, grads.pop(layer.name), ctx)
            elif plan.path == "structured" and isinstance(layer, EmbeddingLayer):
                add_embedding(gram, layer, *kept.pop(layer.name), full=ctx.mode.rows_are_logits, block=plan.block,
                              products=ctx.products)
            elif plan.path == "structured":
                assert isinstance(layer, AffineLayer)
                add_structured(gram, layer, *kept.pop(layer.name), full=ctx.mode.rows_are_logits, block=plan.block,
                               products=ctx.products)
            else:
                add_per_sample(gram, layer, *kept.pop(layer.name), ctx, chunk=plan.block, out_slab=plan.out_slab)
            ctx.advance(1)
