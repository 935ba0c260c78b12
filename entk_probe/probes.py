"""Probe sets: the fixed inputs every checkpoint's eNTK is computed on.

This first version provides ``synthetic:N`` (seeded Gaussian inputs shaped for the model, for
smoke tests only). Real datasets (CIFAR-10/100, MNIST, image folders, probe files) come with
issue 4.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import UsageError

SPEC_GRAMMAR = "NAME[:N][,key=value...], e.g. synthetic:64 or synthetic:64,seed=1"
_SPEC = re.compile(r"^(?P<name>[a-z0-9-]+)(?::(?P<n>\d+))?(?P<opts>(?:,[a-z_]+=[^,]+)*)$")


@dataclass(frozen=True)
class Probe:
    """Probe inputs as fed to the model, with what is needed to recompute them."""

    spec: str
    inputs: Tensor  # (N, C, H, W) float32
    labels: Tensor | None  # (N,) int64, None for synthetic probes
    indices: Tensor  # (N,) int64
    synthetic: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.inputs.contiguous().numpy().tobytes()).hexdigest()


def make_probe(spec: str, input_size: tuple[int, ...] | None) -> Probe:
    """Build the probe a spec names, shaped for a model expecting ``input_size`` (C, H, W)."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise UsageError(f"cannot read probe spec {spec!r}: the grammar is {SPEC_GRAMMAR}")
    name, count = match.group("name"), match.group("n")
    options = dict(kv.split("=", 1) for kv in match.group("opts").split(",") if kv)
    if name != "synthetic":
        raise UsageError(f"unknown probe {name!r}: this version provides only synthetic:N")
    unknown = set(options) - {"seed"}
    if unknown:
        raise UsageError(f"probe option(s) {', '.join(sorted(unknown))} unknown for synthetic: use seed=")
    n = int(count) if count else 64
    if n < 2:
        raise UsageError(f"a probe needs at least 2 samples, got {n}")
    try:
        seed = int(options.get("seed", "0"))
    except ValueError:
        raise UsageError(f"probe seed must be an integer, got {options['seed']!r}") from None
    if input_size is None:
        raise UsageError(
            "the model does not say which input size it expects, so a synthetic probe cannot be "
            "shaped: pass --model-kwargs img_size=N or use a probe file"
        )
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn((n, *input_size), generator=gen)  # (N, C, H, W)
    return Probe(spec=spec, inputs=inputs, labels=None, indices=torch.arange(n), synthetic=True)
