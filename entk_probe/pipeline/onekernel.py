"""One checkpoint's kernel on a probe, through the kernel cache: the job of ``entk-probe kernel``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ..engine.planning import EntkPlan
from ..probes import Probe
from ..runs.checkpoints import Checkpoint, run_dir_of, single
from ..runs.models import ModelSpec, load_weights, resolve_arch
from .job import estimated, load_plugins, prepare, read_state
from .kernels import KernelSource
from .options import AnalyzeOptions
from .runprobe import resolve_run_probe


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
    options.validate(None if probe_spec.strip().lower().startswith("run:") else probe_spec)
    load_plugins(options.plugins)
    ckpt = single(path, trust=options.trust_checkpoints)
    run_dir = run_dir_of(ckpt.path)
    probe_spec, options = resolve_run_probe(probe_spec, run_dir, options)
    options.validate(probe_spec)
    arch, arch_source = resolve_arch(options.arch, [ckpt], run_dir, base_model=options.base_model)
    state, _ = read_state(ckpt, options)
    spec, model, probe = prepare(arch, arch_source, ckpt, state, probe_spec, options, run_dir)
    source = KernelSource(model, probe, spec, options, on_chunk)
    estimated(source, [ckpt], None)
    load_weights(model, state, arch=arch, where=str(ckpt.path))
    kernel, _, cached = source.kernel({"checkpoint": ckpt.sha256, "weights": options.weights})
    return CheckpointKernel(ckpt, spec, probe, kernel, source.device, source.param_names, cached, source.plan)
