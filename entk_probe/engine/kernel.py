"""The kernel engine: the empirical NTK of a model on a probe set, exact, within a memory budget.

``compute_entk`` is the public entry point. It runs the model in eval mode with TF32 off, plans
parameter groups and sample chunks for the budget (``planning``), lets each group's
``Contribution`` add its Gram matrix into a float64 accumulator on the device, mirrors the
symmetric half, and reshapes to the mode's kernel (``modes``). Definitions are in docs/definitions.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from .capture import BatchDependence, LayerShapes, check_layers
from .conditions import eval_mode, exact_float32
from .contributions import Contribution, EngineContext, JacobianContribution, Progress
from ..errors import MemoryBudgetError, UsageError, warn
from .gram import mirror_upper
from .jacobian import ModelFunction, probe_model
from .layerplan import check_paths, plan_layers
from .layers import Layer, find_layers
from .memory import default_budget, is_out_of_memory, parse_bytes, release_host_memory
from .modes import KernelMode, get_mode
from .partial import Part, check_part, restrict
from ..probes.tokens import pack
from .parameters import ParamFilter, select_parameters
from .planning import EntkPlan, make_plan
from .structured import CaptureContribution


@dataclass(frozen=True)
class EntkResult:
    """A kernel and how it was computed.

    ``kernel`` is float64 on the CPU: (N, N, C, C) for mode "full", else (N, N).
    """

    kernel: Tensor
    mode: str
    device: str
    jacobian_dtype: str
    gram_dtype: str  # dtype of the Gram products; sums are float64
    param_names: tuple[str, ...]
    plan: EntkPlan
    per_sample_fallback: bool  # vmap could not trace the model
    seconds: float


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; anything else must be a usable device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} was asked for, but torch sees no CUDA device here")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    return dev


def products_dtype(jacobian_dtype: torch.dtype, gram_dtype: torch.dtype | None) -> torch.dtype:
    """The dtype of the Gram products: the one asked for, else the Jacobian dtype."""
    return jacobian_dtype if gram_dtype is None else gram_dtype


def check_dtypes(jacobian_dtype: torch.dtype, gram_dtype: torch.dtype | None) -> torch.dtype:
    """Validate the Jacobian and product dtypes; returns the product dtype."""
    if jacobian_dtype not in (torch.float32, torch.float64):
        raise UsageError(f"jacobian_dtype must be torch.float32 or torch.float64, not {jacobian_dtype}")
    products = products_dtype(jacobian_dtype, gram_dtype)
    if products not in (torch.float64, torch.float32) or (products == torch.float32 and jacobian_dtype != torch.float32):
        raise UsageError(f"gram_dtype must be torch.float64, or torch.float32 with float32 Jacobians, not {products}")
    return products


def _check_inputs(inputs: object) -> tuple[Tensor, tuple[str, ...]]:
    """The probe as one tensor (N, ...) and, for token inputs given as a mapping, their keys (packed (N, K, L))."""
    keys: tuple[str, ...] = ()
    if isinstance(inputs, Mapping):
        inputs, keys = pack(inputs)
    if not isinstance(inputs, Tensor):
        raise UsageError(f"inputs must be a tensor of shape (N, ...) or a mapping of token tensors, not {type(inputs).__name__}")
    if inputs.dim() < 1 or inputs.shape[0] < 1:
        raise UsageError(f"inputs must hold at least one sample along dim 0, got shape {tuple(inputs.shape)}")
    if inputs.is_complex() or inputs.dtype == torch.bool:
        raise UsageError(f"inputs must be floating point, or integers such as token ids, not {inputs.dtype}")
    if inputs.is_floating_point() and not torch.isfinite(inputs).all():
        raise UsageError("inputs contain NaN or infinite values")
    return inputs, keys


def _on_device(inputs: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Inputs on the engine's device; floating-point ones in the Jacobian dtype, integers as they are."""
    return inputs.to(device=device, dtype=dtype if inputs.is_floating_point() else inputs.dtype)


