"""Training a network or its linearisation: zero epochs leave the network at θ_t, the same seed
gives the same run, and the linearisation's weight decay acts on θ_t + δ."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from entk_probe.pipeline.training import Optimiser, evaluate, train

OPT = Optimiser(lr=0.1, momentum=0.9, weight_decay=0.0, batch_size=8)


def _data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(40, 5)
    return net, x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def test_zero_epochs_is_the_network_at_the_checkpoint() -> None:
    net, x, y = _data()
    net.eval()
    for kind in ("standard", "linearized"):
        assert evaluate(train(net, kind, x, y, 1e-9, OPT, seed=0), x, y) == evaluate(net, x, y)


def test_training_is_reproducible_improves_and_leaves_the_model_alone() -> None:
    net, x, y = _data()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for kind in ("standard", "linearized"):
        a, b = (evaluate(train(net, kind, x, y, 5, OPT, seed=3), x, y) for _ in range(2))
        assert a == b and a[1] < evaluate(net, x, y)[1]  # lower training loss than at the start
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_weight_decay_of_the_linearisation_acts_on_theta_not_delta() -> None:
    net, x, y = _data()
    # One full-batch step from δ = 0: δ = -lr·(∇L + wd·θ_t), so the decay adds exactly -lr·wd·θ_t
    # (a decay on δ alone would add nothing at δ = 0).
    plain = train(net, "linearized", x, y, 1, Optimiser(lr=0.1, momentum=0.0, weight_decay=0.0, batch_size=40), seed=0)
    decayed = train(net, "linearized", x, y, 1, Optimiser(lr=0.1, momentum=0.0, weight_decay=0.5, batch_size=40), seed=0)
    base = dict(net.named_parameters())
    for name, d0, d1 in zip(plain._names, plain.delta, decayed.delta):
        torch.testing.assert_close(d1 - d0, -0.1 * 0.5 * base[name].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
def test_training_on_the_gpu_follows_the_cpu() -> None:
    net, x, y = _data()
    for kind in ("standard", "linearized"):
        cpu = evaluate(train(net, kind, x, y, 2, OPT, seed=1), x, y)
        gpu = evaluate(train(net.cuda(), kind, x.cuda(), y.cuda(), 2, OPT, seed=1), x.cuda(), y.cuda())
        net.cpu()
        assert abs(cpu[1] - gpu[1]) < 1e-3 * max(1.0, cpu[1])  # the same batches; float rounding only
