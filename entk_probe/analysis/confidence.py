"""How sure a verdict is: the verdicts of probe resamples and of every other checkpoint, and the
margins between the verdict's quantities and its thresholds.

Pure: the run's kernels, times, probe labels and the full probe's ``PhaseResult`` and centred
angles in; a ``Confidence`` out. ``phases.classify`` is a black box here: it runs on the
centred angles (T, T) of every probe resample (``resample``: a class-stratified bootstrap of the
probe's samples, the kernels' rows and columns, no new kernel) with the same times and
thresholds, and on the full probe's angles restricted to every other checkpoint (two subsets,
both keeping checkpoint 0: 0, 2, 4, … and 0, 1, 3, 5, …).

The verdict is ``uncertain`` (``verdicts.UNCERTAIN``) where fewer than ``CONFIDENT_SHARE`` of the
draws give the full probe's verdict; ``between`` then names it and the draws' most common other
verdict, and ``threshold`` the ``PhaseThresholds`` field that separates the two (``TESTS``), or
``BOUNDARY`` where the draws with the other verdict mostly place the boundary elsewhere.

``TESTS`` is the one table of the thresholds a verdict's decision goes through, in
``classify``'s order: the quantity (an evidence key, or a ratio of two), the threshold, and the
verdicts on each side of it. A new test is one line there; an evidence key a result lacks skips
that test's margin.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from torch import Tensor

from .phases import PhaseResult, PhaseThresholds, classify
from .resample import DRAWS, SEED, affordable_draws, probe_resamples, resampled_angles
from .threads import analysis_threads
from .verdicts import LAZY, NO_CONE, SINGLE_PHASE, TWO_PHASE_CONE, TWO_PHASE_FROZEN, UNCERTAIN

CONFIDENT_SHARE = 0.8  # below this share of draws with the full probe's verdict, the verdict is uncertain
BOUNDARY = "boundary"  # ``Confidence.threshold`` where the draws differ mostly in where the boundary is
EVERY_OTHER = ("0,2,4,…", "0,1,3,5,…")  # the two checkpoint subsets, by name


@dataclass(frozen=True)
class Test:
    """One threshold of ``classify``: ``numerator`` (/ ``denominator``) of the evidence against the
    ``PhaseThresholds`` field ``threshold``; ``below``: the verdicts decided with the quantity at most
    the threshold, ``above``: those decided with it above."""

    words: str
    numerator: str
    denominator: str | None
    threshold: str
    below: tuple[str, ...]
    above: tuple[str, ...]

    @property
    def quantity(self) -> str:
        return self.numerator if self.denominator is None else f"{self.numerator} / {self.denominator}"

    def value(self, evidence: dict[str, float]) -> float | None:
        """The quantity, None where the evidence lacks a key; NaN over a zero denominator."""
        top = evidence.get(self.numerator)
        bottom = 1.0 if self.denominator is None else evidence.get(self.denominator)
        if top is None or bottom is None:
            return None
        return float(top) / float(bottom) if bottom != 0 else math.nan

    def side(self, verdict: str) -> int:
        """-1: the verdict is on the side at or below the threshold; 1: above; 0: not decided by it."""
        return -1 if verdict in self.below else 1 if verdict in self.above else 0

    def applies(self, result: PhaseResult) -> bool:
        """Whether ``result``'s decision went through this test."""
        return self.side(result.verdict) != 0

    def holds(self, result: PhaseResult) -> bool:
        """Whether ``result``'s own quantity is on its own verdict's side of the threshold."""
        value, limit = self.value(result.evidence), getattr(result.thresholds, self.threshold, None)
        if not self.applies(result) or value is None or limit is None or math.isnan(value):
            return False
        return value <= limit if self.side(result.verdict) < 0 else value > limit


_CONE, _NO_CONE, _FROZEN = TWO_PHASE_CONE.id, NO_CONE.id, TWO_PHASE_FROZEN.id
_TWO_PHASE = (_FROZEN, _CONE, _NO_CONE)
TESTS: tuple[Test, ...] = (  # classify's order; words, numerator, denominator, threshold, below, above
    Test("the trajectory's diameter", "diameter_deg", None, "lazy_max_angle_deg", (LAZY.id,), (SINGLE_PHASE.id, *_TWO_PHASE)),
    Test("Phase II's rate over Phase I's", "velocity_ratio", None, "max_velocity_ratio", _TWO_PHASE, (SINGLE_PHASE.id,)),
    Test("Phase II's diameter", "phase2_diameter_deg", "phase1_travel_deg", "frozen_diameter_fraction", (_FROZEN,), (_CONE, _NO_CONE)),
    Test("the cone's half-angle", "phase2_half_angle_deg", "init_to_axis_deg", "cone_max_half_angle_fraction", (_CONE,), (_NO_CONE,)),
    Test("Phase II's drift ratio", "phase2_drift_ratio", None, "cone_max_drift_ratio", (_CONE,), (_NO_CONE,)),
)


