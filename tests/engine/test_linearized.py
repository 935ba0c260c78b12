"""The linearised network: equal to the network at θ_t, its change J·δ equal to an explicit
float64 Jacobian product, and its gradient in δ equal to Jᵀ∂L/∂f."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev

from entk_probe.engine.linearized import LinearizedModel


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
                        nn.Linear(4 * 4 * 4, 3)).double()
    with torch.no_grad():  # running statistics that are not the defaults
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def _jacobian_product(net: nn.Module, x: torch.Tensor, delta: dict[str, torch.Tensor]) -> torch.Tensor:
    params = {n: p.detach() for n, p in net.named_parameters()}
    buffers = dict(net.named_buffers())
    jac = jacrev(lambda p: functional_call(net.eval(), (p, buffers), (x,)))(params)  # {name: (B, C, *shape)}
    return sum(j.flatten(2) @ delta[n].flatten() for n, j in jac.items())  # (B, C)


def test_with_no_change_it_is_the_eval_mode_network() -> None:
    net = _net()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64)
    lin = LinearizedModel(net)
    assert torch.equal(lin(x), net.eval()(x))


def test_its_change_is_the_explicit_jacobian_product_in_float64() -> None:
    net = _net()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64)
    lin = LinearizedModel(net)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for d in lin.delta:
            d.copy_(torch.randn(d.shape, generator=gen, dtype=torch.float64) * 0.1)
    delta = {n: d.detach() for n, d in zip(lin._names, lin.delta)}
    expected = net.eval()(x) + _jacobian_product(net, x, delta)
    torch.testing.assert_close(lin(x), expected, rtol=1e-12, atol=1e-12)
    before = {n: p.clone() for n, p in net.named_parameters()}
    assert all(torch.equal(before[n], p) for n, p in net.named_parameters())  # the base point is untouched
    assert all(torch.equal(lin.weights()[n], before[n] + delta[n]) for n in delta)


def test_its_gradient_in_delta_is_the_jacobian_transpose_of_the_loss_gradient() -> None:
    net = _net()
    x = torch.randn(4, 2, 6, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    lin = LinearizedModel(net)
    out = lin(x)
    loss = nn.functional.cross_entropy(out, y)
    loss.backward()
    logits = net.eval()(x).detach().requires_grad_()
    dl_df = torch.autograd.grad(nn.functional.cross_entropy(logits, y), logits)[0]  # (B, C)
    params = {n: p.detach() for n, p in net.named_parameters()}
    buffers = dict(net.named_buffers())
    jac = jacrev(lambda p: functional_call(net, (p, buffers), (x,)))(params)
    for name, d in zip(lin._names, lin.delta):
        expected = torch.einsum("bc,bc...->...", dl_df, jac[name])
        torch.testing.assert_close(d.grad, expected, rtol=1e-10, atol=1e-12)
