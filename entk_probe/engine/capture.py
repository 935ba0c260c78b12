"""Capturing layer inputs and output cotangents: one batched forward and R backward passes.

``check_layers`` runs the model on the first two probe samples and keeps only the layers whose
captured tensors reproduce autograd's parameter gradients exactly (to rounding): called once,
with one tensor whose first dimension is the batch, samples independent of each other. This is
what makes the per-layer paths safe on models the engine has never seen (tied weights used
functionally, modified forwards, batch-dependent layers): a layer that fails goes back to the
Jacobian path, with the reason in the plan.

``capture`` then fills, chunk by chunk, every kept layer's input (N, *in) and the cotangents
(N, R, *out) of the R output rows at its output. The backward passes differentiate only with
respect to the layers' outputs, so no parameter gradient is ever formed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import vmap

from .jacobian import ModelFunction, as_logits
from .layers import AffineLayer, Layer

# Relative agreement a layer's captured per-sample gradient must reach with autograd's.
CHECK_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-8}
# Random rank-one directions along which an affine layer's gradient is compared.
PROBE_DIRECTIONS = 4
# Samples of each capture chunk run alone to check batch independence when vmap cannot trace the
# model: a forward pass each (all N of them took a third of a LoRA kernel's time at N=500).
UNTRACED_SPOT_CHECKS = 8


@dataclass
class LayerShapes:
    """What the check saw of one layer, per sample."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    activation_bytes: int  # outputs of the leaf modules inside the layer, one sample
    in_dtype: torch.dtype = torch.float32  # of its input: token ids for an embedding, else the Jacobian dtype


@dataclass
class CheckResult:
    """Layers that passed, why the others did not, and the model's sizes."""

    layers: list[Layer]
    shapes: dict[str, LayerShapes]
    rejected: dict[str, str] = field(default_factory=dict)  # layer name -> reason


@dataclass
class _Call:
    args: tuple[object, ...]
    kwargs: dict[str, object]
    output: object


