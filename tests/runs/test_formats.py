"""Checkpoint formats: detection, what each records, and a new format as one class."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from entk_probe.runs import formats
from entk_probe.runs.checkpoints import discover
from entk_probe.runs.formats import CheckpointContent, CheckpointFormat, format_of, short_name


@pytest.mark.parametrize(("name", "kind"), [("a.safetensors", "safetensors"), ("checkpoint-3.pth.tar", "torch"),
                                            ("m.pt", "torch"), ("m.pth", "torch"), ("pytorch_model.bin", "torch"),
                                            ("epoch=3.ckpt", "torch"), ("notes.txt", None), ("a.safetensors.bak", None)])
def test_each_file_has_its_format(name: str, kind: str | None) -> None:
    found = format_of(Path(name))
    assert (found.name if found else None) == kind


def test_short_names_drop_the_formats_suffix() -> None:
    assert [short_name(n) for n in ("checkpoint-3.pth.tar", "a.safetensors", "x.pt", "other.txt")] == [
        "checkpoint-3", "a", "x", "other.txt"]


def test_what_each_format_records(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(2)}, str(tmp_path / "a.safetensors"), metadata={"epoch": "3", "arch": "resnet18"})
    content = format_of(tmp_path / "a.safetensors").read(tmp_path / "a.safetensors", tensors=False)
    assert content.records == {"epoch": 3, "arch": "resnet18"} and content.content == {}
    torch.save({"state_dict": {"w": torch.zeros(2)}, "step": torch.tensor(7), "epoch": 2, "big": torch.zeros(3),
                "args": argparse.Namespace(model="resnet18")}, tmp_path / "b.pt")
    content = format_of(tmp_path / "b.pt").read(tmp_path / "b.pt")
    assert set(content.records) == {"step", "epoch", "args"} and content.records["args"] == {"model": "resnet18"}
    assert int(content.records["step"]) == 7 and not content.unpickled


class NumpyFormat(CheckpointFormat):
    """A format the project does not have: numpy .npz archives of weights."""

    name = "numpy"
    suffixes = (".npz",)

    def read(self, path: Path, *, trust: bool = False, tensors: bool = True) -> CheckpointContent:
        with np.load(path) as data:
            weights = {k: torch.from_numpy(data[k]) for k in data.files if not k.startswith("meta_")}
            records = {k[5:]: data[k].item() for k in data.files if k.startswith("meta_")}
        return CheckpointContent(path, self, weights if tensors else {}, records)


def test_a_new_format_is_one_class_in_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, NumpyFormat()))
    for step in (20, 10):
        np.savez(tmp_path / f"w{step}.npz", w=np.zeros(3, np.float32), meta_step=np.array(step))
    found = discover(tmp_path)
    assert [(c.name, c.step) for c in found] == [("w10.npz", 10), ("w20.npz", 20)]
    assert short_name("w10.npz") == "w10"
