"""Independent references for the engine's tests: explicit Jacobians built with torch.autograd.

Nothing here uses torch.func or any code of entk_probe: one forward pass per sample and one
``torch.autograd.grad`` per logit, in whatever dtype the model is in (float64 in the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def explicit_jacobian(
    model: nn.Module, inputs: Tensor, keep: Callable[[str], bool] | None = None
) -> Tensor:
    """J[n, c, p] = ∂f_c(x_n)/∂θ_p for the parameters ``keep`` selects (default: requires_grad).

    The model is evaluated in eval mode, one sample at a time; shape (N, C, P).
    """
    was_training = model.training
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if (keep(n) if keep else p.requires_grad)]
    params = [p for _, p in named]
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    rows = []
    try:
        for x in inputs:
            logits = model(x.unsqueeze(0)).reshape(-1)  # (C,)
            per_logit = []
            for c in range(logits.shape[0]):
                grads = torch.autograd.grad(logits[c], params, retain_graph=True, allow_unused=True)
                per_logit.append(
                    torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])
                )
            rows.append(torch.stack(per_logit))  # (C, P)
    finally:
        for p, flag in zip(params, saved):
            p.requires_grad_(flag)
        model.train(was_training)
    return torch.stack(rows)  # (N, C, P)


def kernels_from_jacobian(jac: Tensor) -> dict[str, Tensor]:
    """The three kernel modes from an explicit Jacobian (N, C, P), by the definitions of docs/definitions.md."""
    full = torch.einsum("ncp,mdp->nmcd", jac, jac)  # (N, N, C, C)
    num_classes = jac.shape[1]
    return {
        "full": full,
        "trace": torch.diagonal(full, dim1=2, dim2=3).sum(-1),  # (N, N)
        "pntk": full.sum(dim=(2, 3)) / num_classes,  # (N, N)
    }


def relative_error(actual: Tensor, expected: Tensor) -> float:
    """max |actual - expected| / max |expected|."""
    return float((actual - expected).abs().max() / expected.abs().max())


def explicit_token_jacobian(
    model: nn.Module, inputs: dict[str, Tensor], keep: Callable[[str], bool] | None = None
) -> Tensor:
    """``explicit_jacobian`` for a model called with token tensors (N, L) as keywords, one sample a
    call (a batch of one: no padding of its own), returning logits or an object holding ``logits``."""

    class Call(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, i: Tensor) -> Tensor:
            out = self.inner(**{k: v[i.reshape(-1)] for k, v in inputs.items()})
            return getattr(out, "logits", out)

    wrapped = Call()
    positions = torch.arange(next(iter(inputs.values())).shape[0])
    return explicit_jacobian(wrapped, positions, None if keep is None else (lambda name: keep(name[len("inner."):])))
