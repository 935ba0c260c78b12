"""The main job as a function: a run directory and a probe spec in, per-checkpoint results out.

No terminal output here: progress goes to a callback, results to the returned dataclass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoints import Checkpoint, discover, load_weights
from .dynamics import kernel_angle_deg, velocities
from .engine import compute_entk_result
from .errors import UsageError
from .models import build_model, input_size
from .probes import Probe, make_probe


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint
    angle_from_first_deg: float
    angle_to_last_deg: float
    velocity: float  # kernel distance per unit time to the next checkpoint; NaN for the last
    seconds: float


@dataclass
class Analysis:
    run_dir: Path
    arch: str
    num_params: int
    probe: Probe
    mode: str
    device: str
    time_unit: str  # "epoch" or "step"
    checkpoints: list[CheckpointResult] = field(default_factory=list)


def analyze(
    run_dir: Path,
    probe_spec: str,
    *,
    mode: str = "trace",
    device: str = "auto",
    max_memory: int | str | None = None,
    on_checkpoint: Callable[[int, int, Checkpoint], None] | None = None,
) -> Analysis:
    """Compute the eNTK of every checkpoint of ``run_dir`` on the probe and its motion over time."""
    found = discover(run_dir)
    arch = found[0].arch
    if arch is None:
        raise UsageError(f"{found[0].path}: no 'arch' in the metadata, so the architecture is unknown")
    num_classes = found[0].metadata.get("num_classes")
    kernels, results, probe = [], [], None
    for i, ckpt in enumerate(found):
        if on_checkpoint is not None:
            on_checkpoint(i, len(found), ckpt)
        model = build_model(ckpt.arch or arch, load_weights(ckpt), int(num_classes) if num_classes else None)
        if probe is None:
            probe = make_probe(probe_spec, input_size(model))
        result = compute_entk_result(model, probe.inputs, mode=mode, device=device, max_memory=max_memory)
        kernels.append(result.kernel)
        results.append((ckpt, result))
    assert probe is not None
    use_epoch = all(c.epoch is not None for c in found)
    times = [float(c.epoch if use_epoch else (c.step if c.step is not None else i)) for i, c in enumerate(found)]
    speeds = velocities(kernels, times) + [math.nan]
    analysis = Analysis(
        run_dir=run_dir,
        arch=arch,
        num_params=results[0][1].plan.num_params,
        probe=probe,
        mode=mode,
        device=results[0][1].device,
        time_unit="epoch" if use_epoch else "step",
    )
    for i, (ckpt, result) in enumerate(results):
        analysis.checkpoints.append(
            CheckpointResult(
                checkpoint=ckpt,
                angle_from_first_deg=kernel_angle_deg(kernels[0], kernels[i]),
                angle_to_last_deg=kernel_angle_deg(kernels[i], kernels[-1]),
                velocity=speeds[i],
                seconds=result.seconds,
            )
        )
    return analysis
