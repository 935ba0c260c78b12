"""The kernel source: a kernel computed once, then read from the cache under everything that determines it."""

from __future__ import annotations

from pathlib import Path

import torch

from entk_probe import compute_entk
from entk_probe.pipeline import AnalyzeOptions
from entk_probe.pipeline.kernels import KernelSource
from entk_probe.probes import Target, make_probe
from entk_probe.runs.models import build_model, make_spec


def _source(tmp_path: Path, **options: object) -> KernelSource:
    spec = make_spec("test_resnet", "test", {}, user_kwargs={"num_classes": 3})
    model = build_model(spec)
    probe = make_probe("synthetic:4", Target((3, 32, 32)))
    return KernelSource(model, probe, spec, AnalyzeOptions(device="cpu", cache_dir=tmp_path, **options), None)


def test_a_kernel_is_computed_once_then_cached(tmp_path: Path) -> None:
    source = _source(tmp_path)
    kernel, seconds, cached = source.kernel({"checkpoint": "a" * 64, "weights": "raw"})
    assert not cached and seconds > 0 and source.plan is not None
    assert torch.equal(kernel, compute_entk(source.model, source.probe.inputs, device="cpu"))
    again, seconds, cached = source.kernel({"checkpoint": "a" * 64, "weights": "raw"})
    assert cached and seconds == 0.0 and torch.equal(again, kernel)
    _, _, cached = source.kernel({"checkpoint": "b" * 64, "weights": "raw"})
    assert not cached  # other weights, another entry


def test_float64_products_are_another_entry(tmp_path: Path) -> None:
    first = _source(tmp_path)
    first.kernel({"checkpoint": "a" * 64, "weights": "raw"})
    other = _source(tmp_path, gram_dtype=torch.float64)
    _, _, cached = other.kernel({"checkpoint": "a" * 64, "weights": "raw"})
    assert not cached and other.plan is not None


def test_the_parts_of_a_kernel_sum_to_it_and_their_sum_is_cached_as_it(tmp_path: Path) -> None:
    source = _source(tmp_path)
    whole = compute_entk(source.model, source.probe.inputs, device="cpu")
    parts = [source.kernel_part((i, 3), max_memory=2**30) for i in range(3)]
    assert all(p.plan == parts[0].plan and p.plan.budget == 2**30 for p in parts)  # the budget given, one plan
    total = sum(p.kernel for p in parts)
    assert float((total - whole).abs().max() / whole.abs().max()) < 1e-12
    assert not any(torch.equal(p.kernel, whole) for p in parts)  # each a share, none the whole
    source.put({"checkpoint": "c" * 64, "weights": "raw"}, total, "cpu", 1.5)
    kernel, seconds, cached = source.kernel({"checkpoint": "c" * 64, "weights": "raw"})
    assert cached and torch.equal(kernel, total)
    jacobian = source.kernel_part((0, 1), paths="jacobian")
    assert {layer.path for layer in jacobian.plan.layers} == {"jacobian"}
    assert float((jacobian.kernel - whole).abs().max() / whole.abs().max()) < 1e-5  # another path, float32
