"""The main job as a function: a run directory and a probe spec in, per-checkpoint results out.

No terminal output here: progress goes to a callback, warnings through ``warnings``, results to
the returned dataclass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoints import Checkpoint, discover, select, time_unit
from .dynamics import kernel_angle_deg, velocities
from .engine import compute_entk_result
from .errors import UsageError
from .loading import read_content, select_state_dict
from .models import ModelSpec, build_model, load_weights, make_spec, resolve_arch
from .probes import Probe, make_probe
from .registry import REGISTRY


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
    normalize: str | None = None  # --normalize: overrides the model's normalisation
    data_root: Path | None = None
    download: bool = False


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint
    angle_from_first_deg: float
    angle_to_last_deg: float
    velocity: float  # kernel distance per unit time to the next checkpoint; NaN for the last
    seconds: float
    state_dict_key: str  # where in the file the weights were found


@dataclass
class Analysis:
    run_dir: Path
    model: ModelSpec
    num_params: int
    probe: Probe
    mode: str
    device: str
    time_unit: str  # "epoch" or "step" (or "index" when neither is recorded)
    options: AnalyzeOptions
    checkpoints: list[CheckpointResult] = field(default_factory=list)


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


def analyze(
    run_dir: Path,
    probe_spec: str | None,
    options: AnalyzeOptions = AnalyzeOptions(),
    *,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None = None,
) -> Analysis:
    """Compute the eNTK of every selected checkpoint of ``run_dir`` and its motion over time.

    ``probe_spec`` None means the run directory's ``probe.safetensors``.
    """
    probe_spec = probe_spec_for(run_dir, probe_spec)
    load_plugins(options.plugins)
    found = discover(run_dir, glob=options.glob, trust=options.trust_checkpoints)
    chosen = select(found, every=options.every, range_=options.range, max_checkpoints=options.max_checkpoints)
    arch, arch_source = resolve_arch(options.arch, chosen, run_dir)
    model = spec = probe = None
    kernels, rows = [], []
    for i, ckpt in enumerate(chosen):
        if on_checkpoint is not None:
            on_checkpoint(i, len(chosen), ckpt)
        content = read_content(ckpt.path, trust=options.trust_checkpoints)
        state, key = select_state_dict(content, options.weights)
        if spec is None:
            spec = make_spec(arch, arch_source, state, recorded=ckpt.args, user_kwargs=options.model_kwargs)
            model = build_model(spec)
            probe = make_probe(probe_spec, spec.target(), normalize_override=options.normalize,
                               data_root=options.data_root, download=options.download)
        load_weights(model, state, arch=arch, where=str(ckpt.path))
        result = compute_entk_result(
            model, probe.inputs, mode=options.mode, device=options.device,
            max_memory=options.max_memory, params=options.params,
        )
        kernels.append(result.kernel)
        rows.append((ckpt, result, key))
    assert spec is not None and probe is not None
    unit = time_unit(chosen) or "index"
    times = [float(i) if unit == "index" else c.time(unit) for i, c in enumerate(chosen)]
    speeds = velocities(kernels, times) + [math.nan]
    analysis = Analysis(
        run_dir=run_dir, model=spec, num_params=rows[0][1].plan.num_params, probe=probe, mode=options.mode,
        device=rows[0][1].device, time_unit=unit, options=options,
    )
    for i, (ckpt, result, key) in enumerate(rows):
        analysis.checkpoints.append(CheckpointResult(
            checkpoint=ckpt,
            angle_from_first_deg=kernel_angle_deg(kernels[0], kernels[i]),
            angle_to_last_deg=kernel_angle_deg(kernels[i], kernels[-1]),
            velocity=speeds[i],
            seconds=result.seconds,
            state_dict_key=key,
        ))
    return analysis
