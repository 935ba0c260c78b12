"""Probe specs (synthetic only in this version)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from entk_probe.errors import UsageError
from entk_probe.probes import make_probe


def test_synthetic_probe_is_seeded_gaussian_of_the_model_shape() -> None:
    probe = make_probe("synthetic:5,seed=3", (3, 8, 8))
    expected = torch.randn((5, 3, 8, 8), generator=torch.Generator().manual_seed(3))
    assert torch.equal(probe.inputs, expected)
    assert probe.synthetic and probe.labels is None
    assert probe.sha256 == hashlib.sha256(expected.numpy().tobytes()).hexdigest()
    assert not torch.equal(make_probe("synthetic:5", (3, 8, 8)).inputs, expected)


@pytest.mark.parametrize("spec,match", [
    ("cifar10:x", "grammar"),
    ("nope:10", "unknown probe"),
    ("synthetic:1", "at least 2"),
    ("synthetic:4,colour=red", "colour"),
    ("synthetic:4,seed=x", "seed"),
])
def test_bad_specs_are_usage_errors(spec: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        make_probe(spec, (3, 8, 8))
