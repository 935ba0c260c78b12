"""Embedding tables: their share of the eNTK from token ids and output cotangents.

An ``nn.Embedding`` looks up rows of its table E (V, D): out[n, t] = E[ids[n, t]]. With the
cotangents g (N, R, T, D) of R output rows at its output, ∂f_r(x_n)/∂E[v] = Σ_{t: ids[n,t]=v} g[n,r,t],
so its share of the kernel is

    Θ[n, m, r, q] = Σ_{t,s} [ids[n,t] = ids[m,s]] (g[n,r,t] · g[m,q,s])

a sum over pairs of positions holding the same token: the structured path of an affine layer
whose patches are one-hot rows, with the patch Gram matrix an equality test. No per-sample
gradient of the vocabulary-sized table is formed. Positions holding ``padding_idx`` get no
gradient in PyTorch's embedding backward and count nothing here. Padded positions of a text
probe (attention mask 0) have zero cotangents wherever the mask keeps them from the output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .layers import Geometry, Layer, _is_plain


class EmbeddingLayer(Layer):
    """A plain ``nn.Embedding`` (no max_norm, dense gradients) whose weight is in the kernel."""

    kind = "embedding"

    def __init__(self, name: str, module: nn.Module, params: Sequence[str]) -> None:
        super().__init__(name, module, params)
        self.in_shape: tuple[int, ...] = ()

    @staticmethod
    def accepts(module: nn.Module, local_params: Sequence[str]) -> bool:
        """Embeddings computing the standard lookup, with the weight selected."""
        return (_is_plain(module, nn.Embedding, "forward") and module.max_norm is None and not module.sparse
                and tuple(local_params) == ("weight",))

    def set_shapes(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        """Per-sample index shape (T positions, any layout) as seen on the probe."""
        self.in_shape = tuple(in_shape)

    @property
    def geometry(self) -> Geometry:
        """One group, T positions, a patch of one feature (the token's identity), D outputs."""
        return Geometry(1, math.prod(self.in_shape), 1, self.module.embedding_dim)

    def num_params(self, model_params: Mapping[str, Tensor]) -> int:
        return sum(model_params[p].numel() for p in self.params)

    def tokens(self, ids: Tensor) -> Tensor:
        """Token ids (n, *idx) as (n, T) int64, with -1 where ``padding_idx`` stands (no gradient there)."""
        flat = ids.reshape(ids.shape[0], -1).long()  # (n, T)
        pad = self.module.padding_idx
        return flat if pad is None else flat.masked_fill(flat == pad, -1)

    def per_sample_grads(self, x: Tensor, g: Tensor, model_params: Mapping[str, Tensor],
                         buffers: Mapping[str, Tensor]) -> Tensor:
        """(n, R, V·D): the cotangents scattered into table rows; vocabulary-sized, for checks only."""
        n, r = g.shape[:2]
        vocab, dim = self.module.num_embeddings, self.module.embedding_dim
        ids = self.tokens(x)  # (n, T)
        rows = g.reshape(n, r, -1, dim) * (ids >= 0)[:, None, :, None]  # (n, R, T, D)
        out = g.new_zeros(n, r, vocab, dim)
        out.scatter_add_(2, ids.clamp(min=0)[:, None, :, None].expand(n, r, -1, dim), rows)
        return out.reshape(n, r, -1)


def add_embedding(gram: Tensor, layer: EmbeddingLayer, x: Tensor, g: Tensor, *, full: bool, block: int,
                  products: torch.dtype = torch.float64) -> None:
    """Add the table's Gram matrix, upper block triangle, from ids x (N, *idx) and cotangents g (N, R, *idx, D).

    ``gram`` is (N·R, N·R) sample-major when ``full``, else (N, N). Cotangent products are in
    ``products``; their sums over position pairs are float64.
    """
    n, r = g.shape[:2]
    dim = layer.module.embedding_dim
    ids = layer.tokens(x)  # (N, T)
    t = ids.shape[1]
    cot = g.reshape(n, r, t, dim)  # (N, R, T, D)

    def features(i0: int, i1: int) -> Tensor:
        c = cot[i0:i1]
        if full:
            return c.reshape((i1 - i0) * r * t, dim).to(products)  # (bRT, D)
        return c.permute(0, 2, 1, 3).reshape((i1 - i0) * t, r * dim).to(products)  # (bT, R·D)

    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        f_i, id_i = features(i0, i1), ids[i0:i1].reshape(-1)  # (bi·T,)
        for j0 in range(i0, n, block):
            j1 = min(j0 + block, n)
            f_j, id_j = (f_i, id_i) if j0 == i0 else (features(j0, j1), ids[j0:j1].reshape(-1))
            bi, bj = i1 - i0, j1 - j0
            same = ((id_i[:, None] == id_j[None, :]) & (id_i[:, None] >= 0)).to(products)  # (bi·T, bj·T)
            pg = torch.matmul(f_i, f_j.T)  # (bi·T, bj·T) or (bi·R·T, bj·R·T)
            if full:
                prod = pg.view(bi, r, t, bj, r, t).mul_(same.view(bi, 1, t, bj, 1, t))
                gram[i0 * r : i1 * r, j0 * r : j1 * r] += prod.sum(dim=(2, 5), dtype=torch.float64).reshape(bi * r, bj * r)
            else:
                prod = pg.mul_(same).view(bi, t, bj, t)
                gram[i0:i1, j0:j1] += prod.sum(dim=(1, 3), dtype=torch.float64)
