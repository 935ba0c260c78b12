"""The main job as a function: a run directory and a probe in, an ``Analysis`` out.

Checkpoints are discovered and selected, the model is built once and each checkpoint's weights
loaded into it (the next checkpoint is read from disk meanwhile), its kernel computed (or taken
from the kernel cache) and its logits on the probe recorded; ``summary.summarize`` then measures
the trajectory. No terminal output here: progress
goes to a callback, warnings through ``warnings``.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .cache import KernelCache, cache_key
from ..runs.checkpoints import Checkpoint, discover, select, single, time_unit
from ..engine.kernel import compute_entk_result, products_dtype, resolve_device
from ..engine.planning import EntkPlan
from ..errors import EntkProbeWarning, UsageError, warn
from ..runs.loading import read_content, select_state_dict, strip_prefixes
from ..runs.models import ModelSpec, build_model, load_weights, make_spec, resolve_arch
from ..engine.parameters import select_parameters
from ..analysis.phases import CONE_STATISTIC, PhaseThresholds
from ..probes import Probe, make_probe
from ..runs.registry import REGISTRY
from ..analysis.summary import RunSummary, buffer_shares, summarize


@dataclass(frozen=True)
class AnalyzeOptions:
    """Everything ``analyze`` can be told besides the run directory and the probe."""

    arch: str | None = None
    plugins: Sequence[Path] = ()
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str = "raw"  # "raw" or "ema"
    glob: str | None = None
    every: int | None = None
    range: str | None = None
    max_checkpoints: int | None = None
    trust_checkpoints: bool = False
    mode: str = "trace"
    device: str = "auto"
    max_memory: int | str | None = None
    params: str | None = None
    jacobian_dtype: torch.dtype = torch.float32
    gram_dtype: torch.dtype | None = None  # dtype of the Gram products; None: the Jacobian dtype
    paths: str = "auto"  # per-layer path choice (engine.compute_entk's ``paths``)
    normalize: str | None = None  # --normalize: overrides the model's normalisation
    data_root: Path | None = None
    download: bool = False
    thresholds: PhaseThresholds = PhaseThresholds()
    cone_statistic: str = CONE_STATISTIC
    subspace_k: int | None = None  # default: the number of classes
    buffer_motion: bool = False  # one more kernel a step: weights of the next checkpoint, buffers of this one
    cache: bool = True
    cache_dir: Path | None = None


@dataclass
class CheckpointRun:
    """How one checkpoint was processed."""

    checkpoint: Checkpoint
    state_dict_key: str
    kernel_seconds: float
    cached: bool


@dataclass
class Analysis:
    run_dir: Path
    model: ModelSpec
    num_params: int
    num_classes: int
    probe: Probe
    options: AnalyzeOptions
    device: str
    param_names: tuple[str, ...]
    time_unit: str  # "epoch", "step", or "index" when neither is recorded
    runs: list[CheckpointRun]
    summary: RunSummary
    buffer_share: list[float] | None  # per step; None without --buffer-motion
    has_batchnorm: bool
    seconds: float
    plan: EntkPlan | None = None  # how the first computed kernel was computed; None when all came from the cache
    kernels: list[Tensor] = field(default_factory=list)  # float64, one per checkpoint, in analysis order
    warnings: list[dict[str, str]] = field(default_factory=list)  # {code, message[, checkpoint]}


def load_plugins(paths: Sequence[Path]) -> list[str]:
    """Load ENTK_PROBE_PLUGINS, then each ``--plugins`` path; the model names they added."""
    return REGISTRY.load_env() + [name for p in paths for name in REGISTRY.load_plugins(Path(p))]


def probe_spec_for(run_dir: Path, probe_spec: str | None) -> str:
    """The probe to use: the one given, else the run directory's own probe.safetensors."""
    if probe_spec:
        return probe_spec
    own = run_dir / "probe.safetensors"
    if own.is_file():
        return f"file:{own}"
    raise UsageError(f"no --probe given and {run_dir} holds no probe.safetensors: pass --probe SPEC, e.g. cifar10:500")


def _logits(model: nn.Module, inputs: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(inputs[i : i + 256]) for i in range(0, len(inputs), 256)]).reshape(len(inputs), -1)


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules())


