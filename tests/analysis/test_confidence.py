"""How sure a verdict is, on planted trajectories of per-sample features, and its parts against direct computations."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from entk_probe.analysis import confidence as conf_module
from entk_probe.analysis.blocked import blocked_pairwise
from entk_probe.analysis.confidence import (
    BOUNDARY,
    CONFIDENT_SHARE,
    TESTS,
    confidence,
    every_other,
    judge,
    margins,
    reported,
    separating,
)
from entk_probe.analysis.phases import PhaseResult, PhaseThresholds, classify
from entk_probe.analysis.summary import summarize
from entk_probe.analysis.threads import analysis_threads
from entk_probe.analysis.verdicts import UNCERTAIN

N, CLASSES = 48, 4
LABELS = torch.arange(N) % CLASSES


def _trajectory(kind: str, size: float, seed: int = 0) -> tuple[list[torch.Tensor], list[float]]:
    """Kernels K_t = X_t X_tᵀ of features X_t (N, 16) that turn from A towards B over Phase I (six dense
    steps, to epoch 1), then, one an epoch for 14 epochs: ``cone``: X_b plus fresh noise of scale ``size``
    (the kernel wanders around where Phase I ended); ``drift``: X_b turning towards C by ``size`` radians
    an epoch. A sample's row of X is its own, so a resample's kernels are those of its samples' features."""
    gen = torch.Generator().manual_seed(seed)
    a, b, c = (torch.randn(N, 16, generator=gen, dtype=torch.float64) for _ in range(3))
    times = [0.0] + [2.0 ** (k - 6) for k in range(6)] + [1.0 + j for j in range(1, 15)]
    xs = [math.cos(0.4 * math.pi * k / 6) * a + math.sin(0.4 * math.pi * k / 6) * b for k in range(7)]
    end = xs[-1]
    for j in range(14):
        if kind == "cone":
            xs.append(end + size * torch.randn(N, 16, generator=gen, dtype=torch.float64))
        else:
            xs.append(math.cos(size * (j + 1)) * end + math.sin(size * (j + 1)) * c)
    return [x @ x.T for x in xs], times


def _point(kernels: list[torch.Tensor], times: list[float]) -> tuple[PhaseResult, np.ndarray]:
    angle = blocked_pairwise(kernels, len(kernels))[3]
    return classify(angle, times), angle


def _cone_ratio(size: float) -> float:
    ev = _point(*_trajectory("cone", size))[0].evidence
    return ev["phase2_half_angle_deg"] / ev["init_to_axis_deg"]


@functools.cache
def _at_threshold() -> tuple[list[torch.Tensor], list[float]]:
    """A cone whose half-angle ratio on the full probe is within 0.002 below 0.5, by bisection on the noise."""
    low, high = 0.2, 0.8
    with analysis_threads(N):
        assert _cone_ratio(low) < 0.5 < _cone_ratio(high)
        for _ in range(40):
            mid = (low + high) / 2
            ratio = _cone_ratio(mid)
            if 0.498 <= ratio <= 0.5:
                return _trajectory("cone", mid)
            low, high = (mid, high) if ratio < 0.5 else (low, mid)
    raise AssertionError("the half-angle ratio does not cross 0.5 continuously")


def test_a_clear_cone_is_sure() -> None:
    kernels, times = _trajectory("cone", 0.1)
    point, angle = _point(kernels, times)
    c = confidence(kernels, times, point, angle, labels=LABELS, draws=200, unit="epoch")
    assert point.verdict == "two-phase-cone" and c.point_verdict == point.verdict
    assert c.verdict_share >= 0.95 and not c.uncertain and c.between is None and c.threshold is None
    assert c.draws == c.draws_asked == 200 and c.draws_reduced is None and sum(c.verdict_counts.values()) == 200
    assert abs(point.boundary - 6) <= 1  # Phase I's planted end
    assert c.boundary.same_share >= 0.5 and c.boundary.p5 <= times[point.boundary] <= c.boundary.p95
    assert c.summary.startswith(f"two-phase-cone in {c.verdict_share:.2f} of 200 probe resamples; "
                                f"boundary epoch {times[point.boundary]:.3g} (resamples ")  # type: ignore[index]
    assert c.summary.endswith("every other checkpoint: two-phase-cone, two-phase-cone")
    assert "class-stratified (4 classes)" in c.method
    assert reported(point, c) is point


