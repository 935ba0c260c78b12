"""Synthetic kernel trajectories with a known answer, to test and explain the phase verdict.

Kernels are centred symmetric (N, N) matrices of unit Frobenius norm built from an orthonormal
set E_0, E_1, ... (in the Frobenius inner product), so every angle is planted exactly:

- Phase I moves along the great circle from E_0 towards E_1 at a constant angle per step;
- Phase II, by ``kind``: ``cone`` jumps around within a cap of angular radius ``cone_deg`` about
  where Phase I ended (long path, small diameter); ``frozen`` stays put; ``drift`` keeps moving
  along a new great circle (diameter grows with path); ``single`` continues Phase I's circle at
  Phase I's speed (one phase); ``lazy`` is a trajectory that never moves more than ``lazy_deg``.
- ``transient_deg`` swings the checkpoint ``transient_at`` steps before the boundary that far
  out of Phase I's path, in a direction of its own, and the next one is back on it (a transient,
  as a high learning rate makes); two-phase kinds only;
- ``noise_deg`` tilts every kernel by that angle in a random direction (SGD noise);
  ``decay`` multiplies Phase II's step angles by decay**j (a decaying learning rate).
- ``schedule`` (``SCHEDULES``) scales every step by the learning rate's factor at the step's
  middle, as a function of the fraction of the run done: ``constant``; ``cosine`` (down to 0);
  ``warmup-cosine`` (linear warm-up over the first 10%, then cosine); ``onecycle`` (warm-up from
  0.04 over the first 15%, then cosine down to 1e-4); ``step`` (x0.1 from 75% of the run on, as
  a drop at epoch 150 of 200).
  Phase I's steps are rescaled to keep its planted travel (``phase1_steps x phase1_step_deg``),
  so a warm-up makes Phase I accelerate; Phase II's steps shrink with the learning rate, and its
  cone's spread with it down to half (an annealed kernel still wanders in its cone), so the kernel
  slows down long after Phase I ended.

Times (``spacing``): ``dense``, Phase I's checkpoints at 0, 1/32, 1/16, ... of an epoch (dense,
as real runs keep them), then one an epoch; ``even``, one an epoch throughout. The boundary
checkpoint is the last of Phase I.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

KINDS = ("cone", "frozen", "drift", "single", "lazy")
SCHEDULES = ("constant", "cosine", "warmup-cosine", "onecycle", "step")
SPACINGS = ("dense", "even")


def lr_factor(schedule: str, progress: float) -> float:
    """The learning rate as a fraction of its peak after ``progress`` (0..1) of the run."""
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 1.0 if progress < 0.75 else 0.1
    warm = {"cosine": 0.0, "warmup-cosine": 0.1, "onecycle": 0.15}[schedule]
    start, floor = (0.04, 1e-4) if schedule == "onecycle" else (0.0, 0.0)
    if progress < warm:
        return start + (1 - start) * progress / warm
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))


@dataclass(frozen=True)
class Trajectory:
    kernels: list[Tensor]  # (N, N) each
    times: list[float]
    boundary: int | None  # planted: index of the checkpoint that ends Phase I
    kind: str
    flow: list[float]  # gradient-flow time: the learning rate's factor integrated over time (Σ lr·Δt), per checkpoint


def _basis(n: int, count: int, gen: torch.Generator) -> list[Tensor]:
    """``count`` orthonormal centred symmetric (n, n) matrices."""
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    out: list[Tensor] = []
    while len(out) < count:
        a = torch.randn(n, n, generator=gen, dtype=torch.float64)
        m = h @ (a + a.T) @ h
        for e in out:
            m = m - (m * e).sum() * e
        out.append(m / torch.linalg.vector_norm(m))
    return out


def _rotate(p: Tensor, direction: Tensor, angle_deg: float) -> Tensor:
    """Move unit ``p`` by ``angle_deg`` towards ``direction`` (made orthogonal to ``p``)."""
    d = direction - (direction * p).sum() * p
    d = d / torch.linalg.vector_norm(d)
    a = math.radians(angle_deg)
    return math.cos(a) * p + math.sin(a) * d


def make_trajectory(
    kind: str,
    *,
    n: int = 24,
    phase1_steps: int = 6,
    phase2_steps: int = 14,
    phase1_step_deg: float = 8.0,
    phase2_step_deg: float = 2.0,
    cone_deg: float = 3.0,
    lazy_deg: float = 1.0,
    noise_deg: float = 0.0,
    decay: float = 1.0,
    transient_deg: float = 0.0,
    transient_at: int = 1,
    schedule: str = "constant",
    spacing: str = "dense",
    seed: int = 0,
) -> Trajectory:
    """A trajectory of ``phase1_steps + phase2_steps + 1`` kernels (module docstring)."""
    if kind not in KINDS or schedule not in SCHEDULES or spacing not in SPACINGS:
        raise ValueError(f"kind must be one of {KINDS}, schedule of {SCHEDULES} and spacing of {SPACINGS}, "
                         f"not {kind!r}, {schedule!r}, {spacing!r}")
    gen = torch.Generator().manual_seed(seed)
    basis = _basis(n, 8, gen)
    e0, e1, e2, rest = basis[0], basis[1], basis[2], basis[3:]
    times = _times(spacing, phase1_steps, phase2_steps)
    lr = [lr_factor(schedule, (times[k] + times[k + 1]) / 2 / times[-1]) for k in range(len(times) - 1)]  # mid-step
    # single and lazy move at one angular velocity (per unit time, times the learning rate) throughout
    rate = (lazy_deg if kind == "lazy" else phase1_step_deg * phase1_steps) / times[-1]
    phase1_lr = sum(lr[:phase1_steps]) / phase1_steps  # Phase I's steps keep its planted travel
    points = [e0]
    for k in range(phase1_steps):
        step = (rate * (times[k + 1] - times[k]) * lr[k] if kind in ("single", "lazy")
                else phase1_step_deg * lr[k] / phase1_lr)
        points.append(_rotate(points[-1], e1, step))
    centre = points[-1]
    for j in range(phase2_steps):
        factor = lr[phase1_steps + j]
        step = phase2_step_deg * decay**j * factor
        if kind in ("single", "lazy"):
            points.append(_rotate(points[-1], e1, rate * (times[phase1_steps + j + 1] - times[phase1_steps + j]) * factor))
        elif kind == "frozen":
            points.append(centre.clone())
        elif kind == "drift":
            points.append(_rotate(points[-1], e2, step))
        else:  # cone: a point of the cap, a random direction away from the centre
            direction = _random_direction(rest, gen)
            radius = cone_deg * (0.5 + 0.5 * float(torch.rand(1, generator=gen)))
            spread = min(1.0, decay**j * step / phase2_step_deg) if factor == 1.0 else max(0.5, factor) * decay**(2 * j)
            points.append(_rotate(centre, direction, radius * spread))
    if transient_deg > 0 and kind not in ("single", "lazy"):  # one Phase I checkpoint swung out of the path
        if not 1 <= transient_at < phase1_steps:
            raise ValueError(f"transient_at must be 1 to {phase1_steps - 1} steps before the boundary, not {transient_at}")
        i = phase1_steps - transient_at
        points[i] = _rotate(points[i], rest[-1], transient_deg)
    if noise_deg > 0:
        points = [_rotate(p, _random_direction(basis, gen), noise_deg) for p in points]
    steps = torch.tensor(lr, dtype=torch.float64) * torch.tensor(times, dtype=torch.float64).diff()  # lr·Δt a step
    boundary = None if kind in ("single", "lazy") else phase1_steps
    return Trajectory([p.clone() for p in points], times, boundary, kind, [0.0, *torch.cumsum(steps, 0).tolist()])


def _random_direction(basis: list[Tensor], gen: torch.Generator) -> Tensor:
    """A random combination of ``basis`` (each (n, n)), Gaussian weights."""
    return sum(w * e for w, e in zip(torch.randn(len(basis), generator=gen, dtype=torch.float64), basis))  # type: ignore[return-value]


def _times(spacing: str, phase1_steps: int, phase2_steps: int) -> list[float]:
    """Checkpoint times (epochs): Phase I dense (0, 1/2**k, ..., 1) or one an epoch, then one an epoch."""
    if spacing == "dense":
        times = [0.0] + [2.0 ** (k - phase1_steps) for k in range(phase1_steps)]  # ..., 1/4, 1/2, 1 epoch
    else:
        times = [float(k) for k in range(phase1_steps + 1)]
    return times + [times[-1] + j for j in range(1, phase2_steps + 1)]