def _logits(fn: ModelFunction, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    return as_logits(fn.call(params, x), x.shape[0])  # (n, C)


def differentiable(x: Tensor) -> Tensor:
    """``x`` detached, requiring grad where it can (token ids are integers: they are not differentiated)."""
    x = x.detach()
    return x.requires_grad_(True) if x.is_floating_point() else x


class BatchDependence(Exception):
    """The model's batched output differs from its output one sample at a time (or cannot be compared)."""


def batch_independent(fn: ModelFunction, x: Tensor, logits: Tensor) -> None:
    """Raise ``BatchDependence`` unless ``logits`` (n, C) of the batch ``x`` equal the per-sample logits.

    Per-sample logits come from vmap (each sample as a batch of one), or, where vmap cannot trace
    the model (Hugging Face attention masks branch on their values), from one forward pass a
    sample; ``fn.traceable`` records which, and then ``UNTRACED_SPOT_CHECKS`` samples of every
    chunk are run alone (``_spot_check``). Capture needs what the kernel's definition needs, a network applied
    to each input on its own.
    """
    with torch.no_grad():
        try:
            alone = vmap(lambda xi: fn.logits({}, xi))(x)  # (n, C)
            fn.traceable = True
        except (RuntimeError, NotImplementedError):
            fn.traceable = False
            alone = torch.stack([fn.logits({}, xi) for xi in x])  # (n, C)
    tol = CHECK_TOLERANCE.get(logits.dtype, 1e-3)
    if not float((alone - logits).abs().max()) <= tol * max(float(alone.abs().max()), 1e-30):
        raise BatchDependence("the model's output for one sample depends on the other samples of the batch")


def _spot_check(fn: ModelFunction, x: Tensor, logits: Tensor) -> None:
    """Raise ``BatchDependence`` unless the chunk's first sample alone has the logits it has in the chunk.

    ``check_layers`` compared two samples through vmap; this catches a model that depends on the
    batch only for larger batches, at the cost of one sample's forward pass a chunk. A model vmap
    cannot trace may branch on values anywhere, so ``UNTRACED_SPOT_CHECKS`` of its samples, spread
    over the chunk, are checked alone.
    """
    count = min(x.shape[0], UNTRACED_SPOT_CHECKS if fn.traceable is False else 1)
    picks = torch.linspace(0, x.shape[0] - 1, count).round().long().unique().tolist()
    with torch.no_grad():
        alone = torch.cat([_logits(fn, fn.params, x[i : i + 1]) for i in picks])  # (count, C)
    tol = CHECK_TOLERANCE.get(logits.dtype, 1e-3)
    if not float((alone - logits[picks]).abs().max()) <= tol * max(float(alone.abs().max()), 1e-30):
        raise BatchDependence("the model's output for one sample depends on the other samples of the batch")


@contextmanager
def _hooks(modules: Mapping[nn.Module, Callable[..., object]], *, with_kwargs: bool = False):
    handles = [m.register_forward_hook(h, with_kwargs=with_kwargs) for m, h in modules.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _batched_lookups(layers: Sequence[Layer], batch: int):
    """Embedding lookups of one row of indices shared by the batch (position ids (1, L)) made per sample.

    Language models look up position embeddings once and let the sum broadcast over the batch;
    expanding the indices to (batch, L) gives every sample its own output, so the table's
    cotangents are per sample, and changes no value. The capture check confirms it layer by layer.
    """
    from .embedding import EmbeddingLayer  # it builds on layers, which this module imports

    def expand(_module: nn.Module, args: tuple) -> tuple | None:
        ids = args[0] if len(args) == 1 else None
        if isinstance(ids, Tensor) and ids.dim() >= 1 and ids.shape[0] == 1 and batch > 1:
            return (ids.expand(batch, *ids.shape[1:]),)
        return None

    handles = [layer.module.register_forward_pre_hook(expand) for layer in layers if isinstance(layer, EmbeddingLayer)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _form_problem(call: _Call, batch: int) -> str | None:
    """Why a call cannot be captured, or None."""
    if call.kwargs or len(call.args) != 1 or not isinstance(call.args[0], Tensor):
        return "called with other than one tensor argument"
    x, out = call.args[0], call.output
    if not isinstance(out, Tensor) or not out.is_floating_point():
        return "its output is not a floating-point tensor"
    if x.dim() < 1 or out.dim() < 1 or x.shape[0] != batch or out.shape[0] != batch:
        return "the batch is not the first dimension of its input and output"
    if not out.requires_grad:
        return "its output does not depend on the input"
    return None


def _compare(layer: Layer, x: Tensor, g: Tensor, expected: Mapping[str, Tensor], params: Mapping[str, Tensor],
             buffers: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """What the capture gives for each sample of ``x`` (n, K), and what autograd gave for the first (K,).

    An affine layer is compared through ``PROBE_DIRECTIONS`` random rank-one directions, which
    needs no per-sample gradient (a 100M-parameter layer would need two 400 MB copies); any
    other layer through its whole per-sample gradient.
    """
    if isinstance(layer, AffineLayer):
        layer.set_shapes(tuple(x.shape[1:]), tuple(g.shape[2:]))
        geo = layer.geometry
        generator = torch.Generator().manual_seed(0)
        u = torch.randn(PROBE_DIRECTIONS, geo.groups, geo.out_features, generator=generator).to(x)  # (K, G, O)
        w = torch.randn(PROBE_DIRECTIONS, geo.groups, geo.in_features, generator=generator).to(x)  # (K, G, I)
        captured = layer.projected_grads(x, g, u, w)[:, 0]  # (n, K)
        wanted = torch.einsum("goi,kgo,kgi->k", layer.layout(expected), u, w)  # (K,)
        return captured, wanted
    captured = layer.per_sample_grads(x, g, params, buffers)[:, 0]  # (n, P)
    return captured, torch.cat([expected[p].reshape(-1) for p in layer.params])


def _record_calls(fn: ModelFunction, x: Tensor, params: Mapping[str, Tensor], layers: Sequence[Layer]
                  ) -> tuple[Tensor, dict[str, list[_Call]], dict[str, int]]:
    """Logits (n, C) of ``x`` with ``params``, every call of each layer, and each leaf module's output bytes a sample."""
    n = x.shape[0]
    calls: dict[str, list[_Call]] = {layer.name: [] for layer in layers}
    leaf_bytes: dict[str, int] = {}
    names = {m: name for name, m in fn.module.named_modules()}

    def record(layer: Layer) -> Callable[..., object]:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> object:
            calls[layer.name].append(_Call(args, kwargs, output))
            return output.clone() if isinstance(output, Tensor) else None  # later in-place ops change the clone

        return hook

    def count(module: nn.Module, _args: tuple, output: object) -> None:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        size = sum(t.numel() * t.element_size() for t in outputs if isinstance(t, Tensor))
        leaf_bytes[names[module]] = leaf_bytes.get(names[module], 0) + size // n

    leaves = {m: count for m in fn.module.modules() if next(m.children(), None) is None}
    with _batched_lookups(layers, n), _hooks(leaves), _hooks({layer.module: record(layer) for layer in layers},
                                                              with_kwargs=True):
        logits = _logits(fn, params, x)  # (n, C)
    return logits, calls, leaf_bytes


def check_layers(fn: ModelFunction, x: Tensor, layers: Sequence[Layer]) -> CheckResult:
    """Run the first two samples of ``x`` through the model and keep the layers that capture exactly.

    Also measures each kept layer's shapes and activation memory, which the planner uses.
    """
    n = min(2, x.shape[0])
    xb = differentiable(x[:n])
    params = dict(fn.params)
    varied = {p: params[p].detach().requires_grad_(True) for layer in layers for p in layer.params}
    result = CheckResult([], {})
    if not layers:
        return result
    with torch.enable_grad():
        logits, calls, leaf_bytes = _record_calls(fn, xb, {**params, **varied}, layers)
        try:
            batch_independent(fn, xb.detach(), logits.detach())
        except BatchDependence as exc:
            result.rejected = {layer.name: str(exc) for layer in layers}
            return result
        candidates: list[Layer] = []
        for layer in layers:
            seen = calls[layer.name]
            problem = f"called {len(seen)} times in one forward pass" if len(seen) != 1 else _form_problem(seen[0], n)
            if problem:
                result.rejected[layer.name] = problem
            else:
                candidates.append(layer)
        outputs = [calls[layer.name][0].output for layer in candidates]
        grads = torch.autograd.grad(logits[0].sum(), [*outputs, *varied.values()], allow_unused=True)
    cotangents = dict(zip((layer.name for layer in candidates), grads[: len(candidates)]))
    reference = dict(zip(varied, grads[len(candidates):]))
    for layer in candidates:
        call = calls[layer.name][0]
        inp, out = call.args[0].detach(), call.output.detach()  # type: ignore[union-attr]
        cot = cotangents[layer.name]
        expected = {p: torch.zeros_like(params[p]) if reference[p] is None else reference[p] for p in layer.params}
        problem = _disagreement(layer, inp, torch.zeros_like(out) if cot is None else cot, expected, params, fn.buffers)
        if problem:
            result.rejected[layer.name] = problem
            continue
        inner = sum(b for leaf, b in leaf_bytes.items() if leaf == layer.name or leaf.startswith(layer.name + "."))
        result.shapes[layer.name] = LayerShapes(tuple(inp.shape[1:]), tuple(out.shape[1:]), inner, inp.dtype)
        result.layers.append(layer)
    return result


def _disagreement(layer: Layer, x: Tensor, cot: Tensor, expected: Mapping[str, Tensor], params: Mapping[str, Tensor],
                  buffers: Mapping[str, Tensor]) -> str | None:
    """Why the gradient captured from ``x`` (n, *in) and ``cot`` (n, *out) is not autograd's, or None.

    Only the first sample's summed logits had a cotangent: the others' captured gradients must be zero.
    """
    try:
        captured, wanted = _compare(layer, x, cot.unsqueeze(1), expected, params, buffers)
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        return f"its per-sample gradients cannot be formed ({str(exc).splitlines()[0][:120]})"
    tol = CHECK_TOLERANCE.get(cot.dtype, 1e-3)
    scale = max(float(wanted.abs().max()), float(captured[0].abs().max()), 1e-30)
    others_zero = x.shape[0] == 1 or float(captured[1:].abs().max()) <= tol * scale
    if not (others_zero and float((captured[0] - wanted).abs().max()) <= tol * scale):
        return "its captured gradient differs from autograd's (a parameter used outside the module?)"
    return None


Consumer = Callable[[int, int, Mapping[str, tuple[Tensor, Tensor]]], None]


def capture(fn: ModelFunction, x: Tensor, layers: Sequence[Layer], *, summed: bool, chunk_size: int,
            stores: Mapping[str, tuple[Tensor, Tensor]], consume: Consumer) -> None:
    """Run the probe through the model ``chunk_size`` samples at a time and hand each chunk over.

    For the chunk ``i0:i1``, ``consume(i0, i1, tensors)`` receives {layer name: (inputs
    (b, *in), cotangents (b, R, *out))}: R is the number of logits, or 1 when ``summed``
    (cotangents of the summed logits). Layers with ``stores[name]`` = (inputs (N, *in),
    cotangents (N, R, *out)) are written there directly and handed over as views of them. A
    chunk is one forward and R backward passes that differentiate with respect to the layers'
    outputs only.
    """
    by_module = {layer.module: layer.name for layer in layers}
    n = x.shape[0]
    for i0 in range(0, n, chunk_size):
        i1 = min(i0 + chunk_size, n)
        inputs: dict[str, Tensor] = {}
        outputs: dict[str, Tensor] = {}

        def hook(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
            name = by_module[module]
            if name in stores:
                inputs[name] = stores[name][0][i0:i1]
                inputs[name].copy_(args[0].detach())  # as it was when the layer read it
            else:
                inputs[name] = args[0].detach().clone()
            if not output.requires_grad:  # nothing before it is differentiated (an embedding of token ids)
                output = output.detach().requires_grad_(True)
            outputs[name] = output
            return output.clone()  # later in-place ops (ReLU(inplace=True)) change the clone, not this

        xs = differentiable(x[i0:i1])
        with torch.enable_grad():
            with _batched_lookups(layers, i1 - i0), _hooks({m: hook for m in by_module}):
                logits = _logits(fn, fn.params, xs)  # (b, C)
            targets = [logits.sum()] if summed else [logits[:, r].sum() for r in range(logits.shape[1])]
            names = list(outputs)
            cotangents = {
                k: stores[k][1][i0:i1] if k in stores else outputs[k].new_empty(i1 - i0, len(targets), *outputs[k].shape[1:])
                for k in names
            }
            for r, target in enumerate(targets):
                grads = torch.autograd.grad(target, [outputs[k] for k in names], retain_graph=r + 1 < len(targets),
                                            allow_unused=True)
                for name, grad in zip(names, grads):
                    if grad is None:
                        cotangents[name][:, r].zero_()
                    else:
                        cotangents[name][:, r] = grad
        _spot_check(fn, xs.detach(), logits.detach())
        del logits, targets
        outputs.clear()  # the graph goes with them
        consume(i0, i1, {k: (inputs[k], cotangents[k]) for k in names})
