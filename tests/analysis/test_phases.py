"""The phase rule on trajectories with a known answer: every verdict, with noise and LR decay."""

from __future__ import annotations

import math

import numpy as np
import pytest

from entk_probe.analysis.dynamics import pairwise
from entk_probe.analysis.phases import PhaseThresholds, classify, cone_width, drift_ratio, find_boundary
from entk_probe.analysis.trajectories import make_trajectory

EXPECTED = {"cone": "two-phase-cone", "frozen": "two-phase-frozen", "drift": "no-cone", "single": "single-phase", "lazy": "lazy"}
CONDITIONS = [(0.0, 1.0), (0.3, 1.0), (0.3, 0.85), (1.0, 0.85)]  # (noise in degrees, LR decay a Phase II step)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("noise,decay", CONDITIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_verdict_and_planted_boundary_are_recovered(kind: str, noise: float, decay: float, seed: int) -> None:
    tr = make_trajectory(kind, noise_deg=noise, decay=decay, seed=seed)
    _, angle = pairwise(tr.kernels)
    result = classify(angle, tr.times)
    assert result.verdict == EXPECTED[kind], result.explanation
    if tr.boundary is None:
        assert result.boundary is None
    else:
        assert abs(result.boundary - tr.boundary) <= 1, (result.boundary, tr.boundary)


def test_too_few_checkpoints_is_insufficient() -> None:
    tr = make_trajectory("cone", phase1_steps=2, phase2_steps=3)
    _, angle = pairwise(tr.kernels)
    result = classify(angle, tr.times)
    assert result.verdict == "insufficient" and "at least 7" in result.explanation


def test_thresholds_change_the_verdict_as_documented() -> None:
    tr = make_trajectory("drift", noise_deg=0.3)
    _, angle = pairwise(tr.kernels)
    strict = classify(angle, tr.times)
    assert strict.verdict == "no-cone" and strict.evidence["phase2_drift_ratio"] > 1.5
    loose = classify(angle, tr.times, PhaseThresholds(cone_max_drift_ratio=10.0, cone_max_half_angle_fraction=1.0))
    assert loose.verdict == "two-phase-cone"
    lazy = classify(angle, tr.times, PhaseThresholds(lazy_max_angle_deg=90.0))
    assert lazy.verdict == "lazy"


def test_boundary_is_the_corner_of_the_displacement() -> None:
    t = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=float)
    d = np.minimum(t, 4.0) * 10 + np.maximum(t - 4.0, 0.0) * 1  # corner at t = 4
    b, s1, s2 = find_boundary(d, t, 2, 4)
    assert b == 4 and math.isclose(s1, 10.0) and math.isclose(s2, 1.0)


def test_drift_ratio_of_a_steady_drift_is_three() -> None:
    n = 41
    angle = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)  # points on a line
    assert math.isclose(drift_ratio(angle, 0, n - 1), 3.0, rel_tol=0.05)


def test_cone_width_around_the_phase2_mean() -> None:
    tr = make_trajectory("cone", n=16, cone_deg=3.0, seed=3)
    width = cone_width(tr.kernels, 6, k=3)
    assert width.statistic == "mean" and len(width.per_checkpoint_deg) == len(tr.kernels)
    assert width.width_deg == max(width.all_statistics["mean"][7:])
    assert width.frobenius_half_angle_deg <= 3.0 + 1e-9  # every cap point is within 3 degrees of the centre...
    assert width.per_checkpoint_deg[0] > width.width_deg  # ...and the initial kernel is outside the cone
    for name in ("largest", "rms", "smallest"):
        assert len(width.all_statistics[name]) == len(tr.kernels)


# ------------------------------------------------------------------ properties (hypothesis)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from entk_probe.analysis.verdicts import VERDICTS  # noqa: E402


@st.composite
def trajectories(draw: st.DrawFn) -> tuple[np.ndarray, list[float]]:
    """Any symmetric angle matrix with a zero diagonal and entries in [0°, 180°] (not necessarily a
    metric), with non-decreasing times (repeats included)."""
    t = draw(st.integers(1, 14))
    angles = st.floats(0.0, 180.0) | st.sampled_from([0.0, 1e-12, 0.5, 90.0, 180.0])
    upper = np.array([[draw(angles) if j > i else 0.0 for j in range(t)] for i in range(t)])
    steps = draw(st.lists(st.sampled_from([0.0, 1e-9, 0.1, 1.0, 7.0]) | st.floats(0.0, 100.0), min_size=t, max_size=t))
    return upper + upper.T, list(np.cumsum(steps))


