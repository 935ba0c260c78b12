"""The phase call while a run is being written: after each new kernel, as far as it can be told.

Each call is the offline analysis of the checkpoints so far (the same pairwise centred angles and
the same ``phases.classify``), so the call after the last checkpoint *is* the offline one. A call is
provisional; Phase II is *called* (``OnlineCall.phase2``) once a two-phase verdict has placed the
boundary by the plateau rule at the same checkpoint twice in a row with at least
``min_phase2_checkpoints`` after it. The corner fallback never calls it: on a prefix whose angle
has not levelled off yet, the corner of the displacement so far sits early (replaying the sample
Fashion-MNIST run, it called Phase II at epoch 0.07 where the whole run's plateau is at epoch 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor

from .blocked import extend_centred_angles
from .phases import BOUNDARY_RULES, PhaseResult, PhaseThresholds, classify
from .verdicts import NO_CONE, TWO_PHASE_CONE, TWO_PHASE_FROZEN

TWO_PHASE = {TWO_PHASE_CONE.id, TWO_PHASE_FROZEN.id, NO_CONE.id}


@dataclass(frozen=True)
class OnlineCall:
    """The phase call on the first ``checkpoints`` kernels."""

    checkpoints: int
    result: PhaseResult  # what the offline analysis of these checkpoints says
    boundary_time: float | None
    phase2: bool  # Phase II is called: a two-phase boundary, stable and followed by enough checkpoints
    angle_from_first_deg: float = 0.0  # the newest kernel's centred angle from the first

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def boundary(self) -> int | None:
        return self.result.boundary


@dataclass
class OnlineCaller:
    """Kernels as they come (float64 (N, N) or (N, N, C, C)), and the call after each.

    Holds each kernel's centred unit vector and the centred angles so far (T, T): a new kernel adds
    one row of angles (``blocked.extend_centred_angles``), the same numbers ``blocked_pairwise``
    gives the offline analysis.
    """

    thresholds: PhaseThresholds = PhaseThresholds()
    times: list[float] = field(default_factory=list)
    calls: list[OnlineCall] = field(default_factory=list)
    units: list[Tensor] = field(default_factory=list)  # (M,) each
    valid: list[bool] = field(default_factory=list)
    angle: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def add(self, kernel: Tensor, time: float, flow: Sequence[float] | None = None) -> OnlineCall:
        """Add the next checkpoint's kernel at ``time`` (after the others); the call on all so far.

        ``flow``: every checkpoint's gradient-flow time so far, where the learning rate is known.
        """
        self.angle = extend_centred_angles(self.angle, self.units, self.valid, kernel)  # (T, T)
        self.times.append(float(time))
        angle, count = self.angle, len(self.units)
        result = classify(angle, self.times, self.thresholds, flow=flow)
        b = result.boundary
        before = self.calls[-1].boundary if self.calls else None
        stable = b is not None and b == before
        enough = b is not None and count - 1 - b >= self.thresholds.min_phase2_checkpoints
        plateau = result.boundary_rule == BOUNDARY_RULES[0]  # the plateau rule, not the corner fallback
        called = any(c.phase2 for c in self.calls) or (result.verdict in TWO_PHASE and plateau and stable and enough)
        call = OnlineCall(count, result, None if b is None else self.times[b], called, float(angle[0, -1]))
        self.calls.append(call)
        return call

    @property
    def phase2_call(self) -> OnlineCall | None:
        """The first call that called Phase II, if any."""
        return next((c for c in self.calls if c.phase2), None)