def _plan(
    model: nn.Module,
    fn: ModelFunction,
    x: Tensor,
    sizes: list[tuple[str, int]],
    kmode: KernelMode,
    budget: int,
    chunk_size: int | None,
    paths: str,
    products: torch.dtype = torch.float64,
) -> tuple[EntkPlan, dict[str, tuple[Layer, LayerShapes]]]:
    """Plan every layer's path, the capture passes, and the Jacobian groups of the rest."""
    n = x.shape[0]
    num_classes, activation_bytes = probe_model(fn, x[0])
    rows = kmode.jacobian_rows(num_classes)
    candidates, excluded = find_layers(model, [name for name, _ in sizes])
    check = None if paths == "jacobian" else check_layers(fn, x, candidates)
    layer_plans, capture_groups = plan_layers(
        candidates, check, excluded, dict(sizes), num_samples=n, rows=rows, full=kmode.rows_are_logits,
        itemsize=fn.itemsize, budget=budget, activation_bytes=activation_bytes, paths=paths,
        product_bytes=torch.empty((), dtype=products).element_size(),
    )
    if chunk_size is not None:
        capture_groups = [replace(g, chunk_size=min(chunk_size, n)) for g in capture_groups]
    captured = {p for plan in layer_plans if plan.path != "jacobian" for p in plan.params}
    rest = [(name, numel) for name, numel in sizes if name not in captured]
    jacobian = make_plan(
        rest,
        num_samples=n,
        num_classes=num_classes,
        jacobian_rows=rows,
        gram_rows=n * kmode.gram_rows_per_sample(num_classes),
        itemsize=fn.itemsize,
        activation_bytes=activation_bytes,
        budget=budget,
        chunk_size=chunk_size,
    )
    plan = replace(jacobian, layers=tuple(layer_plans), capture_groups=tuple(capture_groups))
    kept = {layer.name: (layer, check.shapes[layer.name]) for layer in check.layers} if check else {}
    return plan, kept


def _run(plan: EntkPlan, layers: dict[str, tuple[Layer, LayerShapes]], fn: ModelFunction, x: Tensor,
         kmode: KernelMode, sizes: dict[str, int], progress: Progress | None, products: torch.dtype) -> Tensor:
    """Let every contribution of the plan add its Gram matrix; the (M, M) float64 sum, upper triangle."""
    by_name = {p.layer: p for p in plan.layers}
    contributions: list[Contribution] = [
        CaptureContribution([layers[name][0] for name in group.layers], [by_name[name] for name in group.layers],
                            {name: layers[name][1] for name in group.layers}, group, sizes)
        for group in plan.capture_groups
    ]
    contributions += [JacobianContribution(g) for g in plan.groups]
    ctx = EngineContext(fn, x, kmode, plan.num_classes, progress, products, dtype=fn.dtype)
    ctx.total_units = sum(c.work_units(ctx) for c in contributions)
    gram = torch.zeros(plan.gram_rows, plan.gram_rows, dtype=torch.float64, device=x.device)  # (M, M)
    try:
        for contribution in contributions:
            contribution.add_to(gram, ctx)
            if x.device.type == "cpu":
                release_host_memory()
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        raise MemoryBudgetError(
            f"{x.device} ran out of memory while computing the kernel ({plan.describe()}): give a "
            "smaller max_memory (--max-memory) so that less is held at once"
        ) from exc
    return gram


@dataclass(frozen=True)
class _Settings:
    """The validated settings of one kernel computation."""

    kmode: KernelMode
    device: torch.device
    inputs: Tensor
    keys: tuple[str, ...]  # token inputs: the keywords of the packed planes
    gram_dtype: torch.dtype
    budget: int
    sizes: list[tuple[str, int]]


