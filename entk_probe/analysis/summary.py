"""A run's kernels summarised: every per-checkpoint metric, the pairwise matrices, phases, cone.

Pure: kernels, times, labels and logits in; a ``RunSummary`` out. The verdict is driven by the
centred kernels (H K H): the uncentred cosine is dominated by the kernel's constant mode (the
mean logit gradient shared by all inputs), which on real runs moves little while the centred
kernel, which carries how the network tells inputs apart, shows the dynamics (docs/phases.md
has the numbers). Both are reported. With ``resamples``, ``confidence`` measures how sure the
verdict is from probe resamples of the same kernels, and an unsure verdict is reported as
``uncertain`` (the full probe's is kept in ``RunSummary.confidence``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from .blocked import Mapped, block_size, blocked_pairwise
from .confidence import Confidence, confidence, reported
from .dynamics import (
    NO_ANGLES,
    accuracy,
    alignment,
    angle_statistics,
    center,
    disagreement,
    kernel_angle_deg,
    spectrum,
    step_rates,
    subspace_angles,
    subspaces_informative,
    top_eigenspace,
)
from .phases import CONE_STATISTIC, ConeWidth, PhaseResult, PhaseThresholds, classify, cone_width
from .regression import kernel_regression
from .threads import analysis_threads


@dataclass
class CheckpointMetrics:
    """Everything measured at one checkpoint; step quantities refer to the step to the next one."""

    time: float
    distance_from_first: float
    distance_to_last: float
    angle_from_first_deg: float
    angle_to_last_deg: float
    centered_distance_from_first: float
    centered_distance_to_last: float
    centered_angle_from_first_deg: float
    centered_angle_to_last_deg: float
    velocity: float  # S to the next checkpoint per unit time (docs/definitions.md); NaN for the last
    centered_velocity: float
    angular_velocity_deg: float  # centred angle to the next checkpoint per unit time
    alignment: float
    centered_alignment: float
    effective_rank: float
    top_eigenvalues: list[float]
    trace: float
    subspace_to_next: dict[str, float]  # principal-angle statistics to the next checkpoint, degrees
    accuracy: float  # NaN without labels
    disagreement_with_previous: float  # NaN for the first
    phase: str  # "I" up to and with the boundary checkpoint, "II" after it, "" when there is no boundary
    cone_subspace_deg: float = math.nan  # the cone statistic to the Phase II mean kernel
    kernel_regression_accuracy: float = math.nan  # ``regression``: this kernel's ridge regression on the probe
    kernel_regression_ridge: float = math.nan  # the ridge it chose, times the mean diagonal


@dataclass
class RunSummary:
    checkpoints: list[CheckpointMetrics]
    distance: np.ndarray  # (T, T) S between uncentred kernels
    angle: np.ndarray  # (T, T) degrees
    centered_distance: np.ndarray
    centered_angle: np.ndarray
    phases: PhaseResult
    cone: ConeWidth | None
    k: int
    drives_verdict: str = "centered"
    notes: list[str] = field(default_factory=list)
    confidence: Confidence | None = None  # how sure ``phases.verdict`` is; None without resamples


def _row(matrix: np.ndarray, i: int, j: int) -> float:
    return float(matrix[i, j])


def summarize(
    kernels: Sequence[Tensor],
    times: Sequence[float],
    *,
    num_classes: int,
    labels: Tensor | None = None,
    label_classes: int | None = None,
    logits: Sequence[Tensor] | None = None,
    thresholds: PhaseThresholds = PhaseThresholds(),
    k: int | None = None,
    statistic: str = CONE_STATISTIC,
    max_memory: int | None = None,
    resamples: int = 0,
    time_unit: str = "time",
    flow: Sequence[float] | None = None,
) -> RunSummary:
    """Measure a run's kernel trajectory.

    ``kernels`` is any sequence of (N, N) or (N, N, C, C) kernels: a list, or a store that loads
    kernel i when indexed (``pipeline.kernelstore``). ``max_memory`` (bytes; None: no bound) bounds
    what the pairwise products hold: blocks of kernels sized by ``blocked.block_size``; the
    per-checkpoint metrics and the cone read one kernel at a time. ``num_classes`` is the model's
    number of logits; ``label_classes`` (default the same) the probe's, for the alignment; accuracy
    is measured only when the two agree. ``k`` (default ``num_classes``) sets the eigenspaces.
    ``resamples`` > 0: that many probe resamples (``confidence``; stratified by ``labels`` where
    given) test the verdict, their kernels blocked as the pairwise products; an unsure one becomes
    ``uncertain``. ``time_unit`` names the times in the confidence's summary line. ``flow`` (T,):
    each checkpoint's gradient-flow time where the learning rate is known (``phases.classify``).
    """
    first = kernels[0] if len(kernels) else None
    n = int(first.shape[0]) if first is not None else 0
    block = block_size(first.numel() * 8 if first is not None else 0, max_memory, len(kernels))
    del first  # loaded for its shape; a store's kernel is not kept
    with analysis_threads(n):
        summary = _summarize(kernels, times, num_classes=num_classes, labels=labels, label_classes=label_classes,
                             logits=logits, thresholds=thresholds, k=k, statistic=statistic, block=block, n=n,
                             flow=flow)
        if resamples > 0 and n >= 2:
            summary.confidence = confidence(kernels, times, summary.phases, summary.centered_angle, labels=labels,
                                            draws=resamples, block=block, unit=time_unit, flow=flow)
            summary.phases = reported(summary.phases, summary.confidence)
    return summary


def _summarize(
    kernels: Sequence[Tensor],
    times: Sequence[float],
    *,
    num_classes: int,
    labels: Tensor | None,
    label_classes: int | None,
    logits: Sequence[Tensor] | None,
    thresholds: PhaseThresholds,
    k: int | None,
    statistic: str,
    block: int,
    n: int,
    flow: Sequence[float] | None = None,
) -> RunSummary:
    k = k or num_classes
    label_classes = label_classes or num_classes
    same_classes = label_classes == num_classes
    t = len(kernels)
    distance, angle, c_distance, c_angle = blocked_pairwise(kernels, block)
    phases = classify(c_angle, times, thresholds, flow=flow)
    informative = subspaces_informative(k, n)
    each = [_own(kernels[i], labels, label_classes, k if informative else None) for i in range(t)]  # one kernel at a time
    spaces = [e.pop("space") for e in each]
    cone = (cone_width(Mapped(kernels, center), phases.boundary, k, statistic, spaces if informative else None)
            if phases.boundary is not None else None)
    dt = np.diff(np.asarray(times, dtype=float))
    rates = step_rates(c_angle, times)
    rows = []
    for i in range(t):
        nxt = i + 1 < t
        step_ok = nxt and dt[i] > 0
        rows.append(CheckpointMetrics(
            time=float(times[i]),
            distance_from_first=_row(distance, 0, i), distance_to_last=_row(distance, i, t - 1),
            angle_from_first_deg=_row(angle, 0, i), angle_to_last_deg=_row(angle, i, t - 1),
            centered_distance_from_first=_row(c_distance, 0, i), centered_distance_to_last=_row(c_distance, i, t - 1),
            centered_angle_from_first_deg=_row(c_angle, 0, i), centered_angle_to_last_deg=_row(c_angle, i, t - 1),
            velocity=float(distance[i, i + 1] / dt[i]) if step_ok else math.nan,
            centered_velocity=float(c_distance[i, i + 1] / dt[i]) if step_ok else math.nan,
            angular_velocity_deg=float(rates[i]) if nxt else math.nan,
            subspace_to_next=(angle_statistics(subspace_angles(spaces[i], spaces[i + 1])) if informative
                              else dict(NO_ANGLES)) if nxt else {},
            accuracy=accuracy(logits[i], labels) if logits is not None and labels is not None and same_classes else math.nan,
            disagreement_with_previous=disagreement(logits[i - 1], logits[i]) if logits is not None and i > 0 else math.nan,
            phase="" if phases.boundary is None else ("I" if i <= phases.boundary else "II"),
            cone_subspace_deg=cone.per_checkpoint_deg[i] if cone is not None else math.nan,
            **each[i],
        ))
    return RunSummary(rows, distance, angle, c_distance, c_angle, phases, cone, k)


def _own(kernel: Tensor, labels: Tensor | None, label_classes: int, k: int | None) -> dict[str, Any]:
    """One kernel's own metrics (alignments, spectrum, kernel regression) and, with ``k``, the top-k
    eigenspace (N, k) of its centred kernel under ``space`` (None without)."""
    centred = center(kernel)
    spec = spectrum(kernel)
    return {
        "alignment": alignment(kernel, labels, label_classes) if labels is not None else math.nan,
        "centered_alignment": alignment(centred, labels, label_classes) if labels is not None else math.nan,
        "effective_rank": float(spec["effective_rank"]),  # type: ignore[arg-type]
        "top_eigenvalues": list(spec["top_eigenvalues"]),  # type: ignore[call-overload]
        "trace": float(spec["trace"]),  # type: ignore[arg-type]
        **_regression(kernel, labels, label_classes),
        "space": top_eigenspace(centred, k) if k is not None else None,
    }


def _regression(kernel: Tensor, labels: Tensor | None, num_classes: int) -> dict[str, float]:
    if labels is None:
        return {"kernel_regression_accuracy": math.nan, "kernel_regression_ridge": math.nan}
    accuracy, ridge = kernel_regression(kernel, labels, num_classes)
    return {"kernel_regression_accuracy": accuracy, "kernel_regression_ridge": ridge}


def buffer_shares(before: Sequence[Tensor], mixed: Sequence[Tensor], after: Sequence[Tensor]) -> list[float]:
    """Share of each step's (centred) kernel motion that the buffers explain.

    ``mixed[i]`` is the kernel of checkpoint i+1's weights with checkpoint i's buffers: the step
    K_i -> K_{i+1} splits into a weights part K_i -> mixed and a buffers part mixed -> K_{i+1};
    the share is buffers / (weights + buffers), by angle.
    """
    shares = []
    for a, m, b in zip(before, mixed, after):
        weights, buffers = kernel_angle_deg(center(a), center(m)), kernel_angle_deg(center(m), center(b))
        total = weights + buffers
        shares.append(buffers / total if total > 0 else math.nan)
    return shares

