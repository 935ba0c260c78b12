"""run:validation / run:train: the run's own data from args.yaml, as an ordinary probe spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image

from entk_probe.errors import EntkProbeWarning, UsageError
from entk_probe.pipeline import AnalyzeOptions, analyze
from entk_probe.pipeline.runprobe import resolve_run_probe

from ..helpers import write_run


def _folders(root: Path, split: str, per_class: int = 3) -> None:
    for cls in ("cat", "dog"):
        (root / split / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (32, 32), color=(40 * i, 20, 30)).save(root / split / cls / f"{i}.png")


def test_a_folder_run_uses_data_dir_and_its_split(tmp_path: Path) -> None:
    _folders(tmp_path / "data", "val")
    (tmp_path / "args.yaml").write_text(f"data_dir: {tmp_path / 'data'}\ndataset: ''\nval_split: val\n")
    with pytest.warns(EntkProbeWarning, match="run:validation:4 is imagefolder:"):
        spec, options = resolve_run_probe("run:validation:4", tmp_path, AnalyzeOptions())
    assert spec == f"imagefolder:{tmp_path / 'data' / 'val'}:4" and options.data_root is None


def test_a_torch_dataset_run_is_that_dataset_under_data_dir(tmp_path: Path) -> None:
    (tmp_path / "args.yaml").write_text("data_dir: /data/c10\ndataset: torch/cifar10\n")
    with pytest.warns(EntkProbeWarning):
        spec, options = resolve_run_probe("run:validation,seed=2", tmp_path, AnalyzeOptions())
    assert spec == "cifar10,split=test,seed=2" and options.data_root == Path("/data/c10")
    with pytest.warns(EntkProbeWarning):
        spec, _ = resolve_run_probe("run:train:100", tmp_path, AnalyzeOptions(data_root=Path("/mine")))
    assert spec == "cifar10:100,split=train"


@pytest.mark.parametrize("args, spec, message", [
    ("model: x\n", "run:validation", "records no data_dir"),
    ("data_dir: /d\ndataset: hfds/imagenet-1k\n", "run:validation", "is not one entk-probe reads"),
    ("data_dir: /nowhere\n", "run:validation", "no folder /nowhere/validation or"),
    ("data_dir: /d\n", "run:holdout", "run:validation\\[:N\\] or run:train\\[:N\\]"),
])
def test_what_cannot_be_resolved_says_why(tmp_path: Path, args: str, spec: str, message: str) -> None:
    (tmp_path / "args.yaml").write_text(args)
    with pytest.raises(UsageError, match=message):
        resolve_run_probe(spec, tmp_path, AnalyzeOptions())


def test_other_specs_pass_through(tmp_path: Path) -> None:
    options = AnalyzeOptions()
    assert resolve_run_probe("cifar10:500", tmp_path, options) == ("cifar10:500", options)


def test_analyze_on_the_runs_own_validation_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "run", num_classes=2)
    _folders(tmp_path / "data", "validation")
    (tmp_path / "run" / "args.yaml").write_text(f"data_dir: {tmp_path / 'data'}\n")
    with pytest.warns(EntkProbeWarning):
        result = analyze(tmp_path / "run", "run:validation", dataclasses.replace(AnalyzeOptions(device="cpu", cache=False)))
    assert result.probe.spec == f"imagefolder:{tmp_path / 'data' / 'validation'}" and result.probe.n == 6
    assert result.probe.classes == ("cat", "dog")