def _settings(model: nn.Module, inputs: Tensor, mode: str, device: str | torch.device, params: ParamFilter,
              jacobian_dtype: torch.dtype, max_memory: int | str | None, chunk_size: int | None, paths: str,
              gram_dtype: torch.dtype | None) -> _Settings:
    kmode = get_mode(mode)
    dev = resolve_device(device)
    inputs, keys = _check_inputs(inputs)
    products = check_dtypes(jacobian_dtype, gram_dtype)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise UsageError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    budget = parse_bytes(max_memory) if max_memory is not None else default_budget(dev)
    check_paths(paths)
    return _Settings(kmode, dev, inputs, keys, products, budget, select_parameters(model, params))


def plan_entk(
    model: nn.Module,
    inputs: Tensor | Mapping[str, Tensor],
    *,
    mode: str = "trace",
    device: str | torch.device = "auto",
    params: ParamFilter = None,
    jacobian_dtype: torch.dtype = torch.float32,
    max_memory: int | str | None = None,
    chunk_size: int | None = None,
    paths: str = "auto",
    gram_dtype: torch.dtype | None = None,
) -> EntkPlan:
    """The plan ``compute_entk`` would follow with these arguments, without computing the kernel.

    Costs one forward and backward pass on a few samples (the capture check).
    """
    s = _settings(model, inputs, mode, device, params, jacobian_dtype, max_memory, chunk_size, paths, gram_dtype)
    with eval_mode(model), exact_float32():
        fn = ModelFunction.build(model, s.device, jacobian_dtype, s.keys)
        x = _on_device(s.inputs, s.device, jacobian_dtype)  # (N, ...)
        return _plan(model, fn, x, s.sizes, s.kmode, s.budget, chunk_size, paths, s.gram_dtype)[0]


def compute_entk_result(
    model: nn.Module,
    inputs: Tensor | Mapping[str, Tensor],
    *,
    mode: str = "trace",
    device: str | torch.device = "auto",
    params: ParamFilter = None,
    jacobian_dtype: torch.dtype = torch.float32,
    max_memory: int | str | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    paths: str = "auto",
    gram_dtype: torch.dtype | None = None,
    part: Part | None = None,
) -> EntkResult:
    """Like ``compute_entk``, returning the kernel with the plan and settings used.

    ``part=(index, parts)``: only that part's share of the plan's layers and parameter groups
    (``engine.partial``), as a kernel of the same shape; summed over every index (in float64), the
    kernel. ``plan`` is then still the whole kernel's. A part does not fall back to the Jacobian
    path when the model turns out to depend on the batch: it raises ``capture.BatchDependence``, so
    that every part can be computed again with ``paths="jacobian"``.
    """
    started = time.perf_counter()
    s = _settings(model, inputs, mode, device, params, jacobian_dtype, max_memory, chunk_size, paths, gram_dtype)
    part = None if part is None else check_part(part)
    kmode, dev, inputs, gram_dtype, budget, sizes = s.kmode, s.device, s.inputs, s.gram_dtype, s.budget, s.sizes
    with eval_mode(model), exact_float32():
        fn = ModelFunction.build(model, dev, jacobian_dtype, s.keys)
        x = _on_device(inputs, dev, jacobian_dtype)  # (N, ...)
        plan, layers = _plan(model, fn, x, sizes, kmode, budget, chunk_size, paths, gram_dtype)
        try:
            gram = _run(plan if part is None else restrict(plan, part), layers, fn, x, kmode, dict(sizes), progress,
                        gram_dtype)
        except BatchDependence as exc:
            if part is not None:
                raise  # the other parts must fall back too: the caller knows them
            warn(f"{exc} on a later chunk of the probe, so per-layer kernels do not apply and every parameter "
                 "goes through the Jacobian path", code="batch-dependence")
            plan, layers = _plan(model, fn, x, sizes, kmode, budget, chunk_size, "jacobian", gram_dtype)
            gram = _run(plan, layers, fn, x, kmode, dict(sizes), progress, gram_dtype)
        mirror_upper(gram)
        kernel = kmode.finalize(gram, plan.num_samples, plan.num_classes).cpu()
    if not torch.isfinite(kernel).all():
        warn(
            "the eNTK has NaN or infinite entries: the model's logits or gradients are not finite "
            "on this probe (a diverged checkpoint?)",
            code="non-finite-kernel",
        )
    return EntkResult(
        kernel=kernel,
        mode=kmode.name,
        device=str(dev),
        jacobian_dtype=str(jacobian_dtype).removeprefix("torch."),
        gram_dtype=str(gram_dtype).removeprefix("torch."),
        param_names=tuple(name for name, _ in sizes),
        plan=plan,
        per_sample_fallback=fn.vmap_works is False,
        seconds=time.perf_counter() - started,
    )


