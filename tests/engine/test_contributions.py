"""Contributions: progress accounting, and a Jacobian group's Gram matrix against the explicit Jacobian."""

from __future__ import annotations

import torch

from entk_probe.engine.contributions import EngineContext, JacobianContribution
from entk_probe.engine.gram import mirror_upper
from entk_probe.engine.jacobian import ModelFunction, Piece
from entk_probe.engine.modes import MODES
from entk_probe.engine.planning import ParamGroup

from .. import models
from ..reference import explicit_jacobian, kernels_from_jacobian, relative_error


def test_progress_is_cumulative() -> None:
    model, x = models.mlp()
    seen: list[tuple[int, int]] = []
    ctx = EngineContext(ModelFunction.build(model, torch.device("cpu"), torch.float64), x, MODES["trace"], 3,
                        progress=lambda d, t: seen.append((d, t)), total_units=5)
    ctx.advance(2)
    ctx.advance(3)
    assert seen == [(2, 5), (5, 5)]


def test_a_group_of_pieces_adds_the_gram_of_those_columns_only() -> None:
    model, x = models.mlp()  # 7 samples, 3 logits
    pieces = (Piece("2.weight", 10, 50), Piece("4.bias", 0, 3))
    group = ParamGroup(pieces, tensor_elements=12 * 12 + 3, chunk_size=3, slab_columns=7)
    fn = ModelFunction.build(model, torch.device("cpu"), torch.float64)
    ctx = EngineContext(fn, x, MODES["full"], 3)
    gram = torch.zeros(21, 21, dtype=torch.float64)
    contribution = JacobianContribution(group)
    assert contribution.work_units(ctx) == 3
    contribution.add_to(gram, ctx)
    mirror_upper(gram)
    jac = explicit_jacobian(model, x)  # (7, 3, P) in named_parameters order
    offsets, start = {}, 0
    for name, p in model.named_parameters():
        offsets[name] = start
        start += p.numel()
    columns = torch.cat([torch.arange(offsets[p.name] + p.start, offsets[p.name] + p.stop) for p in pieces])
    expected = kernels_from_jacobian(jac[:, :, columns])["full"].permute(0, 2, 1, 3).reshape(21, 21)
    assert relative_error(gram, expected) < 1e-12