@given(trajectories())
@settings(max_examples=300, deadline=None)
def test_a_verdict_is_defined_for_any_finite_angle_matrix(trajectory: tuple[np.ndarray, list[float]]) -> None:
    angle, times = trajectory
    result = classify(angle, times)
    assert result.verdict in {v.id for v in VERDICTS}
    assert result.boundary is None or 0 <= result.boundary < len(times) - 1
    assert result.explanation and "nan" not in result.explanation.lower()
    assert all(isinstance(v, float) for v in result.evidence.values())


def test_the_cone_reports_how_far_the_first_kernel_is_from_its_axis() -> None:
    import torch

    from entk_probe.analysis.dynamics import center, kernel_angle_deg

    tr = make_trajectory("cone", noise_deg=0.3)
    _, angle = pairwise([center(k) for k in tr.kernels])
    result = classify(angle, tr.times)
    centred = [center(k) for k in tr.kernels]
    cone = cone_width(centred, result.boundary, 3)
    phase2 = [c / torch.linalg.vector_norm(c) for c in centred[result.boundary + 1:]]
    axis = torch.stack(phase2).mean(0)
    assert cone.init_to_axis_deg == pytest.approx(kernel_angle_deg(centred[0], axis), rel=1e-12)
    assert cone.init_to_axis_deg > cone.frobenius_half_angle_deg  # a cone: the start lies outside it


@pytest.mark.parametrize("transient,at", [(20.0, 1), (40.0, 3), (40.0, 4)])
@pytest.mark.parametrize("kind", ["cone", "frozen", "drift"])
def test_a_planted_transient_in_phase_one_does_not_move_the_boundary(kind: str, transient: float, at: int) -> None:
    tr = make_trajectory(kind, noise_deg=0.3, transient_deg=transient, transient_at=at, seed=0)
    _, angle = pairwise(tr.kernels)
    result = classify(angle, tr.times)
    assert result.verdict == EXPECTED[kind], result.explanation
    assert abs(result.boundary - tr.boundary) <= 1 and result.boundary_rule == "plateau"


def test_where_the_angle_never_settles_the_corner_places_the_boundary() -> None:
    # d rises 10° a step to 40° at t=4, then keeps rising 2.2° a step: every checkpoint is below 0.9
    # of the median of the five after it (d_b < 0.9 (d_b + 6.6) until 59°, never reached), so there
    # is no plateau; the hinge's corner (t=4) places the boundary, and 2.2/10 < 0.25 keeps two phases.
    t = np.arange(12, dtype=float)
    d = np.where(t <= 4, 10 * t, 40 + 2.2 * (t - 4))
    angle = np.abs(np.subtract.outer(d, d))  # points on one great circle
    result = classify(angle, list(t))
    assert result.boundary_rule == "corner" and result.boundary == 4, (result.boundary, result.evidence)
    assert math.isnan(result.evidence["plateau_boundary_time"]) and result.evidence["corner_boundary_time"] == 4.0


@pytest.mark.parametrize("schedule", ["cosine", "warmup-cosine", "onecycle", "step"])
@pytest.mark.parametrize("spacing", ["dense", "even"])
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_schedule_and_spacing_gets_the_planted_verdict(kind: str, spacing: str, schedule: str) -> None:
    tr = make_trajectory(kind, noise_deg=1.0, schedule=schedule, spacing=spacing, seed=1)
    _, angle = pairwise(tr.kernels)
    result = classify(angle, tr.times, flow=tr.flow)
    assert result.verdict == EXPECTED[kind], result.explanation
    if tr.boundary is not None:
        assert abs(result.boundary - tr.boundary) <= 1 and result.boundary_rule == "plateau"


def test_a_single_phase_slowed_by_annealing_needs_the_learning_rate() -> None:
    # The kernel moves away from its initialisation at a rate proportional to the learning rate all
    # run long; on the time axis the annealing looks like a plateau, on the gradient-flow axis not.
    tr = make_trajectory("single", noise_deg=0.3, schedule="cosine", spacing="even", seed=0)
    _, angle = pairwise(tr.kernels)
    assert classify(angle, tr.times, flow=tr.flow).verdict == "single-phase"
    assert classify(angle, tr.times).verdict != "single-phase"
