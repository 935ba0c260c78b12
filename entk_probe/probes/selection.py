"""Class-balanced, reproducible selection of probe samples.

N = q·K + r samples over K classes gives q to each class and one more to the first r classes (by
class index). Within a class, the samples taken are those with the smallest
sha256(f"{seed}:{dataset}:{split}:{position}"), so a probe is the same on every machine and every
library version; the probe is ordered by class, then by position in the split.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..errors import ProbeError, warn
from .spec import DEFAULT_DATASET_N

def _sample_key(seed: int, dataset: str, split: str, position: int) -> bytes:
    return hashlib.sha256(f"{seed}:{dataset}:{split}:{position}".encode()).digest()


def balanced_indices(labels: np.ndarray, n: int, seed: int, *, dataset: str, split: str,
                     classes: tuple[str, ...]) -> np.ndarray:
    """Positions of a class-balanced selection of ``n`` records (module docstring), class-major."""
    k = len(classes)
    if n > len(labels):
        raise ProbeError(f"N={n} is more than the {len(labels)} records of {dataset} {split}")
    if n < k:
        raise ProbeError(f"N={n} is smaller than the number of classes ({k}); a balanced probe needs N >= {k}")
    base, extra = divmod(n, k)
    chosen = []
    for c in range(k):
        want = base + (1 if c < extra else 0)
        pool = np.flatnonzero(labels == c)
        if len(pool) < want:
            raise ProbeError(
                f"class {classes[c]!r} has {len(pool)} records in {dataset} {split}, fewer than the {want} a "
                f"balanced probe of N={n} needs; choose N <= {k * int(np.bincount(labels, minlength=k).min())}"
            )
        ranked = sorted(pool.tolist(), key=lambda pos: _sample_key(seed, dataset, split, pos))
        chosen.extend(sorted(ranked[:want]))
    return np.asarray(chosen, dtype=np.int64)


def default_count(labels: np.ndarray, classes: tuple[str, ...], spec_text: str, noun: str = "images") -> int:
    """The default N for labels (M,): DEFAULT_DATASET_N, capped at the largest class-balanced selection
    the source holds (with a notice naming ``noun``, what the records are)."""
    held = len(classes) * int(np.bincount(labels, minlength=len(classes)).min()) if len(classes) else 0
    if held >= DEFAULT_DATASET_N:
        return DEFAULT_DATASET_N
    warn(f"probe {spec_text}: the source holds {len(labels)} {noun}, room for a class-balanced probe of {held}, fewer "
         f"than the default N={DEFAULT_DATASET_N}: N={held} is used (give N in the spec to choose)", code="probe-count")
    return max(held, 1)


BALANCE = ("yes", "no")  # the spec option balance=: class-balanced (probes), or not (a training set)


def sampled_indices(labels: np.ndarray, n: int | None, seed: int, *, dataset: str, split: str) -> np.ndarray:
    """Positions of ``n`` records whatever their class (all of them when ``n`` is None), in split order:
    those with the smallest sha256 key, the same rule as the balanced selection's within a class."""
    if n is None or n == len(labels):
        return np.arange(len(labels), dtype=np.int64)
    if n > len(labels):
        raise ProbeError(f"N={n} is more than the {len(labels)} records of {dataset} {split}")
    ranked = sorted(range(len(labels)), key=lambda pos: _sample_key(seed, dataset, split, pos))
    return np.asarray(sorted(ranked[:n]), dtype=np.int64)


def select_positions(labels: np.ndarray, classes: tuple[str, ...], spec: Any, seed: int, *, dataset: str, split: str,
                     noun: str = "images") -> np.ndarray:
    """The records a spec selects: class-balanced (``balance=yes``, the default: N or the default N),
    or any class (``balance=no``: N, else every record of the split)."""
    balance = spec.options.get("balance", "yes")
    if balance not in BALANCE:
        raise ProbeError(f"probe option balance={balance!r}: use yes (class-balanced, the default) or no")
    if balance == "no":
        return sampled_indices(labels, spec.n, seed, dataset=dataset, split=split)
    n = spec.n if spec.n is not None else default_count(labels, classes, spec.text, noun)
    return balanced_indices(labels, n, seed, dataset=dataset, split=split, classes=classes)
