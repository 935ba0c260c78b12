"""Which weights are left out: non-finite weights or logits."""

from __future__ import annotations

import math

import torch
from torch import nn

from entk_probe.pipeline.weights import weight_problem


def test_finite_weights_give_their_logits_and_no_problem() -> None:
    model = nn.Linear(3, 2)
    inputs = torch.randn(300, 3)  # more than one batch of 256
    problem, logits = weight_problem(model, inputs)
    assert problem is None and logits is not None
    assert torch.allclose(logits, model(inputs).detach())


def test_non_finite_weights_or_logits_are_named() -> None:
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.bias[1] = math.nan
    problem, logits = weight_problem(model, torch.randn(4, 3))
    assert problem == "NaN or infinite values in 1 weight tensor(s), e.g. bias" and logits is None
    huge = nn.Linear(3, 2)
    with torch.no_grad():
        huge.weight.fill_(1e38)
    problem, logits = weight_problem(huge, torch.full((4, 3), 1e3))
    assert problem == "NaN or infinite logits on the probe" and logits is not None
