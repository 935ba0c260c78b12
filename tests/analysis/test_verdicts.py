"""The verdict registry: ids unique, every one described, and what classify returns is in it."""

from __future__ import annotations

import numpy as np

from entk_probe.analysis.phases import classify
from entk_probe.analysis.trajectories import KINDS, make_trajectory
from entk_probe.analysis.dynamics import pairwise, center
from entk_probe.analysis.verdicts import UNCERTAIN, VERDICTS, verdict


def test_ids_are_unique_and_every_verdict_is_described() -> None:
    ids = [v.id for v in VERDICTS]
    assert len(ids) == len(set(ids)) == 7
    assert all(v.description.endswith(".") and len(v.description) > 20 for v in VERDICTS)


def test_classify_returns_registered_verdicts() -> None:
    seen = set()
    for kind in KINDS:
        t = make_trajectory(kind)
        seen.add(classify(pairwise([center(k) for k in t.kernels])[1], t.times).verdict)
    seen.add(classify(np.zeros((2, 2)), [0.0, 1.0]).verdict)  # too few checkpoints
    assert seen == {v.id for v in VERDICTS} - {UNCERTAIN.id}  # uncertain comes from the probe resamples (confidence.py)


def test_an_unknown_id_still_renders() -> None:
    assert "another version" in verdict("spiral").description and verdict("lazy").id == "lazy"