class _KernelSource:
    """Kernels of a model on the probe, through the cache; counts what it computed."""

    def __init__(self, model: nn.Module, probe: Probe, spec: ModelSpec, options: AnalyzeOptions,
                 progress: Callable[[int, int], None] | None) -> None:
        self.model, self.probe, self.spec, self.options, self.progress = model, probe, spec, options, progress
        self.cache = KernelCache(options.cache_dir) if options.cache else None
        self.device = str(resolve_device(options.device))
        chosen = select_parameters(model, options.params)
        self.param_names = tuple(name for name, _ in chosen)
        self.num_params = sum(numel for _, numel in chosen)
        self.gram_dtype = products_dtype(options.jacobian_dtype, options.gram_dtype)
        self.plan: EntkPlan | None = None

    def kernel(self, identity: Mapping[str, Any]) -> tuple[Tensor, float, bool]:
        o = self.options
        key = cache_key(**identity, arch=self.spec.arch, kwargs=self.spec.kwargs, probe=self.probe.sha256,
                        mode=o.mode, dtype=str(o.jacobian_dtype), gram_dtype=str(self.gram_dtype), params=o.params)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit, 0.0, True
        result = compute_entk_result(self.model, self.probe.inputs, mode=o.mode, device=o.device, max_memory=o.max_memory,
                                     params=o.params, jacobian_dtype=o.jacobian_dtype, progress=self.progress,
                                     paths=o.paths, gram_dtype=self.gram_dtype)
        self.plan = self.plan or result.plan
        if self.cache is not None:
            self.cache.put(key, result.kernel, {"device": result.device, "seconds": f"{result.seconds:.3f}"})
        return result.kernel, result.seconds, False


def analyze(
    run_dir: Path,
    probe_spec: str | None,
    options: AnalyzeOptions = AnalyzeOptions(),
    *,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Compute the eNTK of every selected checkpoint of ``run_dir`` and measure its trajectory.

    ``probe_spec`` None means the run directory's ``probe.safetensors``. ``on_checkpoint(i, n,
    checkpoint)`` is called before each checkpoint, ``on_chunk(done, total)`` within a kernel.
    The warnings given on the way are kept in ``Analysis.warnings`` (and shown as usual).
    """
    records: list[dict[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", EntkProbeWarning)
        forward = warnings.showwarning

        def record(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: Any = None, line: str | None = None) -> None:
            if isinstance(message, EntkProbeWarning):
                entry = {"code": message.code, "message": str(message)}
                if message.checkpoint:
                    entry["checkpoint"] = message.checkpoint
                if entry not in records:
                    records.append(entry)
            forward(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        analysis = _analyze(run_dir, probe_spec, options, on_checkpoint, on_chunk)
    analysis.warnings = records
    return analysis


def _read_state(ckpt: Checkpoint, options: AnalyzeOptions) -> tuple[dict[str, Tensor], str]:
    """A checkpoint's state dict (raw or EMA weights, as asked) and the key it came from."""
    return select_state_dict(read_content(ckpt.path, trust=options.trust_checkpoints), options.weights)


def _prepare(arch: str, arch_source: str, ckpt: Checkpoint, state: Mapping[str, Tensor], probe_spec: str,
             options: AnalyzeOptions) -> tuple[ModelSpec, nn.Module, Probe]:
    """The model spec, a fresh model, and the probe shaped for it."""
    spec = make_spec(arch, arch_source, state, recorded=ckpt.args, user_kwargs=options.model_kwargs)
    model = build_model(spec)
    probe = make_probe(probe_spec, spec.target(), normalize_override=options.normalize,
                       data_root=options.data_root, download=options.download)
    return spec, model, probe


@dataclass
class CheckpointKernel:
    """One checkpoint's kernel, for `entk-probe kernel`."""

    checkpoint: Checkpoint
    model: ModelSpec
    probe: Probe
    kernel: Tensor
    device: str
    param_names: tuple[str, ...]
    cached: bool
    plan: EntkPlan | None = None  # None when the kernel came from the cache


def checkpoint_kernel(path: Path, probe_spec: str, options: AnalyzeOptions = AnalyzeOptions(),
                      on_chunk: Callable[[int, int], None] | None = None) -> CheckpointKernel:
    """The eNTK of one checkpoint file on a probe (through the kernel cache)."""
    load_plugins(options.plugins)
    ckpt = single(path, trust=options.trust_checkpoints)
    run_dir = ckpt.path.parents[ckpt.name.count("/")]  # the name is relative to the run directory
    arch, arch_source = resolve_arch(options.arch, [ckpt], run_dir)
    state, _ = select_state_dict(read_content(ckpt.path, trust=options.trust_checkpoints), options.weights)
    spec, model, probe = _prepare(arch, arch_source, ckpt, state, probe_spec, options)
    source = _KernelSource(model, probe, spec, options, on_chunk)
    load_weights(model, state, arch=arch, where=str(ckpt.path))
    kernel, _, cached = source.kernel({"checkpoint": ckpt.sha256, "weights": options.weights})
    return CheckpointKernel(ckpt, spec, probe, kernel, source.device, source.param_names, cached, source.plan)


