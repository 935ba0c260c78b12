"""Classical MDS of pairwise angles: exact for planar distances, a kept share below 1 otherwise."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist, squareform

from entk_probe.analysis.dynamics import pairwise
from entk_probe.analysis.trajectorymap import classical_mds, region_outline
from entk_probe.analysis.trajectories import make_trajectory


def test_distances_of_points_in_a_plane_are_recovered_exactly() -> None:
    points = np.random.default_rng(0).normal(size=(7, 2)) * 10
    d = squareform(pdist(points))
    coords, kept = classical_mds(d)
    np.testing.assert_allclose(squareform(pdist(coords)), d, atol=1e-9)
    assert kept == 1.0 or abs(kept - 1.0) < 1e-12


def test_kernel_angles_keep_a_share_below_one_and_left_out_rows_are_nan() -> None:
    tr = make_trajectory("cone", noise_deg=0.5)
    _, angle = pairwise(tr.kernels)
    coords, kept = classical_mds(angle)
    assert 0.3 < kept <= 1.0 and np.isfinite(coords).all()
    angle[2, :] = angle[:, 2] = np.nan
    coords2, _ = classical_mds(angle)
    assert np.isnan(coords2[2]).all() and np.isfinite(np.delete(coords2, 2, axis=0)).all()
    assert classical_mds(np.zeros((1, 1)))[1] == 1.0


def test_a_region_is_outlined_by_its_closed_convex_hull() -> None:
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [np.nan, np.nan]])
    hull = region_outline(square)
    assert len(hull) == 5 and (hull[0] == hull[-1]).all() and {tuple(p) for p in hull} == {(0, 0), (1, 0), (1, 1), (0, 1)}
    line = np.array([[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(region_outline(line), line)  # collinear: the points themselves
    assert region_outline(np.full((2, 2), np.nan)).shape == (0, 2) and region_outline(np.empty((0, 2))).shape == (0, 2)
