"""Per-sample Jacobians of a model's logits with respect to a group of its parameters.

The model is turned into a pure function of its parameters (``torch.func.functional_call``) on
one device and dtype. Jacobians of a chunk of samples come from ``vmap(jacrev)`` (or
``vmap(grad)`` of the summed logits for the pseudo-NTK); where vmap cannot trace the model
(``.item()``, data-dependent control flow, random ops), a per-sample loop over
``torch.autograd.grad`` computes the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jacrev, vmap

from ..errors import ModelError, warn
from .memory import is_out_of_memory


@dataclass(frozen=True)
class Piece:
    """Elements ``start:stop`` of the flattened parameter ``name``: the unit a group is made of."""

    name: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass
class ModelFunction:
    """A model as a pure function of its parameters, with parameters and buffers on one device.

    ``params`` and ``buffers`` are detached copies (or the originals where device and dtype
    already match) in the Jacobian dtype; the module itself is never modified.
    """

    module: nn.Module
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    vmap_works: bool | None = field(default=None)  # None: not tried yet
    traceable: bool | None = field(default=None)  # whether vmap traced the capture check's forward; None: not tried
    dtype: torch.dtype = torch.float32  # the Jacobian dtype
    keys: tuple[str, ...] = ()  # token inputs: x is packed (n, K, L) and the model called with these keywords

    @classmethod
    def build(cls, module: nn.Module, device: torch.device, dtype: torch.dtype,
              keys: tuple[str, ...] = ()) -> ModelFunction:
        def cast(t: Tensor) -> Tensor:
            return t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

        params = {name: cast(p) for name, p in module.named_parameters()}
        buffers = {name: cast(b) for name, b in module.named_buffers()}
        return cls(module, params, buffers, dtype=dtype, keys=tuple(keys))

    @property
    def itemsize(self) -> int:
        """Bytes of one element in the Jacobian dtype."""
        return torch.empty((), dtype=self.dtype).element_size()

    def call(self, params: Mapping[str, Tensor], x: Tensor) -> object:
        """The model's output on the batch ``x`` (n, ...) with ``params`` (and the buffers)."""
        if self.keys:  # packed token inputs (probes.tokens): one keyword a plane
            kwargs = {k: x[:, i] for i, k in enumerate(self.keys)}
            return functional_call(self.module, (params, self.buffers), (), kwargs)
        return functional_call(self.module, (params, self.buffers), (x,))

    def logits(self, varied: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """Logits of one sample ``x`` (no batch dimension), shape (C,), with ``varied`` params."""
        return as_logits(self.call({**self.params, **varied}, x.unsqueeze(0)), 1).reshape(-1)  # (C,)


def _require_tensor(out: object) -> Tensor:
    logits = getattr(out, "logits", None)  # a Hugging Face ModelOutput
    if not isinstance(out, Tensor) and isinstance(logits, Tensor):
        return logits
    if not isinstance(out, Tensor):
        raise ModelError(
            f"the model returned {type(out).__name__}, not a tensor of logits: wrap it so that "
            "forward returns a (batch, classes) tensor"
        )
    return out


def as_logits(out: object, batch: int) -> Tensor:
    """The model's output for ``batch`` inputs as logits (batch, C), or a ModelError saying what it was."""
    logits = _require_tensor(out)
    if logits.dim() not in (1, 2) or logits.shape[0] != batch:
        inputs = "one input" if batch == 1 else f"{batch} inputs"
        raise ModelError(
            f"for a batch of {inputs} the model returned shape {tuple(logits.shape)}; entk-probe "
            "needs logits of shape (batch, classes)"
        )
    return logits.reshape(batch, -1)


def probe_model(fn: ModelFunction, x0: Tensor) -> tuple[int, int]:
    """Run one sample ``x0`` (no batch dimension) through the model.

    Returns the number of logits C and an estimate of the activation memory of one sample in
    bytes (the sum of the outputs of all leaf modules), which the planner scales by the number of
    backward passes.
    """
    activation_bytes = 0

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal activation_bytes
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        activation_bytes += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, Tensor))

    leaves = [m for m in fn.module.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            out = fn.call(fn.params, x0.unsqueeze(0))
    finally:
        for handle in handles:
            handle.remove()
    return int(as_logits(out, 1).numel()), activation_bytes


def _varied(fn: ModelFunction, pieces: tuple[Piece, ...]) -> dict[str, Tensor]:
    names = dict.fromkeys(p.name for p in pieces)
    return {name: fn.params[name] for name in names}


def _write_rows(out: Tensor, jac: Mapping[str, Tensor], pieces: tuple[Piece, ...]) -> None:
    """Copy each piece's Jacobian columns into ``out`` (n, R, P_g), pieces side by side."""
    col = 0
    for piece in pieces:
        flat = jac[piece.name].flatten(2)  # (n, R, numel)
        out[:, :, col : col + piece.size] = flat[:, :, piece.start : piece.stop]
        col += piece.size


def _rows_vmap(fn: ModelFunction, x: Tensor, pieces: tuple[Piece, ...], summed: bool, out: Tensor) -> None:
    varied = _varied(fn, pieces)
    if summed:
        grads = vmap(grad(lambda p, xi: fn.logits(p, xi).sum()), in_dims=(None, 0))(varied, x)
        jac = {name: g.unsqueeze(1) for name, g in grads.items()}  # (n, 1, *shape)
    else:
        jac = vmap(jacrev(fn.logits), in_dims=(None, 0))(varied, x)  # (n, C, *shape)
    _write_rows(out, jac, pieces)


def _rows_loop(fn: ModelFunction, x: Tensor, pieces: tuple[Piece, ...], summed: bool, out: Tensor) -> None:
    names = list(dict.fromkeys(p.name for p in pieces))
    for i in range(x.shape[0]):
        varied = {name: fn.params[name].detach().requires_grad_(True) for name in names}
        logits = fn.logits(varied, x[i])  # (C,)
        targets = [logits.sum()] if summed else list(logits)
        rows: dict[str, list[Tensor]] = {name: [] for name in names}
        for r, target in enumerate(targets):
            grads = torch.autograd.grad(  # no graph: the outputs do not use these parameters (PEFT's original heads)
                target, [varied[n] for n in names], retain_graph=r + 1 < len(targets), allow_unused=True
            ) if target.requires_grad else [None] * len(names)
            for name, g in zip(names, grads):
                rows[name].append(torch.zeros_like(varied[name]) if g is None else g)
        jac = {name: torch.stack(rs).unsqueeze(0) for name, rs in rows.items()}  # (1, R, *shape)
        _write_rows(out[i : i + 1], jac, pieces)


def jacobian_rows(fn: ModelFunction, x: Tensor, pieces: tuple[Piece, ...], summed: bool, out: Tensor) -> None:
    """Write the per-sample Jacobian rows of the chunk ``x`` (n, ...) into ``out`` (n, R, P_g).

    R is C (one row per logit) or 1 when ``summed`` (gradient of the summed logits); the columns
    are the pieces' elements, in order. The first chunk decides whether vmap can trace the model;
    if it cannot, this and every later chunk take the per-sample path, with one warning.
    """
    if fn.vmap_works is not False:
        try:
            _rows_vmap(fn, x, pieces, summed, out)
            fn.vmap_works = True
            return
        except (RuntimeError, NotImplementedError) as exc:
            if fn.vmap_works or is_out_of_memory(exc):  # a real error, not a tracing limit
                raise
            fn.vmap_works = False
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            warn(
                "torch.func.vmap cannot trace this model, so per-sample Jacobians are computed one "
                f"sample at a time (same numbers, slower). vmap said: {first_line[:300]}",
                code="vmap-fallback",
            )
    _rows_loop(fn, x, pieces, summed, out)
