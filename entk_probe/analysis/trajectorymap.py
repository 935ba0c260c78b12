"""A picture of the kernel's trajectory: classical multidimensional scaling of the pairwise angles.

The centred pairwise angles (T, T, degrees) are placed in two dimensions by classical (Torgerson)
MDS: B = −½ J A² J with J = I − 11ᵀ/T, coordinates from B's two largest eigenpairs. The share of
the angle structure the picture keeps is the sum of those two eigenvalues over the sum of all
positive ones (1 when the angles are distances of points in a plane). Angles between kernels are
a metric on the sphere, not in a plane, so the picture is an approximation that says how good it is.
"""

from __future__ import annotations

import numpy as np


def classical_mds(angle: np.ndarray) -> tuple[np.ndarray, float]:
    """(coordinates (T, 2) in degrees, share of the structure kept) of a symmetric (T, T) matrix.

    Checkpoints left out (NaN on the diagonal) get NaN coordinates and do not enter the map.
    """
    a = np.asarray(angle, dtype=float)
    t = a.shape[0]
    coords = np.full((t, 2), np.nan)
    keep = np.flatnonzero(~np.isnan(np.diag(a)))  # a left-out checkpoint's row, column and diagonal are NaN
    while len(keep) and np.isnan(a[np.ix_(keep, keep)]).any():  # any other NaN: drop the row with most
        keep = np.delete(keep, int(np.isnan(a[np.ix_(keep, keep)]).sum(axis=1).argmax()))
    if len(keep) < 2:
        if len(keep) == 1:
            coords[keep] = 0.0
        return coords, float("nan") if len(keep) == 0 else 1.0
    d2 = a[np.ix_(keep, keep)] ** 2  # (K, K)
    k = len(keep)
    j = np.eye(k) - np.full((k, k), 1.0 / k)
    b = -0.5 * j @ d2 @ j
    values, vectors = np.linalg.eigh((b + b.T) / 2)  # ascending
    values, vectors = values[::-1], vectors[:, ::-1]
    top = np.clip(values[:2], 0.0, None)
    coords[keep, : len(top)] = vectors[:, : len(top)] * np.sqrt(top)
    if len(top) < 2:
        coords[keep, 1] = 0.0
    positive = values[values > 0].sum()
    return coords, float(top.sum() / positive) if positive > 0 else 1.0


def region_outline(points: np.ndarray) -> np.ndarray:
    """The closed outline (M, 2) of a region of map points: their convex hull, or the points themselves
    where they are fewer than 3 or collinear; points with NaN coordinates are left out, (0, 2) when none is left."""
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, dtype=float).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return points
    try:
        hull = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):
        return points
    return np.vstack([hull, hull[:1]])