def compute_entk(
    model: nn.Module,
    inputs: Tensor | Mapping[str, Tensor],
    *,
    mode: str = "trace",
    device: str | torch.device = "auto",
    params: ParamFilter = None,
    jacobian_dtype: torch.dtype = torch.float32,
    max_memory: int | str | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    paths: str = "auto",
    gram_dtype: torch.dtype | None = None,
) -> Tensor:
    """The empirical NTK of ``model`` on ``inputs`` (N, ...), as a float64 tensor on the CPU.

    ``inputs``: a tensor, floating point or integer (token ids, not differentiated), or a mapping
    of token tensors (N, L) passed as keywords; the model returns logits or an object holding them.

    - ``mode="trace"`` (default): (N, N), Θ_tr[n, m] = Σ_c ⟨∂f_c(x_n)/∂θ, ∂f_c(x_m)/∂θ⟩.
    - ``mode="full"``: (N, N, C, C), Θ[n, m, c, d] = ⟨∂f_c(x_n)/∂θ, ∂f_d(x_m)/∂θ⟩.
    - ``mode="pntk"``: (N, N), (1/C) Σ_{c,d} Θ[n, m, c, d].

    The model runs in eval mode (each submodule's flag is restored afterwards, with a warning if
    it was training), its buffers are not changed, TF32 is off while the engine runs.
    ``device``: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"; the model is not moved.
    ``params``: which parameters count (default: all with requires_grad); glob patterns by name,
    comma-separated or as a list, or a callable taking the name.
    ``jacobian_dtype``: dtype of model evaluation, layer inputs, cotangents and Jacobians (float32
    or float64). ``gram_dtype``: dtype of the products that turn them into the kernel, by default
    the Jacobian dtype. Float32 products sum at most a few thousand terms each in float32 and run
    about twice as fast as float64 ones; their rounding (about 1e-7 relative) is below that of
    float32 Jacobians themselves (benchmarks/RESULTS.md). ``gram_dtype=torch.float64`` makes every
    product and sum exact float64 arithmetic on the float32 values. Sums across slabs, layers and
    positions are float64 either way.
    ``paths``: "auto" (default) lets a cost model choose, for each Linear/Conv layer, the
    structured kernel (from its inputs and output cotangents) or its per-sample gradients; other
    modules get per-sample gradients by vjp of the module alone, and what cannot be captured
    (parameters of the model itself, tied weights, layers that fail the capture check) goes through
    per-sample Jacobians of the whole model. "structured", "per-sample" or "jacobian" force that
    path wherever it applies. ``EntkResult.plan.layers`` says which path each layer took and why.
    ``max_memory``: bytes (or a string such as "4GiB") for captured tensors, Jacobians and their
    workspace; the default is half of what the device has free. What does not fit is split into
    capture passes, output-channel slabs, sample blocks or parameter groups. ``chunk_size``:
    samples per forward/backward chunk (default: as many as the budget allows, at most 256 for a
    capture). ``progress(done, total)`` is called after each chunk and each layer.
    """
    return compute_entk_result(
        model,
        inputs,
        mode=mode,
        device=device,
        params=params,
        jacobian_dtype=jacobian_dtype,
        max_memory=max_memory,
        chunk_size=chunk_size,
        progress=progress,
        paths=paths,
        gram_dtype=gram_dtype,
    ).kernel
