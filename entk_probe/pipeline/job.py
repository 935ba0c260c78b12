"""The main job as a function: a run directory and a probe in, an ``Analysis`` out.

Options are checked first (``options``); then checkpoints are discovered and selected, the model,
its spec and the probe are built once from the first checkpoint, and each checkpoint's weights
are loaded into the model (the next checkpoint is read from disk meanwhile), its kernel computed
or taken from the kernel cache (``kernels``), and its logits on the probe recorded;
``summary.summarize`` then measures the trajectory. No terminal output here: progress goes to a
callback, warnings through ``warnings``.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor, nn

from ..analysis.dynamics import subspaces_informative
from ..analysis.flowtime import flow_time
from ..analysis.summary import RunSummary, buffer_shares, summarize
from ..engine.planning import EntkPlan
from ..errors import CheckpointError, EntkProbeWarning, UsageError, warn
from ..probes import Probe, make_probe
from ..runs.checkpoints import Checkpoint, check_run_dir, checkpoint_paths, discover, select, time_unit
from ..runs.loading import read_content, select_state_dict
from ..runs.initial import initial_checkpoint
from ..runs.records import read_run_args, records_of
from ..runs.learningrate import LearningRates, recorded_learning_rates
from ..runs.traininglog import read_training_log
from ..runs.models import ModelSpec, build_model, load_weights, make_spec, resolve_arch
from ..runs.registry import REGISTRY
from .buffers import fitted, mixed_kernel
from .display import NotebookDisplay
from .cache import default_cache_dir
from .forecast import RunEstimate, check_fits, forecast
from .kernels import KernelSource
from .kernelstore import DiskKernels, KernelStore, MemoryKernels, analysis_budget
from .weights import weight_problem
from ..engine.parameters import describe_selection
from .options import AnalyzeOptions
from .runprobe import resolve_run_probe
from .keptrun import analyze_kept, kept_index
from .textrun import prepare_text


@dataclass
class CheckpointRun:
    """How one checkpoint was processed."""

    checkpoint: Checkpoint
    state_dict_key: str
    kernel_seconds: float
    cached: bool
    time: float  # in the analysis's time unit
    excluded: str | None = None  # why the checkpoint was left out of dynamics and phases (diverged)


@dataclass
class Analysis(NotebookDisplay):
    """The analysis of a run; in a notebook it displays itself as its HTML report, and ``plot()`` draws it."""

    run_dir: Path
    model: ModelSpec
    num_params: int
    num_classes: int
    probe: Probe
    options: AnalyzeOptions
    device: str
    param_names: tuple[str, ...]
    time_unit: str  # "epoch", "step", or "index" when neither is recorded
    runs: list[CheckpointRun]  # every checkpoint, in analysis order
    summary: RunSummary  # of the included checkpoints only
    included: list[int]  # positions in ``runs`` of the checkpoints the summary covers
    buffer_share: list[float] | None  # per step; None without --buffer-motion
    has_batchnorm: bool
    seconds: float
    plan: EntkPlan | None = None  # how the first computed kernel was computed; None when all came from the cache
    estimate: RunEstimate | None = None  # made before the first kernel
    training_log: dict[int, dict[str, float]] = field(default_factory=dict)  # summary.csv, by epochs done
    learning_rates: LearningRates | None = None  # one per included checkpoint, where the run records them
    kernels: KernelStore = field(default_factory=MemoryKernels)  # float64, one per included checkpoint, in analysis
    # order, on disk, loaded when indexed (kernelstore.py); --no-cache: a temporary folder that kernels.close() removes
    warnings: list[dict[str, str]] = field(default_factory=list)  # {code, message[, checkpoint]}
    model_params: int = 0  # every parameter of the model; num_params: those the kernel covers
    kernel_scope: str = ""  # which parameters the kernel covers, in words



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


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules())


def analyze(
    run_dir: Path,
    probe_spec: str | None,
    options: AnalyzeOptions = AnalyzeOptions(),
    *,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    on_estimate: Callable[[RunEstimate], None] | None = None,
    elsewhere: Mapping[str, float] | None = None,
) -> Analysis:
    """Compute the eNTK of every selected checkpoint of ``run_dir`` and measure its trajectory.

    ``probe_spec`` None means the run directory's ``probe.safetensors``. ``on_estimate(estimate)``
    is called before the first kernel (the run then stops with a MemoryBudgetError when it is not
    expected to fit, unless ``options.force``), ``on_checkpoint(i, n, checkpoint)`` before each
    checkpoint, ``on_chunk(done, total)`` within a kernel. The warnings given on the way are kept
    in ``Analysis.warnings`` (and shown as usual). ``elsewhere`` maps the cache keys of kernels other
    processes computed for this run (torchrun ranks) to their seconds: they are read from the cache
    but reported as computed.
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
                if entry in records:  # the same warning again (another checkpoint's read, say): shown once
                    return
                records.append(entry)
            forward(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        analysis = _analyze(run_dir, probe_spec, options, on_checkpoint, on_chunk, on_estimate, elsewhere)
    analysis.warnings = records
    return analysis


def read_state(ckpt: Checkpoint, options: AnalyzeOptions) -> tuple[dict[str, Tensor], str]:
    """A checkpoint's state dict (raw or EMA weights, as asked) and the key it came from.

    A rebuilt initial model is its own EMA: timm's EMA starts as a copy of the model.
    """
    weights = "raw" if ckpt.rebuilt else options.weights
    return select_state_dict(read_content(ckpt.path, trust=options.trust_checkpoints), weights)


def prepare(arch: str, arch_source: str, ckpt: Checkpoint, state: Mapping[str, Tensor], probe_spec: str,
            options: AnalyzeOptions, run_dir: Path) -> tuple[ModelSpec, nn.Module, Probe]:
    """The model spec, a fresh model, and the probe shaped for it (a language model's: ``textrun``)."""
    if (text := prepare_text(ckpt, run_dir, probe_spec, options)) is not None:
        return text
    spec = _spec(arch, arch_source, ckpt, state, options, run_dir)
    model = build_model(spec)
    probe = make_probe(probe_spec, spec.target(), normalize_override=options.normalize,
                       data_root=options.data_root, download=options.download)
    return spec, model, probe


def _states(chosen: Sequence[Checkpoint], options: AnalyzeOptions) -> Iterator[tuple[Checkpoint, dict[str, Tensor], str]]:
    """(checkpoint, state dict, its key) in order, the next one read from disk while the caller works."""
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="entk-probe-read")
    try:
        pending = prefetch.submit(read_state, chosen[0], options)
        for i, ckpt in enumerate(chosen):
            state, key = pending.result()
            if i + 1 < len(chosen):
                pending = prefetch.submit(read_state, chosen[i + 1], options)
            yield ckpt, state, key
    finally:
        prefetch.shutdown(cancel_futures=True)