def test_a_cone_at_its_half_angle_threshold_is_uncertain() -> None:
    kernels, times = _at_threshold()
    point, angle = _point(kernels, times)
    c = confidence(kernels, times, point, angle, labels=LABELS, draws=200)
    assert c.uncertain and c.verdict_share < CONFIDENT_SHARE
    assert set(c.between or []) == {"two-phase-cone", "no-cone"} and c.between[0] == point.verdict  # type: ignore[index]
    assert c.threshold == "cone_max_half_angle_fraction"
    assert c.summary.startswith(f"uncertain between {point.verdict} ({c.verdict_share:.2f}) and ")
    assert "the cone's half-angle sits at its threshold (cone_max_half_angle_fraction 0.5)" in c.summary
    shown = reported(point, c)
    assert shown.verdict == UNCERTAIN.id and shown.boundary == point.boundary and shown.evidence == point.evidence
    assert shown.explanation.startswith(f"On the full probe, {point.verdict}: ")


def test_a_clear_drift_stays_no_cone() -> None:
    kernels, times = _trajectory("drift", 0.05)
    point, angle = _point(kernels, times)
    c = confidence(kernels, times, point, angle, labels=LABELS, draws=100)
    assert point.verdict == "no-cone" and point.evidence["phase2_drift_ratio"] > 2
    assert c.verdict_share >= 0.95 and not c.uncertain and c.draws == 100


def test_the_same_seed_gives_the_same_confidence_and_labels_stratify() -> None:
    kernels, times = _trajectory("cone", 0.3)
    point, angle = _point(kernels, times)
    first = confidence(kernels, times, point, angle, labels=LABELS, draws=30, seed=4)
    assert first == confidence(kernels, times, point, angle, labels=LABELS, draws=30, seed=4) and first.seed == 4
    plain = confidence(kernels, times, point, angle, draws=30, seed=4)
    assert "plain (no labels)" in plain.method and "class-stratified" in first.method


def test_every_other_checkpoint_keeps_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    kernels, times = _trajectory("cone", 0.1)
    point, angle = _point(kernels, times)
    seen: list[tuple[np.ndarray, list[float]]] = []

    def recording(a: np.ndarray, t: list[float], th: PhaseThresholds = PhaseThresholds(),
                  flow: list[float] | None = None) -> PhaseResult:
        seen.append((a, list(t)))
        return classify(a, t, th, flow=flow)

    monkeypatch.setattr(conf_module, "classify", recording)
    subsets = every_other(angle, times, PhaseThresholds())
    assert [s.checkpoints for s in subsets] == ["0,2,4,…", "0,1,3,5,…"]
    for keep, (a, t), subset in zip(([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20], [0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]),
                                    seen, subsets):
        assert t == [times[i] for i in keep] and np.array_equal(a, angle[np.ix_(keep, keep)])
        expected = classify(angle[np.ix_(keep, keep)], t)
        assert subset.count == len(keep) and subset.verdict == expected.verdict
        assert subset.boundary_time == t[expected.boundary]  # type: ignore[index]


def test_margins_are_the_evidence_ratios_signed_to_the_verdicts_side() -> None:
    kernels, times = _trajectory("cone", 0.3)
    point, _ = _point(kernels, times)
    ev, th = point.evidence, point.thresholds
    assert point.verdict == "two-phase-cone"
    found = {m.threshold: m for m in margins(point)}
    expected = {
        "lazy_max_angle_deg": (ev["diameter_deg"], ev["diameter_deg"] / th.lazy_max_angle_deg - 1),
        "frozen_diameter_fraction": (ev["phase2_diameter_deg"] / ev["phase1_travel_deg"],
                                     ev["phase2_diameter_deg"] / ev["phase1_travel_deg"] / th.frozen_diameter_fraction - 1),
        "cone_max_half_angle_fraction": (ev["phase2_half_angle_deg"] / ev["init_to_axis_deg"],
                                         1 - ev["phase2_half_angle_deg"] / ev["init_to_axis_deg"] / th.cone_max_half_angle_fraction),
        "cone_max_drift_ratio": (ev["phase2_drift_ratio"], 1 - ev["phase2_drift_ratio"] / th.cone_max_drift_ratio),
        "max_velocity_ratio": (ev["velocity_ratio"], 1 - ev["velocity_ratio"] / th.max_velocity_ratio),
    }
    assert set(found) == set(expected)
    for name, (value, relative) in expected.items():
        assert math.isclose(found[name].value, value, rel_tol=1e-12)
        assert math.isclose(found[name].relative_margin, relative, rel_tol=1e-12, abs_tol=1e-15)
        assert found[name].threshold_value == getattr(th, name) and found[name].relative_margin > 0  # a clear cone
    fewer = replace(point, evidence={k: v for k, v in ev.items() if k != "phase2_drift_ratio"})
    assert "cone_max_drift_ratio" not in {m.threshold for m in margins(fewer)}  # an absent key: no margin


