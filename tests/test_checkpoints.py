"""Checkpoint discovery, order and loading (safetensors)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from entk_probe.checkpoints import CheckpointError, discover, load_weights, sha256_of
from entk_probe.errors import UsageError


def _save(path: Path, **metadata: str) -> None:
    save_file({"w": torch.ones(2)}, str(path), metadata=metadata)


def test_order_is_by_epoch_then_step_then_name_numbers(tmp_path: Path) -> None:
    _save(tmp_path / "a.safetensors", epoch="2", step="20")
    _save(tmp_path / "b.safetensors", epoch="0.5", step="5")
    _save(tmp_path / "c.safetensors", epoch="1", step="10", arch="test_resnet")
    found = discover(tmp_path)
    assert [c.path.name for c in found] == ["b.safetensors", "c.safetensors", "a.safetensors"]
    assert found[1].arch == "test_resnet" and found[1].step == 10 and found[1].time == 1.0


def test_without_metadata_the_numbers_in_names_order(tmp_path: Path) -> None:
    for name in ("step10.safetensors", "step9.safetensors", "step100.safetensors"):
        _save(tmp_path / name)
    assert [c.path.name for c in discover(tmp_path)] == ["step9.safetensors", "step10.safetensors", "step100.safetensors"]


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        discover(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        discover(tmp_path)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        discover(tmp_path)


def test_non_numeric_step_is_an_error(tmp_path: Path) -> None:
    _save(tmp_path / "x.safetensors", step="ten")
    with pytest.raises(CheckpointError, match="step='ten'"):
        discover(tmp_path)


def test_weights_and_hash(tmp_path: Path) -> None:
    import hashlib

    _save(tmp_path / "x.safetensors")
    (ckpt,) = discover(tmp_path)
    assert torch.equal(load_weights(ckpt)["w"], torch.ones(2))
    assert sha256_of(ckpt.path) == hashlib.sha256(ckpt.path.read_bytes()).hexdigest()
