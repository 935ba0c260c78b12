"""Whether a checkpoint's weights can be analysed: finite weights, and finite logits on the probe."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _logits(model: nn.Module, inputs: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(inputs[i : i + 256]) for i in range(0, len(inputs), 256)]).reshape(len(inputs), -1)


def _non_finite(model: nn.Module) -> str | None:
    """Why the model's weights are unusable (NaN or infinite values), or None."""
    bad = [name for name, t in (*model.named_parameters(), *model.named_buffers())
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if not bad:
        return None
    return f"NaN or infinite values in {len(bad)} weight tensor(s), e.g. {bad[0]}"


def weight_problem(model: nn.Module, inputs: Tensor) -> tuple[str | None, Tensor | None]:
    """(why the model's current weights are left out, or None; its logits on ``inputs`` (N, C), or None)."""
    excluded = _non_finite(model)
    logits = None if excluded else _logits(model.eval(), inputs)
    if logits is not None and not bool(torch.isfinite(logits).all()):
        excluded = "NaN or infinite logits on the probe"
    return excluded, logits