def _result(verdict: str, boundary: int | None = 5, rule: str = "plateau", **evidence: float) -> PhaseResult:
    return PhaseResult(verdict, boundary, PhaseThresholds(), {"diameter_deg": 60.0, **evidence}, "", rule)


def test_the_threshold_that_separates_two_verdicts() -> None:
    cone = _result("two-phase-cone", phase2_half_angle_deg=10.0, init_to_axis_deg=40.0, phase2_drift_ratio=1.0)
    wide = _result("no-cone", phase2_half_angle_deg=30.0, init_to_axis_deg=40.0, phase2_drift_ratio=1.0)
    drifting = _result("no-cone", phase2_half_angle_deg=10.0, init_to_axis_deg=40.0, phase2_drift_ratio=2.5)
    assert separating("two-phase-cone", "no-cone", [cone, wide, wide, drifting], cone) == "cone_max_half_angle_fraction"
    assert separating("two-phase-cone", "no-cone", [cone, wide, drifting, drifting], cone) == "cone_max_drift_ratio"
    assert separating("lazy", "no-cone", [wide], _result("lazy", None, "")) == "lazy_max_angle_deg"
    assert separating("two-phase-frozen", "no-cone", [wide], _result("two-phase-frozen")) == "frozen_diameter_fraction"
    assert separating("single-phase", "two-phase-cone", [cone], _result("single-phase", None, "")) == "max_velocity_ratio"
    elsewhere = replace(wide, boundary=9)
    assert separating("two-phase-cone", "no-cone", [cone, elsewhere, elsewhere, wide], cone) == BOUNDARY
    assert {t.threshold for t in TESTS} <= {f for f in PhaseThresholds().as_dict()}  # every test names a threshold


def test_summarize_reports_uncertain_and_keeps_the_full_probes_boundary_and_phases() -> None:
    kernels, times = _at_threshold()
    plain = summarize(kernels, times, num_classes=CLASSES, labels=LABELS)
    sure = summarize(kernels, times, num_classes=CLASSES, labels=LABELS, resamples=100, time_unit="epoch")
    assert plain.confidence is None and plain.phases.verdict in ("two-phase-cone", "no-cone")
    assert sure.phases.verdict == "uncertain" and sure.confidence is not None
    assert sure.confidence.point_verdict == plain.phases.verdict and "resamples" in sure.confidence.summary
    assert sure.phases.boundary == plain.phases.boundary and sure.phases.evidence == plain.phases.evidence
    assert [r.phase for r in sure.checkpoints] == [r.phase for r in plain.checkpoints]
    assert sure.cone is not None and plain.cone is not None and sure.cone.width_deg == plain.cone.width_deg


def test_draws_that_move_the_boundary_are_said_to() -> None:
    point = _result("two-phase-cone", phase2_half_angle_deg=10.0, init_to_axis_deg=40.0, phase2_drift_ratio=1.0)
    moved = replace(point, verdict="no-cone", boundary=9)
    draws = [point] * 3 + [moved] * 4
    c = judge(point, draws, [], [float(t) for t in range(12)], asked=7, reduced=None, seed=0, method="", unit="step")
    assert c.uncertain and c.between == ["two-phase-cone", "no-cone"] and c.threshold == BOUNDARY
    assert c.verdict_share == 3 / 7 and c.verdict_counts == {"no-cone": 4, "two-phase-cone": 3}
    assert c.boundary.same_share == 3 / 7 and c.boundary.placed_share == 1.0 and c.boundary.p50 == 9.0
    assert c.summary == ("uncertain between two-phase-cone (0.43) and no-cone (0.57) of 7 probe resamples: the "
                         "resamples place the boundary elsewhere (step 5 on the full probe, 5-9 in the resamples, "
                         "the same checkpoint in 0.43); every other checkpoint: ")
