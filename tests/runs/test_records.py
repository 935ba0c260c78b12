"""The run's training record: args.yaml read whole and checked, layers in order, and what the
analysis makes of it (input geometry of timm train.py runs and of plain loops)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import timm
import torch

from entk_probe.errors import CheckpointError
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.runs.checkpoints import discover
from entk_probe.runs.records import CHECKPOINT_ARGS, METADATA, RUN_ARGS_FILE, Records, read_run_args, records_of

from ..data import fake_images, write_cifar10_python
from ..helpers import write_run

TIMM_ARGS = """model: test_resnet
num_classes: 10
input_size: [3, 32, 32]
img_size: null
mean: [0.5, 0.5, 0.5]
std: [0.25, 0.25, 0.25]
model_kwargs: {}
seed: 42
epochs: 3
data_dir: /data/cifar
val_split: validation
lr: 0.1
"""


def test_args_yaml_is_read_whole_and_nulls_are_no_value(tmp_path: Path) -> None:
    (tmp_path / "args.yaml").write_text(TIMM_ARGS)
    args = read_run_args(tmp_path)
    assert args["input_size"] == [3, 32, 32] and args["seed"] == 42 and args["data_dir"] == "/data/cifar"
    records = Records(((RUN_ARGS_FILE, args),))
    assert records.get("img_size") is None and records.get("mean") == ([0.5] * 3, RUN_ARGS_FILE)
    assert records.from_timm_train and not Records(((METADATA, {"epoch": 1}),)).from_timm_train
    assert not Records(((CHECKPOINT_ARGS, {"model": "resnet18", "lr": 0.1}),)).from_timm_train
    assert read_run_args(tmp_path / "missing") == {}


@pytest.mark.parametrize("text, message", [
    ("input_size: [3, 32]\n", "input_size must be a list of 3 integers"),
    ("num_classes: ten\n", "num_classes must be an integer"),
    ("std: [0.2, 0, 0.2]\n", "std must be a list of numbers"),
    ("- a list\n", "holds a list, not the mapping"),
    ("model: [unclosed\n", "not readable as YAML"),
])
def test_a_malformed_args_yaml_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "args.yaml").write_text(text)
    with pytest.raises(CheckpointError, match=message) as err:
        read_run_args(tmp_path)
    assert str(tmp_path / "args.yaml") in str(err.value) and "\n" not in str(err.value)


def test_layers_in_order_checkpoint_args_then_args_yaml_then_metadata(tmp_path: Path) -> None:
    weights = {"w": torch.zeros(2)}
    torch.save({"state_dict": weights, "epoch": 1, "args": {"input_size": [3, 16, 16]}}, tmp_path / "a.pth")
    write_run(tmp_path / "st", steps=(0,))  # safetensors with metadata input_size [3, 32, 32]
    run_args = {"input_size": [3, 24, 24]}
    torch_ckpt = discover(tmp_path, glob="a.pth")[0]
    st_ckpt = discover(tmp_path / "st")[0]
    assert records_of(torch_ckpt, run_args).get("input_size") == ([3, 16, 16], CHECKPOINT_ARGS)
    assert records_of(st_ckpt, run_args).get("input_size") == ([3, 24, 24], RUN_ARGS_FILE)
    assert records_of(st_ckpt, {}).get("input_size") == ([3, 32, 32], METADATA)


def _cifar(root: Path) -> Path:
    data, labels = fake_images(60)
    write_cifar10_python(root / "cifar-10-batches-py", data, labels)
    return root


def _bare_run(run: Path, epochs: int = 3) -> None:
    """A plain loop's run (or timm's cleaned to bare weights): state dicts and the epoch, nothing else."""
    run.mkdir(parents=True)
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=10)
    for epoch in range(epochs):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        torch.save({"state_dict": model.state_dict(), "epoch": epoch}, run / f"checkpoint-{epoch}.pth.tar")


def test_a_plain_loop_run_is_probed_at_the_datasets_own_size_and_normalisation(tmp_path: Path) -> None:
    _bare_run(tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze(tmp_path / "run", "cifar10:20", AnalyzeOptions(arch="test_resnet", device="cpu", cache=False,
                                                                        data_root=_cifar(tmp_path)))
    assert result.model.input_size is None and tuple(result.probe.inputs.shape[1:]) == (3, 32, 32)
    assert result.probe.normalization.mean == (0.4914, 0.4822, 0.4465)
    assert "the run records none" in result.probe.normalization.source and result.probe.transforms == ()


def test_a_cleaned_timm_run_takes_its_geometry_from_args_yaml(tmp_path: Path) -> None:
    _bare_run(tmp_path / "run")
    (tmp_path / "run" / "args.yaml").write_text(TIMM_ARGS.replace("[3, 32, 32]", "[3, 40, 40]"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze(tmp_path / "run", "cifar10:20", AnalyzeOptions(device="cpu", cache=False, data_root=_cifar(tmp_path)))
    assert result.model.arch == "test_resnet" and result.model.input_size == (3, 40, 40)
    assert result.model.sources["input_size"] == "args.yaml input_size"
    assert result.probe.normalization.mean == (0.5, 0.5, 0.5) and result.probe.normalization.source == "args.yaml mean/std"
    assert tuple(result.probe.inputs.shape[1:]) == (3, 40, 40)
    assert any("resized 32x32 -> 40x40" in t for t in result.probe.transforms)
    overridden = analyze(tmp_path / "run", "cifar10:20", AnalyzeOptions(device="cpu", cache=False, input_size=(3, 32, 32),
                                                                        data_root=tmp_path))
    assert tuple(overridden.probe.inputs.shape[1:]) == (3, 32, 32) and overridden.model.sources["input_size"] == "--input-size"
