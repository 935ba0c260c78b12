"""Training a network, or its linearisation, for a few epochs from a checkpoint, and evaluating it.

Both kinds get the same optimiser (SGD with momentum and weight decay on the network's weights
θ, which for the linearisation are θ_t + δ), the same batches in the same seeded order, and the
same number of steps. The network trains in train mode (BatchNorm updates its statistics, as in
the run); the linearisation is the eval-mode function at θ_t (``engine.linearized``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine.linearized import LinearizedModel

KINDS = ("standard", "linearized")


@dataclass(frozen=True)
class Optimiser:
    """SGD settings, and where each came from."""

    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    sources: tuple[tuple[str, str], ...] = ()  # (setting, where it came from)


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch: int = 500) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on (x, y) (on the model's device), in eval mode, without gradients."""
    model.eval()
    correct, total = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            logits = model(x[i : i + batch]).reshape(len(y[i : i + batch]), -1)
            correct += int((logits.argmax(1) == y[i : i + batch]).sum())
            total += float(F.cross_entropy(logits, y[i : i + batch], reduction="sum"))
    return correct / len(y), total / len(y)


def _decay(kind: str, trained: nn.Module, opt: Optimiser) -> Callable[[], Tensor]:
    """The L2 term wd/2·‖θ‖² on the network's weights (for the linearisation, θ_t + δ)."""
    if kind == "standard":
        return lambda: sum(0.5 * opt.weight_decay * (p * p).sum() for p in trained.parameters())  # type: ignore[return-value]
    lin: LinearizedModel = trained  # type: ignore[assignment]
    return lambda: sum(0.5 * opt.weight_decay * (w * w).sum() for w in lin.moved().values())  # type: ignore[return-value]


def training_steps(n: int, epochs: float, batch_size: int) -> int:
    """SGD steps of ``epochs`` epochs over ``n`` records: whole batches an epoch (at least one), the last partial one
    dropped."""
    return round(epochs * max(1, n // batch_size))


def train(model: nn.Module, kind: str, x: Tensor, y: Tensor, epochs: float, opt: Optimiser, seed: int) -> nn.Module:
    """A copy of ``model`` (or its linearisation) trained for ``epochs`` epochs of (x, y); ``model`` is unchanged.

    Runs where ``model`` and the data are; the batch order is drawn on the CPU from ``seed``, so it
    is the same on every device.
    """
    trained: nn.Module = copy.deepcopy(model) if kind == "standard" else LinearizedModel(copy.deepcopy(model))
    trained.train()
    params = [p for p in trained.parameters() if p.requires_grad]
    sgd = torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum)
    decay = _decay(kind, trained, opt)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(y) // opt.batch_size)
    orders = [torch.randperm(len(y), generator=gen) for _ in range(math.ceil(epochs))]  # one a started epoch
    for step in range(training_steps(len(y), epochs, opt.batch_size)):
        epoch, within = divmod(step, steps_per_epoch)
        batch = orders[epoch][within * opt.batch_size : (within + 1) * opt.batch_size].to(x.device)
        logits = trained(x[batch]).reshape(len(batch), -1)
        loss = F.cross_entropy(logits, y[batch]) + (decay() if opt.weight_decay else 0.0)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
    return trained.eval()