@dataclass(frozen=True)
class Margin:
    """A quantity the verdict's decision compared with a threshold; ``relative_margin`` is
    value / threshold − 1, signed so that positive is on the side the verdict is on."""

    quantity: str
    value: float
    threshold: str
    threshold_value: float
    relative_margin: float


@dataclass(frozen=True)
class BoundarySpread:
    """Where the draws place the boundary: percentiles of its time (the run's unit; NaN where none is placed)."""

    p5: float
    p50: float
    p95: float
    placed_share: float  # share of draws that place a boundary
    same_share: float  # share of draws whose boundary is the full probe's checkpoint (none, where it has none)


@dataclass(frozen=True)
class Subset:
    """The verdict of the full probe's angles restricted to a subset of checkpoints (``EVERY_OTHER``:
    positions among the checkpoints analysed, so a checkpoint left out is not counted)."""

    checkpoints: str  # which: one of EVERY_OTHER
    count: int
    verdict: str
    boundary_time: float  # NaN without a boundary


@dataclass(frozen=True)
class Confidence:
    """How sure the full probe's verdict ``point_verdict`` is (module docstring)."""

    point_verdict: str
    draws: int  # resamples drawn
    draws_asked: int
    draws_reduced: str | None  # why fewer than asked were drawn; None when all were
    seed: int
    method: str
    verdict_share: float  # share of draws whose verdict is ``point_verdict``
    verdict_counts: dict[str, int]  # draws by verdict id, most common first
    boundary: BoundarySpread
    every_other: list[Subset]
    margins: list[Margin]
    uncertain: bool  # verdict_share < CONFIDENT_SHARE
    between: list[str] | None  # [point_verdict, the draws' most common other verdict] when uncertain
    threshold: str | None  # the PhaseThresholds field that separates them, or BOUNDARY; None when certain
    summary: str  # one line, plain words

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def margins(result: PhaseResult) -> list[Margin]:
    """The margins of every test of ``TESTS`` that ``result``'s decision went through, in order."""
    out = []
    for test in TESTS:
        value, limit = test.value(result.evidence), getattr(result.thresholds, test.threshold, None)
        if not test.applies(result) or value is None or limit is None:
            continue
        relative = value / limit - 1.0 if limit else math.nan
        out.append(Margin(test.quantity, value, test.threshold, float(limit),
                          -relative if test.side(result.verdict) < 0 else relative))
    return out


def every_other(angle: np.ndarray, times: Sequence[float], thresholds: PhaseThresholds,
                flow: Sequence[float] | None = None) -> list[Subset]:
    """``classify`` on the angles (T, T) and times (and ``flow``) of checkpoints 0, 2, 4, … and of 0, 1, 3, 5, …"""
    t = len(times)
    out = []
    for name, keep in zip(EVERY_OTHER, (list(range(0, t, 2)), [0, *range(1, t, 2)])):
        sub_times = [float(times[i]) for i in keep]
        sub_flow = None if flow is None else [float(flow[i]) for i in keep]
        result = classify(angle[np.ix_(keep, keep)], sub_times, thresholds, flow=sub_flow)
        at = math.nan if result.boundary is None else sub_times[result.boundary]
        out.append(Subset(name, len(keep), result.verdict, at))
    return out


def separating(a: str, b: str, draws: Sequence[PhaseResult], point: PhaseResult) -> str | None:
    """What separates verdict ``a`` (the full probe's) from ``b`` among the draws: ``BOUNDARY`` where
    most draws with verdict b and a boundary place it elsewhere; else the threshold of the test that
    puts a and b on different sides, the one whose quantity is on its own verdict's side in most
    draws of either where several do (cone and no-cone: the half-angle, or the drift)."""
    placed = [r for r in draws if r.verdict == b and r.boundary is not None]
    if point.boundary is not None and 2 * sum(r.boundary != point.boundary for r in placed) > len(placed):
        return BOUNDARY
    candidates = [test for test in TESTS if test.side(a) * test.side(b) < 0]
    if not candidates:
        return None
    either = [r for r in draws if r.verdict in (a, b)]
    scores = [sum(test.holds(r) for r in either) for test in candidates]
    return candidates[int(np.argmax(scores))].threshold  # ties: the first in classify's order


def _spread(draws: Sequence[PhaseResult], times: Sequence[float], point: PhaseResult) -> BoundarySpread:
    at = [float(times[r.boundary]) for r in draws if r.boundary is not None]
    p5, p50, p95 = np.percentile(at, [5, 50, 95]) if at else (math.nan,) * 3
    same = sum(r.boundary == point.boundary for r in draws)
    return BoundarySpread(float(p5), float(p50), float(p95), len(at) / len(draws), same / len(draws))


def _num(value: float) -> str:
    return "none" if math.isnan(value) else f"{value:.3g}"


