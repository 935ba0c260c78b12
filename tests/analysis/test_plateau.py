"""The plateau boundary: by hand on small curves, robust to dips and transients, blind to time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from entk_probe.analysis.plateau import plateau_boundary


def _line(d: list[float]) -> np.ndarray:
    """Pairwise angles of points on one great circle at angles d from the first (d[0] = 0)."""
    v = np.asarray(d, dtype=float)
    return np.abs(np.subtract.outer(v, v))


def test_the_first_checkpoint_on_the_plateau_by_hand() -> None:
    d = [0, 10, 20, 30, 40, 50, 50, 51, 49, 50, 52, 50]
    found = plateau_boundary(_line(d))
    # b=4: median after = 50, 0.9 x 50 = 45 > 40; b=5: median after 50, d5=50, d6=50, none below: 5.
    assert found.index == 5 and found.level_deg == 50.0 and found.reached_deg == 50.0 and found.below_share == 0.0


def test_later_dips_within_the_tolerance_are_allowed_and_beyond_it_move_the_boundary() -> None:
    d = [0, 20, 40, 60, 60] + [60.0] * 14
    d_one_dip = list(d)
    d_one_dip[8] = 30.0  # one of the 14 checkpoints after b + 1 = 4 dips: 7% <= 10%
    found = plateau_boundary(_line(d_one_dip))
    assert found.index == 3 and found.below_share == pytest.approx(1 / 14)
    d_many = list(d)
    for i in (6, 10, 14):
        d_many[i] = 30.0  # 3 of 14 (21%) dip after b + 1 = 4, 3 of 13 after 5; 5 and 6 sit before or on a dip
    # the default 10% (and always one dip): 2 of 10 still dip after 8, 2 of 9 after 9; 1 of 6 after 12
    assert plateau_boundary(_line(d_many)).index == 11
    found = plateau_boundary(_line(d_many), tolerance=0.2)
    assert found.index == 7 and found.below_share == pytest.approx(2 / 10)  # 10 and 14 of the 10 after 8


def test_one_dip_is_always_tolerated() -> None:
    d = [0, 20, 40, 60, 60, 60, 60, 30, 60, 60, 60]  # 1 of the 6 after b + 1 = 4 dips: 17% > 10%, but one
    assert plateau_boundary(_line(d)).index == 3


def test_a_single_far_out_checkpoint_before_the_plateau_does_not_end_phase_one() -> None:
    d = [0, 10, 58, 20, 30, 40, 50, 60, 60, 61, 59, 60, 60, 60]  # checkpoint 2 swings out to 58°
    assert plateau_boundary(_line(d)).index == 7


def test_a_kernel_that_has_hardly_started_is_not_on_a_plateau() -> None:
    # a slow start (a warm-up): flat at 1° for a while, then the rise; locally flat is not enough
    d = [0, 1, 1, 1, 1, 1, 1, 1, 20, 40, 60, 60, 60, 60, 60, 60]
    assert plateau_boundary(_line(d)).index == 10
    assert plateau_boundary(_line(d), window=None).index == 10


def test_times_play_no_part_and_no_plateau_gives_none() -> None:
    d = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]  # a steady rise: never within 0.9 of what follows
    found = plateau_boundary(_line(d), min_after=4)
    assert found.index is None and math.isnan(found.level_deg)
    assert plateau_boundary(_line([0, 30, 60, 60, 60, 60, 60, 60]), min_before=3).index == 3
