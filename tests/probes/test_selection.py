"""Class-balanced selection: counts, stability across machines, and its errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from entk_probe.errors import EntkProbeWarning, ProbeError
from entk_probe.probes.selection import balanced_indices, default_count


def test_balanced_selection_counts_and_stability() -> None:
    labels = np.arange(1000) % 10
    classes = tuple(str(i) for i in range(10))
    chosen = balanced_indices(labels, 53, 0, dataset="d", split="test", classes=classes)
    assert np.bincount(labels[chosen]).tolist() == [6, 6, 6, 5, 5, 5, 5, 5, 5, 5]  # remainder to the first classes
    assert len(set(chosen.tolist())) == 53
    assert np.array_equal(chosen, balanced_indices(labels, 53, 0, dataset="d", split="test", classes=classes))
    assert not np.array_equal(chosen, balanced_indices(labels, 53, 1, dataset="d", split="test", classes=classes))
    # the rule itself, recomputed independently: smallest sha256 keys within each class
    zeros = sorted(np.flatnonzero(labels == 0).tolist(), key=lambda p: hashlib.sha256(f"0:d:test:{p}".encode()).digest())[:6]
    assert sorted(zeros) == chosen[:6].tolist()


def test_selection_errors() -> None:
    labels = np.array([0] * 5 + [1] * 20)
    with pytest.raises(ProbeError, match="N=30 is more than the 25 records"):
        balanced_indices(labels, 30, 0, dataset="d", split="test", classes=("a", "b"))
    with pytest.raises(ProbeError, match="smaller than the number of classes"):
        balanced_indices(labels, 1, 0, dataset="d", split="test", classes=("a", "b"))
    with pytest.raises(ProbeError, match="class 'a' has 5 records .*choose N <= 10"):
        balanced_indices(labels, 20, 0, dataset="d", split="test", classes=("a", "b"))


def test_the_default_count_is_500_or_what_the_classes_hold() -> None:
    assert default_count(np.arange(2000) % 2, ("a", "b"), "s") == 500
    with pytest.warns(EntkProbeWarning, match="the source holds 13 texts, room for a class-balanced probe of 6, fewer"):
        assert default_count(np.array([0] * 10 + [1] * 3), ("a", "b"), "s", "texts") == 6


def test_an_unbalanced_selection_takes_any_class_by_the_same_key() -> None:
    from entk_probe.probes.selection import sampled_indices

    labels = np.array([0] * 9 + [1])  # one record of class 1: no balanced selection of 4 exists
    assert sampled_indices(labels, None, 0, dataset="d", split="s").tolist() == list(range(10))
    picked = sampled_indices(labels, 4, 0, dataset="d", split="s")
    key = lambda pos: hashlib.sha256(f"0:d:s:{pos}".encode()).digest()  # noqa: E731 - the rule, written out
    assert picked.tolist() == sorted(sorted(range(10), key=key)[:4])
    with pytest.raises(ProbeError, match="more than the 10 records"):
        sampled_indices(labels, 11, 0, dataset="d", split="s")


def test_the_spec_chooses_balance_and_a_bad_value_is_an_error() -> None:
    from entk_probe.probes.selection import select_positions
    from entk_probe.probes.spec import parse_spec

    labels = np.array([0] * 396 + [1] * 404)
    everything = select_positions(labels, ("a", "b"), parse_spec("cifar10,balance=no"), 0, dataset="d", split="s")
    assert len(everything) == 800
    with pytest.raises(ProbeError, match="class 'a' has 396 records"):
        select_positions(labels, ("a", "b"), parse_spec("cifar10:800"), 0, dataset="d", split="s")
    with pytest.raises(ProbeError, match="balance='maybe'"):
        select_positions(labels, ("a", "b"), parse_spec("cifar10:8,balance=maybe"), 0, dataset="d", split="s")