def _summary(c: Confidence, point: PhaseResult, times: Sequence[float], unit: str) -> str:
    """The one-line summary (``Confidence.summary``)."""
    drawn = f"{c.draws} probe resamples" + (f" ({c.draws_asked} asked; fewer to bound the cost)" if c.draws_reduced else "")
    subsets = "every other checkpoint: " + ", ".join(s.verdict for s in c.every_other)
    b = c.boundary
    at = math.nan if point.boundary is None else float(times[point.boundary])
    spread = f"{_num(b.p5)}-{_num(b.p95)}"
    if point.boundary is None:
        where = f"no boundary ({b.placed_share:.2f} of them place one)"
    else:
        where = f"boundary {unit} {_num(at)} (resamples {spread}, the same checkpoint in {b.same_share:.2f})"
    if not c.uncertain or c.between is None:
        return f"{c.point_verdict} in {c.verdict_share:.2f} of {drawn}; {where}; {subsets}"
    other = c.between[1]
    line = (f"uncertain between {c.point_verdict} ({c.verdict_share:.2f}) and {other} "
            f"({c.verdict_counts.get(other, 0) / c.draws:.2f}) of {drawn}")
    test = next((t for t in TESTS if t.threshold == c.threshold), None)
    if test is not None:
        line += f": {test.words} sits at its threshold ({test.threshold} {getattr(point.thresholds, test.threshold):g})"
    elif c.threshold == BOUNDARY:
        line += (f": the resamples place the boundary elsewhere ({unit} {_num(at)} on the full probe, {spread} in the "
                 f"resamples, the same checkpoint in {b.same_share:.2f})")
    return f"{line}; {subsets}"


def judge(point: PhaseResult, draws: Sequence[PhaseResult], subsets: list[Subset], times: Sequence[float], *,
          asked: int, reduced: str | None, seed: int, method: str, unit: str = "time") -> Confidence:
    """The ``Confidence`` of ``point`` from the draws' results (at least one) and the subsets' verdicts."""
    counts = dict(Counter(r.verdict for r in draws).most_common())
    share = counts.get(point.verdict, 0) / len(draws)
    uncertain = share < CONFIDENT_SHARE
    others = [v for v in counts if v != point.verdict]
    between = [point.verdict, others[0]] if uncertain and others else None
    threshold = separating(between[0], between[1], draws, point) if between else None
    partial = Confidence(point.verdict, len(draws), asked, reduced, seed, method, share, counts,
                         _spread(draws, times, point), subsets, margins(point), uncertain, between, threshold, "")
    return replace(partial, summary=_summary(partial, point, times, unit))


def confidence(kernels: Sequence[Tensor], times: Sequence[float], point: PhaseResult, angle: np.ndarray, *,
               labels: Tensor | None = None, draws: int = DRAWS, seed: int = SEED, block: int | None = None,
               unit: str = "time", flow: Sequence[float] | None = None) -> Confidence:
    """How sure ``point`` (``classify`` of the full probe's centred angles ``angle`` (T, T)) is.

    ``kernels`` (N, N) or (N, N, C, C) as ``summary.summarize`` takes them, ``block`` of them loaded
    at a time (``blocked.block_size``; None: all); ``labels`` (N,) stratify the resamples; ``draws``
    (at least 1) may be reduced to fit ``resample.WORK_BUDGET``; ``unit`` names the times in the summary;
    ``flow`` is ``classify``'s gradient-flow time, as the full probe's verdict used it.
    """
    first = kernels[0]
    n, m = int(first.shape[0]), int(first.numel())
    del first  # loaded for its shape; a store's kernel is not kept
    used, reduced = affordable_draws(draws, len(kernels), m)
    resamples = probe_resamples(n, used, labels, seed)  # (draws, N)
    with analysis_threads(n):  # one thread: on two busy cores its products ran 10x faster than on two (README)
        angles = resampled_angles(kernels, resamples, block)  # (draws, T, T)
    results = [classify(a, times, point.thresholds, flow=flow) for a in angles]
    strata = f"class-stratified ({len(np.unique(labels.numpy()))} classes)" if labels is not None else "plain (no labels)"
    method = (f"{strata} bootstrap of the probe's {n} samples, seed {seed}; a resample's kernels are the full "
              "probe's rows and columns at its samples; classify on their centred angles, same times and thresholds")
    return judge(point, results, every_other(angle, times, point.thresholds, flow), times, asked=draws, reduced=reduced,
                 seed=seed, method=method, unit=unit)


def reported(point: PhaseResult, conf: Confidence | None) -> PhaseResult:
    """The run's verdict: ``uncertain`` where ``conf`` says so, with the full probe's boundary and evidence."""
    if conf is None or not conf.uncertain:
        return point
    return replace(point, verdict=UNCERTAIN.id, explanation=f"On the full probe, {point.verdict}: {point.explanation}")