@dataclass
class _Trajectory:
    """What the loop over checkpoints collects (kernels, logits and mixed kernels of included checkpoints)."""

    kernels: KernelStore = field(default_factory=DiskKernels)  # on disk: memory does not grow with the run
    logits: list[Tensor] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)  # --buffer-motion: each step's, measured as it comes
    last: Tensor | None = None  # --buffer-motion: the previous included kernel, for the next step's share
    shape: tuple[int, ...] = ()  # of every kernel
    runs: list[CheckpointRun] = field(default_factory=list)
    included: list[int] = field(default_factory=list)


def _spec(arch: str, arch_source: str, ckpt: Checkpoint, state: Mapping[str, Tensor], options: AnalyzeOptions,
          run_dir: Path) -> ModelSpec:
    """The model spec from a checkpoint, what the run records and the options."""
    records = records_of(ckpt, read_run_args(run_dir))
    return make_spec(arch, arch_source, state, records=records, user_kwargs=options.model_kwargs,
                     input_size=options.input_size)


def _with_init(chosen: list[Checkpoint], arch: str, arch_source: str, options: AnalyzeOptions,
               run_dir: Path) -> list[Checkpoint]:
    """``chosen`` with the rebuilt initial model first (``--init seed``), or as it is."""
    if options.init is None:
        return chosen
    first = chosen[0]
    if first.time("epoch") == 0 or first.time("step") == 0:
        raise UsageError(f"--init seed: the run already starts at its initialisation ({first.name} is at time 0)")
    state, _ = read_state(first, options)
    spec = _spec(arch, arch_source, first, state, options, run_dir)
    folder = (options.cache_dir or default_cache_dir()).parent / "init"
    init = initial_checkpoint(spec, records_of(first, read_run_args(run_dir)), folder)
    warn(f"{init.name}: timm's train.py saves no initial model; this one is rebuilt from the recorded seed with timm "
         f"{timm.__version__} and torch {torch.__version__.split('+')[0]}, and equals the run's own only if training "
         "used the same versions", code="init-rebuilt", checkpoint=init.name)
    return [init, *chosen]


