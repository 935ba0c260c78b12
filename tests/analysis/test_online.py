"""The online phase call: replayed checkpoint by checkpoint, its last call is the offline analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from entk_probe.analysis.online import OnlineCaller
from entk_probe.analysis.phases import PhaseThresholds
from entk_probe.pipeline import AnalyzeOptions, analyze

from ..helpers import REPO

SAMPLE = REPO / "sample_checkpoints" / "fashion_mnist_mlp"


@pytest.mark.slow
def test_replaying_a_recorded_run_ends_at_the_offline_call_and_calls_phase2_no_earlier(tmp_path: Path) -> None:
    offline = analyze(SAMPLE, None, AnalyzeOptions(device="cpu", plugins=[REPO / "plugins" / "mlp.py"],
                                                   cache_dir=tmp_path / "cache", resamples=0))
    times = [offline.runs[i].time for i in offline.included]
    caller = OnlineCaller()
    for i, t in enumerate(times):
        call = caller.add(offline.kernels[i], t)
        assert call.checkpoints == i + 1
    final = caller.calls[-1]
    assert (final.verdict, final.boundary) == (offline.summary.phases.verdict, offline.summary.phases.boundary)
    first = caller.phase2_call
    assert first is not None and offline.summary.phases.boundary is not None
    assert first.boundary_time >= times[offline.summary.phases.boundary]  # never earlier than the offline boundary
    assert all(c.phase2 for c in caller.calls[caller.calls.index(first):])  # once called, it stays called


def _kernels(angles_deg: list[float]) -> list[torch.Tensor]:
    """Kernels at given centred angles from the first, in a plane: K = a·A + b·B with A ⟂ B, both centred."""
    n = 6
    h = torch.eye(n) - 1 / n
    a = h @ torch.diag(torch.arange(1.0, n + 1)) @ h
    b = h @ torch.diag(torch.tensor([1.0, -1, 1, -1, 1, -1])) @ h
    b = b - (b * a).sum() / (a * a).sum() * a  # Gram-Schmidt in the Frobenius inner product
    a, b = a / a.norm(), b / b.norm()
    return [(np.cos(np.radians(d)) * a + np.sin(np.radians(d)) * b).double() for d in angles_deg]


def test_phase2_is_called_only_once_a_two_phase_boundary_is_stable_and_followed() -> None:
    # A fast rise to 40 degrees, then a plateau: the offline rule puts the boundary at the plateau's start.
    angles = [0, 15, 30, 38, 40, 40.5, 41, 41.2, 41.5, 41.6, 41.8, 42, 42.1]
    caller = OnlineCaller(PhaseThresholds())
    calls = [caller.add(k, float(i)) for i, k in enumerate(_kernels(angles))]
    called = [c for c in calls if c.phase2]
    assert called, [(c.verdict, c.boundary) for c in calls]
    first = called[0]
    before = calls[calls.index(first) - 1]
    assert before.boundary == first.boundary  # stable over two calls
    assert first.checkpoints - 1 - first.boundary >= PhaseThresholds().min_phase2_checkpoints
    assert not any(c.phase2 for c in calls[: calls.index(first)])
