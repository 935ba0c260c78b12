"""Kernel files round-trip with their metadata; anything else is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from entk_probe.runs.checkpoints import Checkpoint
from entk_probe.errors import EntkProbeError
from entk_probe.output.kernelfile import kernel_metadata, load_kernel, save_kernel


def test_round_trip(tmp_path: Path) -> None:
    ckpt = Checkpoint(path=Path("run/a.pt"), name="a.pt", sha256="f" * 64, step=10, epoch=0.5)
    meta = kernel_metadata(ckpt, arch="test_resnet", probe_spec="cifar10:10", probe_sha256="e" * 64, mode="trace",
                           jacobian_dtype="float32", gram_dtype="float32", device="cpu", params=None)
    kernel = torch.randn(3, 3, dtype=torch.float64)
    save_kernel(tmp_path / "k.safetensors", kernel, meta)
    loaded, read = load_kernel(tmp_path / "k.safetensors")
    assert torch.equal(loaded, kernel)
    assert read["checkpoint_sha256"] == "f" * 64 and read["step"] == "10" and read["epoch"] == "0.5" and read["params"] == "null"
    assert read["gram_dtype"] == "float32"


def test_other_files_are_errors(tmp_path: Path) -> None:
    save_file({"kernel": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(EntkProbeError, match="not an entk-probe kernel file"):
        load_kernel(tmp_path / "x.safetensors")
    (tmp_path / "y.safetensors").write_bytes(b"junk")
    with pytest.raises(EntkProbeError, match="not a readable kernel file"):
        load_kernel(tmp_path / "y.safetensors")
