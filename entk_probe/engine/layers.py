"""Layers whose share of the eNTK can be computed from their inputs and output cotangents.

A layer here is a submodule that owns parameters of the kernel directly and is called once per
forward pass with one tensor whose first dimension is the batch. From its input ``x`` (n, *in)
and the cotangents ``g`` (n, R, *out) of R output rows (logits, or their sum) at its output, the
per-sample gradients of its parameters follow without a per-sample backward pass through the
rest of the network:

- ``AffineLayer`` (``nn.Linear`` with any leading dimensions, ``nn.Conv1d``, ``nn.Conv2d``): the
  output is a product of the weight with *patches* a[n, γ, t, i] (the input itself for Linear,
  unfolded receptive fields for convolutions; γ the group, t the position), so
  ∂f_r(x_n)/∂W[γ, o, i] = Σ_t g[n, r, γ, t, o] a[n, γ, t, i]. A bias is a weight on a constant
  patch column of ones. This is what the structured and per-sample paths build on.
- ``ModuleLayer`` (any other module, e.g. norms): per-sample gradients by ``torch.func.vjp`` of
  the module alone, vmapped over samples and rows.

Which layers qualify, and whether the capture really reproduces autograd's gradients, is
checked on the probe itself (``capture.check_layers``) before any path is planned.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap


@dataclass(frozen=True)
class Geometry:
    """Per-sample shape of an affine layer's algebra: groups G, positions T, features I and O per group."""

    groups: int
    positions: int
    in_features: int  # I: patch length per group, the bias column included
    out_features: int  # O: output channels per group

    @property
    def num_params(self) -> int:
        return self.groups * self.out_features * self.in_features


class Layer(ABC):
    """A module whose selected direct parameters get their kernel share from captured tensors."""

    kind: str

    def __init__(self, name: str, module: nn.Module, params: Sequence[str]) -> None:
        self.name = name  # module path in the model ("" for the root)
        self.module = module
        self.params = tuple(params)  # full names of the selected parameters it owns, in module order

    @property
    def local_names(self) -> tuple[str, ...]:
        """The parameters' names inside the module."""
        prefix = f"{self.name}." if self.name else ""
        return tuple(p[len(prefix):] for p in self.params)

    @abstractmethod
    def num_params(self, model_params: Mapping[str, Tensor]) -> int:
        """Elements of the selected parameters."""

    @abstractmethod
    def per_sample_grads(self, x: Tensor, g: Tensor, model_params: Mapping[str, Tensor],
                         buffers: Mapping[str, Tensor]) -> Tensor:
        """Per-sample gradients (n, R, P) from inputs ``x`` (n, *in) and cotangents ``g`` (n, R, *out).

        Columns are the selected parameters' elements in an order of the layer's own: kernels
        only need inner products.
        """


def _is_plain(module: nn.Module, base: type[nn.Module], *methods: str) -> bool:
    """Whether ``module`` computes exactly what ``base`` does (a subclass may change forward)."""
    return isinstance(module, base) and all(getattr(type(module), m) is getattr(base, m) for m in methods)