@dataclass(frozen=True)
class RunSelection:
    """The checkpoints an analysis covers, in analysis order, and what was resolved on the way."""

    probe_spec: str  # resolved: the run's own probe when none was given
    options: AnalyzeOptions  # as resolved with the run's probe
    chosen: list[Checkpoint]  # with the rebuilt initial model first under --init seed
    arch: str
    arch_source: str


def select_run(run_dir: Path, probe_spec: str | None, options: AnalyzeOptions) -> RunSelection:
    """Check the options, load the plugins, and find and select ``run_dir``'s checkpoints."""
    check_run_dir(run_dir)
    probe_spec, options = resolve_run_probe(probe_spec_for(run_dir, probe_spec), run_dir, options)
    options.validate(probe_spec)
    load_plugins(options.plugins)
    found = discover(run_dir, glob=options.glob, trust=options.trust_checkpoints)
    chosen = select(found, every=options.every, range_=options.range, max_checkpoints=options.max_checkpoints)
    arch, arch_source = resolve_arch(options.arch, chosen, run_dir, base_model=options.base_model)
    chosen = _with_init(chosen, arch, arch_source, options, run_dir)
    return RunSelection(probe_spec, options, chosen, arch, arch_source)


def source_for(run: RunSelection, first_state: Mapping[str, Tensor], run_dir: Path,
               on_chunk: Callable[[int, int], None] | None,
               elsewhere: Mapping[str, float] | None = None) -> tuple[ModelSpec, nn.Module, Probe, KernelSource]:
    """The model spec, model, probe and kernel source, built from the first checkpoint's state."""
    recorded = run.chosen[1] if run.options.init is not None else run.chosen[0]  # a rebuilt init records only its seed
    spec, model, probe = prepare(run.arch, run.arch_source, recorded, first_state, run.probe_spec, run.options, run_dir)
    return spec, model, probe, KernelSource(model, probe, spec, run.options, on_chunk, elsewhere, run_dir)


def _analyze(
    run_dir: Path,
    probe_spec: str | None,
    options: AnalyzeOptions,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None,
    on_chunk: Callable[[int, int], None] | None,
    on_estimate: Callable[[RunEstimate], None] | None,
    elsewhere: Mapping[str, float] | None = None,
) -> Analysis:
    started = time.perf_counter()
    if run_dir.is_dir() and not checkpoint_paths(run_dir) and kept_index(run_dir) is not None:
        return analyze_kept(run_dir, probe_spec, options)  # kernels a training loop kept, no checkpoint
    run = select_run(run_dir, probe_spec, options)
    chosen, arch, options = run.chosen, run.arch, run.options
    unit = time_unit(chosen) or "index"
    states = _states(chosen, options)
    first = next(states)
    spec, model, probe, source = source_for(run, first[1], run_dir, on_chunk, elsewhere)
    estimate = estimated(source, chosen, on_estimate)
    done = _Trajectory()
    try:
        _trajectory(done, chosen, itertools.chain([first], states), model, probe, source, unit, arch, options,
                    on_checkpoint)
        analysis = _summarised(run_dir, unit, options, spec, model, probe, source, done, started)
    except BaseException:  # an error or an interrupt: the kernels' temporary folder goes too
        done.kernels.close()
        raise
    analysis.estimate = estimate
    return analysis


