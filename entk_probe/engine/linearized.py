"""The network linearised around a checkpoint: f_lin(x; θ) = f(x; θ_t) + J_t(x)(θ − θ_t).

Forward mode (``torch.func.jvp``): one pass gives f(x; θ_t) and J_t(x)·δ together, no Jacobian is
stored, and the result is differentiable in δ = θ − θ_t, so an optimiser trains δ as it would
train θ. The network runs in eval mode: BatchNorm uses its running statistics at θ_t (frozen,
they are part of the base point) and dropout is off, so this is the linearisation of the
eval-mode function, the one whose kernel entk-probe measures.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp

# torch registers its forward-mode decompositions through torch.jit.script on the first jvp of
# some ops (layer norm, softmax) and warns that jit is deprecated: torch's own notice, not the user's.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


class LinearizedModel(nn.Module):
    """``model`` linearised at its current weights; the trainable parameters are δ (zeros at start).

    The model's own parameters are copied as the base point θ_t and never change; ``weights()``
    gives θ_t + δ by the model's parameter names.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self._model = [model.eval()]  # a list: not a submodule, its parameters are not trained
        self._names = [name for name, p in model.named_parameters() if p.requires_grad]
        self._base = {name: p.detach().clone() for name, p in model.named_parameters()}
        self._buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        self.delta = nn.ParameterList([nn.Parameter(torch.zeros_like(self._base[n])) for n in self._names])

    def train(self, mode: bool = True) -> "LinearizedModel":
        """The linearised network is always the eval-mode function; the flag is kept for optimisers' loops."""
        self.training = mode
        return self

    def forward(self, x: Tensor) -> Tensor:
        model = self._model[0]
        frozen = {n: p for n, p in self._base.items() if n not in self._names}
        base = {n: self._base[n] for n in self._names}

        def f(params: dict[str, Tensor]) -> Tensor:
            return functional_call(model, ({**params, **frozen}, self._buffers), (x,))

        out, change = jvp(f, (base,), ({n: d for n, d in zip(self._names, self.delta)},))
        return out + change

    def moved(self) -> dict[str, Tensor]:
        """θ_t + δ of the trained parameters, by name, differentiable in δ (for a weight-decay term)."""
        return {n: self._base[n] + d for n, d in zip(self._names, self.delta)}

    def weights(self) -> dict[str, Tensor]:
        """θ_t + δ of every parameter, by name (detached)."""
        return {**self._base, **{n: w.detach() for n, w in self.moved().items()}}