def _analyze(
    run_dir: Path,
    probe_spec: str | None,
    options: AnalyzeOptions,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None,
    on_chunk: Callable[[int, int], None] | None,
) -> Analysis:
    started = time.perf_counter()
    probe_spec = probe_spec_for(run_dir, probe_spec)
    load_plugins(options.plugins)
    found = discover(run_dir, glob=options.glob, trust=options.trust_checkpoints)
    chosen = select(found, every=options.every, range_=options.range, max_checkpoints=options.max_checkpoints)
    arch, arch_source = resolve_arch(options.arch, chosen, run_dir)
    model: nn.Module | None = None
    spec = probe = source = None
    kernels: list[Tensor] = []
    logits: list[Tensor] = []
    mixed: list[Tensor] = []
    runs: list[CheckpointRun] = []
    previous: tuple[Checkpoint, dict[str, Tensor]] | None = None  # and its weights, fitted to the model
    # The next checkpoint is read from disk while this one's kernel is computed.
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="entk-probe-read")
    try:
        pending = prefetch.submit(_read_state, chosen[0], options)
        for i, ckpt in enumerate(chosen):
            if on_checkpoint is not None:
                on_checkpoint(i, len(chosen), ckpt)
            state, key = pending.result()
            if i + 1 < len(chosen):
                pending = prefetch.submit(_read_state, chosen[i + 1], options)
            if model is None:
                spec, model, probe = _prepare(arch, arch_source, ckpt, state, probe_spec, options)
                source = _KernelSource(model, probe, spec, options, on_chunk)
            assert spec is not None and probe is not None and source is not None
            if options.buffer_motion and previous is not None:
                buffers = {name for name, _ in model.named_buffers()}
                fitted = strip_prefixes(state, model.state_dict().keys())[0]
                blend = {k: (previous[1][k] if k in buffers and k in previous[1] else v) for k, v in fitted.items()}
                load_weights(model, blend, arch=arch, where=f"{ckpt.path} with the buffers of {previous[0].path}")
                mixed.append(source.kernel({"checkpoint": ckpt.sha256, "buffers_of": previous[0].sha256,
                                            "weights": options.weights})[0])
            load_weights(model, state, arch=arch, where=str(ckpt.path))
            kernel, seconds, cached = source.kernel({"checkpoint": ckpt.sha256, "weights": options.weights})
            kernels.append(kernel)
            logits.append(_logits(model.eval(), probe.inputs))
            runs.append(CheckpointRun(ckpt, key, seconds, cached))
            previous = (ckpt, strip_prefixes(state, model.state_dict().keys())[0])
    finally:
        prefetch.shutdown(cancel_futures=True)
    assert spec is not None and probe is not None and source is not None and model is not None
    unit = time_unit(chosen) or "index"
    times = [float(i) if unit == "index" else float(c.time(unit)) for i, c in enumerate(chosen)]  # type: ignore[arg-type]
    num_classes = int(kernels[0].shape[-1]) if options.mode == "full" else int(logits[0].shape[1])
    label_classes = max(len(probe.classes), int(probe.labels.max()) + 1) if probe.labels is not None else None
    if label_classes is not None and label_classes != num_classes:
        warn(f"the model has {num_classes} outputs but the probe {probe.spec} has {label_classes} classes: probe accuracy "
             "is not measured; alignment uses the probe's labels", code="class-mismatch")
    summary = summarize(kernels, times, num_classes=num_classes, labels=probe.labels, label_classes=label_classes,
                        logits=logits,
                        thresholds=options.thresholds, k=options.subspace_k, statistic=options.cone_statistic)
    has_bn = _has_batchnorm(model)
    if has_bn and not options.buffer_motion:
        warn("the model has BatchNorm: the eval-mode kernel also moves when only the running statistics move, "
             "which is much of the early motion; --buffer-motion measures each step's share (one more kernel a step)",
             code="batchnorm-buffers")
    shares = buffer_shares(kernels[:-1], mixed, kernels[1:]) if options.buffer_motion else None
    return Analysis(
        run_dir=run_dir, model=spec, num_params=source.num_params, num_classes=num_classes, probe=probe,
        options=options, device=source.device, param_names=source.param_names, time_unit=unit,
        runs=runs, summary=summary, buffer_share=shares, has_batchnorm=has_bn, seconds=time.perf_counter() - started,
        plan=source.plan, kernels=kernels,
    )

