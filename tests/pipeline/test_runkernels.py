"""The run's own kernel store: keyed by the weights' hash, found by analyze."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from entk_probe.pipeline.runkernels import RUN_KERNELS, run_parts, run_store, stored_kernel, weights_sha256


def test_the_weights_hash_is_of_every_state_tensor_and_nothing_else() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    digest = hashlib.sha256()  # the definition, written out: name, dtype, shape, bytes, in name order
    for name, t in sorted(model.state_dict().items()):
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode() + t.reshape(-1).view(torch.uint8).numpy().tobytes())
    assert weights_sha256(model) == digest.hexdigest()
    same = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    same.load_state_dict(model.state_dict())
    assert weights_sha256(same) == weights_sha256(model)
    with torch.no_grad():
        same[1].running_mean[0] += 1e-6  # a buffer is part of the state
    assert weights_sha256(same) != weights_sha256(model)


def test_a_stored_kernel_is_found_by_the_models_weights(tmp_path: Path) -> None:
    assert run_store(tmp_path) is None and not (tmp_path / RUN_KERNELS).exists()
    model = nn.Linear(3, 2)
    parts = run_parts("", "probe-sha", "trace", torch.float32, torch.float32, None)
    store = run_store(tmp_path, create=True)
    assert store is not None
    kernel = torch.eye(4, dtype=torch.float64)
    store.put({**parts, "weights_sha256": weights_sha256(model)}, kernel, {})
    assert torch.equal(stored_kernel(run_store(tmp_path), model, parts, 4), kernel)
    assert stored_kernel(run_store(tmp_path), model, {**parts, "mode": "full"}, 4) is None
    with torch.no_grad():
        model.bias.add_(1.0)
    assert stored_kernel(run_store(tmp_path), model, parts, 4) is None
