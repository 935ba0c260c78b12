"""Probe files: round trip and the sha256 check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from entk_probe.errors import EntkProbeWarning, ProbeError, UsageError
from entk_probe.probes import Target, load_probe, make_probe, save_probe
from entk_probe.probes.preprocess import Normalization

from ..data import CIFAR_TARGET, fake_images, write_cifar10_python

def test_probe_files_round_trip_and_check_their_hash(tmp_path: Path) -> None:
    data, labels = fake_images(40)
    write_cifar10_python(tmp_path / "cifar-10-batches-py", data, labels)
    probe = make_probe("cifar10:20", CIFAR_TARGET, data_root=tmp_path)
    path = tmp_path / "out" / "probe.safetensors"
    save_probe(probe, path)
    with safe_open(str(path), framework="pt") as fh:
        assert set(fh.keys()) == {"inputs", "labels", "indices"}
        meta = fh.metadata()
    assert meta["dataset"] == "cifar10" and meta["sha256"] == probe.sha256 and meta["spec"] == "cifar10:20"
    loaded = make_probe(f"file:{path}", CIFAR_TARGET)
    assert torch.equal(loaded.inputs, probe.inputs) and torch.equal(loaded.labels, probe.labels)
    assert torch.equal(loaded.indices, probe.indices) and loaded.normalization.mean == probe.normalization.mean
    assert loaded.split == "test" and loaded.seed == 0 and loaded.classes == probe.classes
    with pytest.raises(ProbeError, match=r"shape \(3, 32, 32\) but the model expects \(3, 28, 28\)"):
        load_probe(path, Target((3, 28, 28)))
    with pytest.warns(EntkProbeWarning, match="normalised with"):
        load_probe(path, Target((3, 32, 32), Normalization((0.5,) * 3, (0.5,) * 3, "other")))
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    tensors["inputs"][0, 0, 0, 0] += 1.0  # one value changed, metadata kept
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ProbeError, match="sha256 .* differs from the recorded"):
        load_probe(path)
    with pytest.raises(UsageError, match="does not exist"):  # a path the user named: exit 2, like a missing report
        load_probe(tmp_path / "missing.safetensors")