def _trajectory(done: _Trajectory, chosen: Sequence[Checkpoint], states: Iterator[tuple[Checkpoint, dict[str, Tensor], str]],
                model: nn.Module, probe: Probe, source: KernelSource, unit: str, arch: str, options: AnalyzeOptions,
                on_checkpoint: Callable[[int, int, Checkpoint], None] | None) -> None:
    """Every checkpoint's kernel into ``done.kernels`` (on disk), its logits and, with --buffer-motion, its step's share."""
    previous: tuple[Checkpoint, dict[str, Tensor]] | None = None  # the last included one, fitted to the model
    for i, (ckpt, state, key) in enumerate(states):
        if on_checkpoint is not None:
            on_checkpoint(i, len(chosen), ckpt)
        moment = float(i) if unit == "index" else float(ckpt.time(unit))  # type: ignore[arg-type]
        prefix = "".join(load_weights(model, state, arch=arch, where=str(ckpt.path)))  # e.g. Lightning's "net."
        excluded, logits = weight_problem(model, probe.inputs)
        seconds, cached = 0.0, False
        if not excluded:
            kernel, seconds, cached = source.kernel({"checkpoint": ckpt.sha256, "weights": options.weights})
            excluded = None if bool(torch.isfinite(kernel).all()) else "NaN or infinite entries in its kernel"
        done.runs.append(CheckpointRun(ckpt, f"{key}, under {prefix}" if prefix else key, seconds, cached, moment, excluded))
        if excluded:
            warn(f"{ckpt.name} is left out of the dynamics and phases: {excluded} (a diverged checkpoint?)",
                 code="excluded", checkpoint=ckpt.name)
            continue
        if options.buffer_motion and previous is not None and done.last is not None:
            mixed = mixed_kernel(model, source, arch, options.weights, ckpt, fitted(model, state), *previous)
            done.shares.extend(buffer_shares([done.last], [mixed], [kernel]))
        done.kernels.add(kernel, source.entry({"checkpoint": ckpt.sha256, "weights": options.weights}))
        done.last, done.shape = (kernel if options.buffer_motion else None), tuple(kernel.shape)
        done.logits.append(logits)  # type: ignore[arg-type]
        done.included.append(i)
        previous = (ckpt, fitted(model, state))
        del kernel  # on disk now: not kept while the next one is computed


def estimated(source: KernelSource, chosen: Sequence[Checkpoint],
               on_estimate: Callable[[RunEstimate], None] | None) -> RunEstimate:
    """The run's estimate, reported, and checked against the memory it may use."""
    estimate = forecast(source, chosen)
    if on_estimate is not None:
        on_estimate(estimate)
    check_fits(estimate, source.options.force)
    return estimate


def _summarised(run_dir: Path, unit: str, options: AnalyzeOptions, spec: ModelSpec, model: nn.Module,
                probe: Probe, source: KernelSource, done: _Trajectory, started: float) -> Analysis:
    """The included checkpoints' trajectory measured, with the warnings that go with it."""
    if not done.included:
        reasons = "; ".join(f"{r.checkpoint.name}: {r.excluded}" for r in done.runs[:3])
        raise CheckpointError(f"every checkpoint was left out, none has finite weights, logits and kernel ({reasons})")
    times = [done.runs[i].time for i in done.included]
    log = read_training_log(run_dir)
    rates = recorded_learning_rates([done.runs[i].checkpoint for i in done.included], log) if unit != "index" else None
    num_classes = int(done.shape[-1]) if options.mode == "full" else int(done.logits[0].shape[1])
    label_classes = max(len(probe.classes), int(probe.labels.max()) + 1) if probe.labels is not None else None
    if label_classes is not None and label_classes != num_classes:
        warn(f"the model has {num_classes} outputs but the probe {probe.spec} has {label_classes} classes: probe accuracy "
             "is not measured; alignment uses the probe's labels", code="class-mismatch")
    summary = summarize(done.kernels, times, num_classes=num_classes, labels=probe.labels, label_classes=label_classes,
                        logits=done.logits, thresholds=options.thresholds, k=options.subspace_k,
                        statistic=options.cone_statistic, max_memory=analysis_budget(options.max_memory),
                        resamples=options.resamples, time_unit=unit,
                        flow=None if rates is None else flow_time(times, rates.values))
    if not subspaces_informative(summary.k, probe.n):
        warn(f"subspace angles are not measured (null): the top-{summary.k} eigenspaces of centred kernels over "
             f"N={probe.n} samples are the same whatever the kernels (k must be below N - 1 = {probe.n - 1}); "
             "use a larger probe or a smaller --subspace-k", code="subspace-k")
    has_bn = _has_batchnorm(model)
    if has_bn and not options.buffer_motion:
        warn("the model has BatchNorm: the eval-mode kernel also moves when only the running statistics move, "
             "which is much of the early motion; --buffer-motion measures each step's share (one more kernel a step)",
             code="batchnorm-buffers")
    shares = done.shares if options.buffer_motion else None
    return Analysis(
        run_dir=run_dir, model=spec, num_params=source.num_params, num_classes=num_classes, probe=probe,
        options=options, device=source.device, param_names=source.param_names, time_unit=unit,
        runs=done.runs, summary=summary, included=done.included, buffer_share=shares, has_batchnorm=has_bn,
        seconds=time.perf_counter() - started, plan=source.plan, kernels=done.kernels, learning_rates=rates,
        training_log=log, model_params=sum(p.numel() for p in model.parameters()),
        kernel_scope=describe_selection(model, options.params),
    )