class AffineLayer(Layer):
    """``nn.Linear`` (any leading dimensions), ``nn.Conv1d`` or ``nn.Conv2d``, as patches times a weight."""

    def __init__(self, name: str, module: nn.Module, params: Sequence[str]) -> None:
        super().__init__(name, module, params)
        local = self.local_names
        self.with_weight = "weight" in local
        self.with_bias = "bias" in local
        self.kind = "linear" if isinstance(module, nn.Linear) else type(module).__name__.lower()
        self.in_shape: tuple[int, ...] = ()
        self.out_shape: tuple[int, ...] = ()

    @staticmethod
    def accepts(module: nn.Module, local_params: Sequence[str]) -> bool:
        """Linear/Conv1d/Conv2d computing the standard forward, with only weight and bias selected."""
        plain = (
            _is_plain(module, nn.Linear, "forward")
            or _is_plain(module, nn.Conv1d, "forward", "_conv_forward")
            or _is_plain(module, nn.Conv2d, "forward", "_conv_forward")
        )
        return plain and set(local_params) <= {"weight", "bias"} and "weight" in module._parameters

    def set_shapes(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        """Per-sample input and output shapes, as seen on the probe (without the batch dimension)."""
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)

    @property
    def geometry(self) -> Geometry:
        m = self.module
        bias_column = 1 if self.with_bias else 0
        if isinstance(m, nn.Linear):
            positions = math.prod(self.out_shape[:-1])
            weight_in = m.in_features if self.with_weight else 0
            return Geometry(1, positions, weight_in + bias_column, m.out_features)
        assert isinstance(m, (nn.Conv1d, nn.Conv2d))
        groups = m.groups
        positions = math.prod(self.out_shape[1:])
        weight_in = (m.in_channels // groups) * math.prod(m.kernel_size) if self.with_weight else 0
        return Geometry(groups, positions, weight_in + bias_column, m.out_channels // groups)

    def num_params(self, model_params: Mapping[str, Tensor]) -> int:
        return sum(model_params[p].numel() for p in self.params)

    def patches(self, x: Tensor) -> Tensor:
        """Patches a (n, G, T, I) of inputs ``x`` (n, *in): unfolded for convolutions, ones for the bias."""
        m, geo, n = self.module, self.geometry, x.shape[0]
        if isinstance(m, nn.Linear):
            a = x.reshape(n, 1, geo.positions, m.in_features)  # (n, 1, T, I_w)
        else:
            assert isinstance(m, (nn.Conv1d, nn.Conv2d))
            # Conv's own padding for every padding mode (and 'same'); symmetric zero padding is
            # left to unfold, which saves a padded copy of the input.
            pads = m._reversed_padding_repeated_twice  # (left, right) per dim, last dim first
            symmetric = m.padding_mode == "zeros" and all(a == b for a, b in zip(pads[::2], pads[1::2]))
            padding = tuple(pads[::2][::-1]) if symmetric else (0,) * len(m.kernel_size)
            if not symmetric:
                mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
                x = F.pad(x, pads, mode=mode)
            if isinstance(m, nn.Conv1d):
                x = x.unsqueeze(2)  # (n, C, 1, L)
                kernel, dilation, stride = (1, *m.kernel_size), (1, *m.dilation), (1, *m.stride)
                padding = (0, *padding)
            else:
                kernel, dilation, stride = m.kernel_size, m.dilation, m.stride
            cols = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)  # (n, C·k, T)
            a = cols.view(n, geo.groups, -1, geo.positions).transpose(2, 3)  # (n, G, T, I_w)
        if not self.with_weight:
            a = a[..., :0]
        if self.with_bias:
            a = torch.cat([a, a.new_ones(*a.shape[:-1], 1)], dim=-1)  # (n, G, T, I)
        return a

    def cotangents(self, g: Tensor) -> Tensor:
        """Cotangents (n, R, G, T, O) from those at the output (n, R, *out); a view where possible."""
        geo, (n, r) = self.geometry, g.shape[:2]
        if isinstance(self.module, nn.Linear):
            return g.reshape(n, r, 1, geo.positions, geo.out_features)
        return g.reshape(n, r, geo.groups, geo.out_features, geo.positions).transpose(3, 4)

    def per_sample_grads(self, x: Tensor, g: Tensor, model_params: Mapping[str, Tensor],
                         buffers: Mapping[str, Tensor], out_slice: slice = slice(None),
                         out: Tensor | None = None) -> Tensor:
        """(n, R, G·O_s·I): Σ_t g[n, r, γ, t, o] a[n, γ, t, i] for the output channels ``out_slice`` of each group.

        ``out`` (n, R, G·O_s·I), contiguous, receives the result (without a copy when G = 1).
        """
        a = self.patches(x)  # (n, G, T, I)
        lhs = self._channel_rows(g, out_slice)  # (n, G, R·O_s, T)
        n, groups, r = lhs.shape[0], lhs.shape[1], g.shape[1]
        o = lhs.shape[2] // r
        if out is not None and groups == 1:
            torch.matmul(lhs, a, out=out.view(n, 1, r * o, a.shape[-1]))  # (n, 1, R·O_s, I) is (n, R, O_s·I)
            return out
        grads = torch.matmul(lhs, a)  # (n, G, R·O_s, I)
        rows = grads.view(n, groups, r, o, -1).transpose(1, 2).reshape(n, r, -1)  # (n, R, G·O_s·I)
        return rows if out is None else out.copy_(rows)

    def _channel_rows(self, g: Tensor, out_slice: slice) -> Tensor:
        """Cotangents (n, R, *out) as (n, G, R·O_s, T): (row, channel) by position, per group.

        A convolution's cotangents (n, R, G·O, *spatial) are already laid out so: a view
        for one group and all channels.
        """
        geo, (n, r) = self.geometry, g.shape[:2]
        if isinstance(self.module, nn.Linear):
            c = self.cotangents(g)[..., out_slice]  # (n, R, 1, T, O_s)
            return c.permute(0, 2, 1, 4, 3).reshape(n, 1, -1, geo.positions)
        c = g.reshape(n, r, geo.groups, geo.out_features, geo.positions)[:, :, :, out_slice]  # (n, R, G, O_s, T)
        return c.transpose(1, 2).reshape(n, geo.groups, -1, geo.positions)

    def projected_grads(self, x: Tensor, g: Tensor, u: Tensor, w: Tensor) -> Tensor:
        """(n, R, K): uₖᵀ (per-sample gradient) wₖ for K directions u (K, G, O), w (K, G, I), without forming it.

        Σ_γ Σ_t (g[n,r,γ,t]·u[k,γ]) (a[n,γ,t]·w[k,γ]): what a rank-one probe of the gradient
        needs, at the cost of the patches.
        """
        a = self.patches(x)  # (n, G, T, I)
        c = self.cotangents(g)  # (n, R, G, T, O)
        cu = torch.einsum("nrgto,kgo->nrkgt", c, u)  # (n, R, K, G, T)
        aw = torch.einsum("ngti,kgi->nkgt", a, w)  # (n, K, G, T)
        return torch.einsum("nrkgt,nkgt->nrk", cu, aw)

    def layout(self, named: Mapping[str, Tensor]) -> Tensor:
        """Gradients of the layer's parameters, by name, as one (G, O, I) tensor (per_sample_grads' layout)."""
        geo = self.geometry
        prefix = f"{self.name}." if self.name else ""
        parts = []
        if self.with_weight:
            parts.append(named[prefix + "weight"].reshape(geo.groups * geo.out_features, -1))
        if self.with_bias:
            parts.append(named[prefix + "bias"].reshape(-1, 1))
        return torch.cat(parts, dim=1).view(geo.groups, geo.out_features, geo.in_features)


class ModuleLayer(Layer):
    """Any other module called once with one tensor: per-sample gradients by vjp of the module alone."""

    kind = "module"

    def _local(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        prefix = f"{self.name}." if self.name else ""
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    def num_params(self, model_params: Mapping[str, Tensor]) -> int:
        return sum(model_params[p].numel() for p in self.params)

    def per_sample_grads(self, x: Tensor, g: Tensor, model_params: Mapping[str, Tensor],
                         buffers: Mapping[str, Tensor]) -> Tensor:
        fixed = self._local(model_params)
        local_buffers = self._local(buffers)
        varied = {name: fixed[name] for name in self.local_names}

        def sample(xi: Tensor, gi: Tensor) -> dict[str, Tensor]:  # xi (*in), gi (R, *out)
            def out(p: dict[str, Tensor]) -> Tensor:
                return functional_call(self.module, ({**fixed, **p}, local_buffers), (xi.unsqueeze(0),))

            _, pull = vjp(out, varied)
            return vmap(lambda row: pull(row.unsqueeze(0))[0])(gi)  # name -> (R, *shape)

        grads = vmap(sample)(x, g)  # name -> (n, R, *shape)
        n, r = g.shape[:2]
        return torch.cat([grads[name].reshape(n, r, -1) for name in self.local_names], dim=2)  # (n, R, P)


def _layer_type(module: nn.Module, local_params: Sequence[str]) -> type[Layer]:
    """The most specific layer type that computes ``module``'s share: affine, embedding, else any module."""
    from .embedding import EmbeddingLayer  # it builds on this module

    for layer_type in (AffineLayer, EmbeddingLayer):
        if layer_type.accepts(module, local_params):
            return layer_type
    return ModuleLayer


def find_layers(model: nn.Module, selected: Sequence[str]) -> tuple[list[Layer], dict[str, str]]:
    """The candidate layers for the selected parameters, and why the others cannot be captured.

    Returns the layers (affine where the module is a plain Linear/Conv1d/Conv2d, an embedding
    layer for a plain Embedding, else a module layer), in model order, and {parameter name: reason} for selected parameters that stay on
    the Jacobian path: those of the root module (its forward is the whole model) and those
    shared by several modules (tied weights).
    """
    chosen = set(selected)
    owners: dict[int, list[str]] = {}
    for mod_name, module in model.named_modules(remove_duplicate=False):
        for local, p in module._parameters.items():
            if p is not None:
                owners.setdefault(id(p), []).append(f"{mod_name}.{local}" if mod_name else local)
    layers: list[Layer] = []
    excluded: dict[str, str] = {}
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        mine = [prefix + local for local, p in module._parameters.items() if p is not None and prefix + local in chosen]
        if not mine:
            continue
        if not mod_name:
            excluded.update({p: "a parameter of the model itself" for p in mine})
            continue
        tied = [p for p in mine if len(owners[id(module.get_parameter(p[len(prefix):]))]) > 1]
        excluded.update({p: "shared by several modules" for p in tied})
        mine = [p for p in mine if p not in tied]
        if not mine:
            continue
        local = [p[len(prefix):] for p in mine]
        layers.append(_layer_type(module, local)(mod_name, module, mine))
    return layers, excluded
